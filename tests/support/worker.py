"""A real Celery worker process, started for a test and stopped after it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.processes import stop, wait_for_log


@contextmanager
def celery_worker(name: str = "tend-test", timeout: float = 60.0) -> Iterator[Path]:
    """Run `celery -A tasks.worker worker` until the block ends; yields its log file."""
    log = Path(tempfile.mkstemp(prefix="tend-worker-", suffix=".log")[1])
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "tasks.worker",
        "worker",
        "--pool",
        "solo",
        "--loglevel",
        "INFO",
        "--without-mingle",
        "--without-gossip",
        "--without-heartbeat",
        "--hostname",
        f"{name}@%h",
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        wait_for_log(process, log, [b" ready."], timeout, "the Celery worker")
        yield log
    finally:
        stop(process, signal.SIGTERM, grace=20)

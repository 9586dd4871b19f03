"""A real Celery worker process, started for a test and stopped after it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def celery_worker(timeout: float = 60.0) -> Iterator[Path]:
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
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        _wait_until_ready(process, log, timeout)
        yield log
    finally:
        _stop(process)


def _wait_until_ready(process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    ready = threading.Event()
    deadline = time.monotonic() + timeout
    while not ready.is_set():
        if b" ready." in log.read_bytes():
            return
        if process.poll() is not None:
            raise AssertionError(f"the worker exited at start-up:\n{log.read_text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the worker was not ready in {timeout} s:\n{log.read_text()}")
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()

"""Real Celery processes (a worker, a beat), started for a test and stopped after it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.support.processes import stop, wait_for_log


@contextmanager
def celery(
    *arguments: str, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """Run `celery -A tasks.worker ARGUMENTS...` until the block ends; its output goes to a
    log file. `env` adds to (or overrides) this process's environment."""
    log = Path(tempfile.mkstemp(prefix="tend-celery-", suffix=".log")[1])
    command = [sys.executable, "-m", "celery", "-A", "tasks.worker", *arguments]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
    try:
        yield process, log
    finally:
        stop(process, signal.SIGTERM, grace=20)


WORKER_OPTIONS = ["--loglevel", "INFO", "--without-mingle", "--without-gossip",
                  "--without-heartbeat"]  # fmt: skip


@contextmanager
def celery_worker(name: str = "tend-test", timeout: float = 60.0) -> Iterator[Path]:
    """A worker, once it is ready; yields its log file."""
    with running_worker(name, timeout) as (_process, log):
        yield log


@contextmanager
def running_worker(
    name: str = "tend-test",
    timeout: float = 60.0,
    env: dict[str, str] | None = None,
    pool: str = "solo",
    options: Sequence[str] = (),
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A worker, once it is ready. The solo pool by default: one process, so a SIGKILL
    takes the task it runs with it."""
    arguments = [*WORKER_OPTIONS, "--pool", pool, *options, "--hostname", f"{name}@%h"]
    with celery("worker", *arguments, env=env) as (process, log):
        wait_for_log(process, log, [b" ready."], timeout, "the Celery worker")
        yield process, log

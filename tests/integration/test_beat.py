"""Exactly one beat ticks: a second one waits on the lock until the first is gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.processes import stop, wait_for_log

pytestmark = pytest.mark.worker


@contextmanager
def beat() -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    log = Path(tempfile.mkstemp(prefix="tend-beat-", suffix=".log")[1])
    command = [sys.executable, "-m", "celery", "-A", "tasks.worker", "beat", "--loglevel", "DEBUG"]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        yield process, log
    finally:
        stop(process, signal.SIGTERM, grace=20)


def test_a_second_beat_waits_until_the_first_stops(db: None) -> None:
    with beat() as (first, first_log):
        wait_for_log(first, first_log, [b"beat: Acquired lock"], 60, "the first beat")
        with beat() as (second, second_log):
            wait_for_log(second, second_log, [b"beat: Acquiring lock"], 60, "the second beat")
            _second_waits_then_takes_over(first, second, second_log)


def _second_waits_then_takes_over(
    first: subprocess.Popen[bytes], second: subprocess.Popen[bytes], second_log: Path
) -> None:
    assert b"Acquired lock" not in second_log.read_bytes(), "two beats hold the lock"
    stop(first, signal.SIGTERM, grace=20)
    # The first beat releases its lock as it stops; the second takes over.
    wait_for_log(second, second_log, [b"beat: Acquired lock"], 60, "the second beat")

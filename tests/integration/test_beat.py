"""Exactly one beat ticks: a second one waits on the lock until the first is gone."""

from __future__ import annotations

import signal
import subprocess
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from tests.support.processes import stop, wait_for_log
from tests.support.worker import celery

pytestmark = pytest.mark.worker


def beat() -> AbstractContextManager[tuple[subprocess.Popen[bytes], Path]]:
    return celery("beat", "--loglevel", "DEBUG")


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

"""tasks/jobs.py: how long a batch waits before it is tried again."""

from __future__ import annotations

import random

import pytest

from tasks.jobs import RETRY_CAP_SECONDS, backoff
from tasks.sending import SendReport


def waits(attempt: int, retry_after: float | None = None, samples: int = 400) -> list[float]:
    random.seed(attempt)
    report = SendReport(retry_after=retry_after)
    return [backoff(attempt, report) for _ in range(samples)]


@pytest.mark.parametrize("attempt", range(7))
def test_the_wait_is_jittered_below_an_exponential_ceiling(attempt: int) -> None:
    ceiling = min(RETRY_CAP_SECONDS, 2.0 ** (attempt + 2))
    seen = waits(attempt)

    assert all(0 <= wait <= ceiling for wait in seen)
    assert max(seen) > 0.8 * ceiling, "full jitter reaches near the ceiling"
    assert len({round(wait, 6) for wait in seen}) > 300, "and spreads the retries out"


def test_the_wait_never_passes_the_cap() -> None:
    assert max(waits(30)) <= RETRY_CAP_SECONDS


def test_the_wait_is_at_least_what_the_provider_asked_for() -> None:
    assert min(waits(0, retry_after=42.0)) == 42.0
    assert max(waits(0, retry_after=10_000.0)) == RETRY_CAP_SECONDS

"""SendGrid failing a third of its requests, in every way it can: rate limits, server
errors, slow answers, connections dropped before the request was taken and after it was
taken with the answer lost. Readers get every lesson exactly once, and those who leave
while their letter waits for a retry get nothing more.

A connection dropped after SendGrid took the request leaves its deliveries in doubt; the
`processed` events SendGrid posts for what it took settle them as sent, and what no event
ever settles (the request was dropped before it was taken) is sent again a day later.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.clock import utcnow
from core.config import Settings
from core.db import session_scope
from core.models import Enrollment, Subscriber
from courses.model import Catalog
from tasks import schedule
from tests.faults.checks import Figures, Letter, Tally, assert_clean, tally
from tests.faults.world import (
    COURSE,
    LATE,
    Provider,
    address,
    enrolled,
    provider,
    queue_in_batches,
    settle,
    unsubscribe_waiting,
)
from tests.support.processes import wait_for
from tests.support.worker import running_worker

pytestmark = pytest.mark.worker

READERS = 600
BATCH = 24  # 25 requests a lesson: enough for the faults to land everywhere
TRIALS = 3
LEAVING = 30
FAULTS = ("429", "500", "503", "latency", "drop_before", "drop_after")


def next_due(first: int, count: int) -> datetime:
    """When the last of these readers' next lesson falls due (the engine's time)."""
    emails = [address(n) for n in range(first, first + count)]
    with session_scope() as session:
        latest = session.scalars(
            select(func.max(Enrollment.next_due_at))
            .join(Subscriber, Subscriber.id == Enrollment.subscriber_id)
            .where(Subscriber.email.in_(emails))
        ).one()
    assert latest is not None, "the readers have a next lesson"
    return latest


def send_second_lesson(
    catalog: Catalog, world: Provider, first: int, rng: random.Random
) -> set[str]:
    """The tick a fortnight on writes lesson two; while its requests fail and retry, some
    readers leave. Returns the addresses of those who left."""
    at = next_due(first, READERS) + timedelta(minutes=1)
    started = world.sendgrid.requests
    queue_in_batches(schedule.tick(catalog, at).batches.values(), BATCH)
    wait_for(lambda: world.sendgrid.requests >= started + 5, 60, "lesson two under way")
    left = unsubscribe_waiting(LEAVING, rng)
    settle(catalog, world, at, BATCH)
    return left


def due_letters(catalog: Catalog, first: int, left: set[str]) -> set[Letter]:
    welcome, second = (lesson.subject for lesson in catalog[COURSE].lessons[:2])
    every = {address(n) for n in range(first, first + READERS)}
    return {(email, welcome) for email in every} | {(email, second) for email in every - left}


def test_a_provider_failing_a_third_of_requests_sends_each_letter_once_and_none_after_leaving(
    db: None, settings: Settings, catalog: Catalog, figures: Figures
) -> None:
    rng = random.Random(30)
    found, faults = Tally(0, 0, 0, 0, 0), Counter[str]()
    for trial in range(TRIALS):
        first, now = trial * READERS, utcnow()
        enrolled(range(first, first + READERS), now)
        with (
            provider(settings, events=LATE) as world,
            running_worker(f"flaky-{trial}", env=world.env),
        ):
            world.sendgrid.chaos(0.3, seed=trial, kinds=FAULTS)
            queue_in_batches(schedule.tick(catalog, now).batches.values(), BATCH)
            settle(catalog, world, now, BATCH)
            left = send_second_lesson(catalog, world, first, rng)
            faults += world.sendgrid.faults
            found += tally(due_letters(catalog, first, left), world.received())
    injected = ", ".join(f"{kind} x {faults[kind]}" for kind in FAULTS)
    figures.record(
        "SendGrid failing 30% of requests",
        TRIALS,
        READERS,
        f"{injected}; {TRIALS * LEAVING} unsubscribe",
        found,
    )
    assert all(faults[kind] for kind in FAULTS), f"every kind of fault was injected: {faults}"
    assert_clean(found)

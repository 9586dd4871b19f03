"""The world a fault case runs in: readers with lessons due, the SendGrid stand-in with
Tend's event webhook on loopback, the worker's environment aimed at them, and recovery
the way production's beat and webhook do it, only sooner.

Recovery is production's, with time moved on: leases a dead worker held are moved into
the past (as ten minutes would), the tick runs as it would a few minutes later (queued
deliveries lost from the queue go again, in-flight ones of a dead worker become unknown),
SendGrid's `processed` events are posted again (SendGrid retries its posts), and a tick a
day later sends again whatever no event ever settled.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select

from core.clock import utcnow
from core.config import Settings
from core.db import session_scope
from core.models import (
    Delivery,
    DeliveryStatus,
    Enrollment,
    EnrollmentState,
    Event,
    Subscriber,
    SubscriberStatus,
)
from courses.model import Catalog
from tasks import events, jobs, readers, schedule
from tests.faults.checks import Letter
from tests.support.deliveries import expire_leases, statuses
from tests.support.processes import wait_for
from tests.support.sendgrid_standin import SendGridStandIn
from tests.support.webhook import webhook_server

KEY = "SG.faults"
COURSE = "softening-sessions"
# Deliveries a live worker is still moving along: recovery waits for these to settle.
MOVING = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.IN_FLIGHT)
# A tick this much later finds stale queued deliveries and expired leases.
LATER = schedule.STALE_AFTER + timedelta(minutes=1)
# A tick this much later sends again what no event settled (TEND_UNKNOWN_RESEND_AFTER).
A_DAY_LATER = timedelta(hours=26)
LIVE, LATE, NO_EVENTS = "live", "late", "none"


@dataclass
class Provider:
    """The stand-in, the webhook's address, and the environment a worker needs for them."""

    sendgrid: SendGridStandIn
    hook: str
    env: dict[str, str]
    events: str  # when SendGrid posts its events to Tend: see `provider`

    def received(self) -> list[Letter]:
        """Every letter the provider took, one entry per copy."""
        return [(copy.email.lower(), copy.subject or "") for copy in self.sendgrid.recipients()]


@contextmanager
def provider(
    settings: Settings, send_rate: int = 0, latency: float = 0.0, events: str = LIVE
) -> Iterator[Provider]:
    """The stand-in, and when SendGrid's `processed` events reach Tend's webhook: LIVE, one
    post for each request as it is taken (whatever answer the client saw); LATE, all of
    them only when recovery runs, minutes later; NO_EVENTS, never (the webhook is optional,
    and SMTP has none)."""
    sendgrid = SendGridStandIn(api_key=KEY, latency=latency)
    with webhook_server(settings, sendgrid.public_key) as hook:
        sendgrid.events_url = hook if events == LIVE else None
        with sendgrid:
            env = {
                "TEND_TRANSPORT": "sendgrid",
                "SENDGRID_API_KEY": KEY,
                "SENDGRID_API_HOST": sendgrid.url,
                "SENDGRID_TIMEOUT": "10",
                "TEND_SEND_RATE": str(send_rate),
            }
            yield Provider(sendgrid, hook, env, events)


def address(n: int) -> str:
    return f"reader{n}@example.org"


def enrolled(numbers: Iterable[int], started_at: datetime, timezone: str = "UTC") -> None:
    """Active readers (reader{n}@example.org) of the demo course, each starting at
    `started_at` with its welcome due then, as a confirmation leaves them."""
    now = utcnow()
    with session_scope() as session:
        readers = session.execute(
            insert(Subscriber).returning(Subscriber.id, sort_by_parameter_order=True),
            [
                {"uid": f"uid{n}", "email": address(n), "status": SubscriberStatus.ACTIVE,
                 "timezone": timezone, "created_at": now, "confirmed_at": now}
                for n in numbers
            ],
        ).scalars().all()  # fmt: skip
        session.execute(
            insert(Enrollment),
            [
                {"subscriber_id": reader, "course": COURSE, "state": EnrollmentState.ACTIVE,
                 "position": 0, "round": 1, "started_at": started_at, "next_due_at": started_at}
                for reader in readers
            ],
        )  # fmt: skip


def unsubscribe_waiting(count: int, rng: random.Random) -> set[str]:
    """`count` readers whose letter is waiting to be sent leave, each through the one-click
    unsubscribe: half of them those whose letter failed most often and waits for a retry,
    half drawn at random; their addresses.

    Their deliveries are locked first, in the same transaction: a worker's claim waits for
    the commit and then finds them skipped, so none of these letters can be under way.
    """
    with session_scope() as session:
        waiting = session.execute(
            select(Delivery.id, Subscriber.uid, Subscriber.email)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Delivery.status == DeliveryStatus.QUEUED)
            # Letters waiting for a retry after a failed attempt first, then the rest.
            .order_by(Delivery.attempts.desc(), Delivery.id)
            .with_for_update(skip_locked=True, of=Delivery)
        ).all()
        assert len(waiting) >= count, f"only {len(waiting)} letters waiting: none left mid-way"
        leaving = waiting[: count // 2] + rng.sample(waiting[count // 2 :], count - count // 2)
        for row in leaving:
            readers.unsubscribe(session, row.uid, "one-click", utcnow())
    return {row.email for row in leaving}


def queue_in_batches(groups: Iterable[list[int]], size: int) -> int:
    """Queue delivery ids for sending in batches of `size` (smaller than production's
    1,000, so a few thousand readers make enough requests for faults to land on)."""
    queued = 0
    for ids in groups:
        for start in range(0, len(ids), size):
            jobs.send_batch.delay(ids[start : start + size])
        queued += len(ids)
    return queued


def moving() -> int:
    return sum(count for status, count in statuses().items() if status in MOVING)


def events_applied() -> bool:
    with session_scope() as session:
        waiting = select(func.count()).where(Event.processed_at.is_(None))
        return session.scalars(waiting).one() == 0


def apply_forgotten_events(at: datetime) -> int:
    """Provider events stored while the queue or the database was down lost their task:
    the tick applies such events once they have waited a minute (tasks.jobs.tick). Run here
    as that tick would, a minute after `at`; how many it applied."""
    later = at + jobs.EVENTS_FORGOTTEN_AFTER
    with session_scope() as session:
        return events.apply(session, events.unapplied(session, later), later)


def recover_from_dead_worker(catalog: Catalog, at: datetime, batch: int) -> None:
    """What a dead worker held is found by the tick a lease later and queued again (claims
    never sent), or left in doubt (requests under way) for the events to settle."""
    expire_leases()
    queue_in_batches(schedule.tick(catalog, at + LATER).batches.values(), batch)


def settle(catalog: Catalog, world: Provider, at: datetime, batch: int, rounds: int = 6) -> int:
    """With a live worker running, drive every delivery to a final state as beat and the
    webhook would; `at` is the engine's time now. Returns the rounds it took."""
    for done in range(rounds):
        wait_for(lambda: not moving(), 120, "the worker to finish", message=statuses)
        if world.events != NO_EVENTS:  # SendGrid's events for every request it took
            assert world.sendgrid.post_events(world.hook, world.sendgrid.events("processed")) == 200
            wait_for(events_applied, 60, "the provider's events to be applied", message=statuses)
        if DeliveryStatus.UNKNOWN not in statuses():
            return done
        # A day on, what no event settled was never taken: the tick sends it again.
        later = at + (done + 1) * A_DAY_LATER
        queue_in_batches(schedule.tick(catalog, later).batches.values(), batch)
    raise AssertionError(f"still unsettled after {rounds} rounds of recovery: {statuses()}")

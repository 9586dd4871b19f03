"""Redis killed in the middle of a newsletter issue and started again, empty, on the same
port: the worker reconnects, and the tick finds in the database what the queue lost and
queues it again. Every reader gets the issue exactly once; those who leave meanwhile get
nothing.

Redis carries work, not truth: it runs here without saving anything (`--save ""`, no
append-only file), so a restart loses every queued send, as the crash of a Redis that
keeps nothing on disk would. The Redis is a private one, so the shared server other runs
use stays up; this process, its webhook and the worker all use it while a case runs.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from core.clock import utcnow
from core.config import get_settings
from core.db import session_scope
from core.models import DeliveryStatus, Membership, Subscriber, SubscriberStatus
from courses.model import Catalog, Newsletter
from tasks import schedule
from tests.faults.checks import Figures, Tally, assert_clean, tally
from tests.faults.world import (
    Provider,
    address,
    apply_forgotten_events,
    provider,
    queue_in_batches,
    recover_from_dead_worker,
    settle,
    unsubscribe_waiting,
)
from tests.support.broker import queued_sends
from tests.support.deliveries import statuses
from tests.support.processes import wait_for
from tests.support.redis_server import RedisServer, using_broker
from tests.support.state import start_afresh
from tests.support.worker import running_worker

pytestmark = pytest.mark.worker

NEWSLETTER = "remember-and-reclaim"
READERS = 1000
BATCH = 40  # 25 requests an issue
LATENCY = 0.1  # a little network time a request: an issue takes a few seconds to go out
TRIALS = 3
LEAVING = 20  # readers who unsubscribe while their issue, lost from the queue, waits
CONNECTED = b"Connected to redis://"


@pytest.fixture
def private_redis(db: None, tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of this case's own, which this process and its workers use meanwhile."""
    server = RedisServer.start(tmp_path / "redis")
    try:
        with using_broker(server.url):
            yield server
    finally:
        if server.process.poll() is None:
            server.stop()


def issue_now(catalog: Catalog, trial: int, now: datetime) -> tuple[Catalog, str]:
    """The newsletter with one of its issues, sent at `now` to everyone at once (the
    worker finds it by its slug in its own catalog); and that issue's subject."""
    newsletter: Newsletter = catalog.newsletters[NEWSLETTER]
    issue = newsletter.issues[trial % len(newsletter.issues)]
    dated = dataclasses.replace(issue, send_at_utc=now)
    only = dataclasses.replace(newsletter, issues=(dated,))
    return Catalog(newsletters={NEWSLETTER: only}), issue.subject


def members(count: int, list_name: str, joined: datetime) -> None:
    """`count` active readers (reader{n}@example.org) on the list since `joined`."""
    with session_scope() as session:
        readers = session.execute(
            insert(Subscriber).returning(Subscriber.id, sort_by_parameter_order=True),
            [
                {"uid": f"uid{n}", "email": address(n), "status": SubscriberStatus.ACTIVE,
                 "timezone": "UTC", "created_at": joined, "confirmed_at": joined}
                for n in range(count)
            ],
        ).scalars().all()  # fmt: skip
        session.execute(
            insert(Membership),
            [
                {"subscriber_id": reader, "list": list_name, "joined_at": joined}
                for reader in readers
            ],
        )


def restart_mid_issue(redis: RedisServer, world: Provider, rng: random.Random) -> float:
    """Once a fifth of the issue has gone out, kill Redis and start it again, empty, a
    moment later; the seconds it was down."""
    wait_for(lambda: len(world.received()) >= READERS // 5, 60, "the issue under way")
    redis.kill()
    down = rng.uniform(0.1, 1.0)
    time.sleep(down)  # the outage, drawn from the seed
    redis.start_again()
    return down


def reconnected(log: Path) -> bool:
    """The worker has connected to the broker a second time, after the restart."""
    return log.read_bytes().count(CONNECTED) >= 2


def idle() -> bool:
    """No claim held and no request under way: what the queue lost just waits."""
    now = statuses()
    return not now.get(DeliveryStatus.SENDING) and not now.get(DeliveryStatus.IN_FLIGHT)


def test_redis_restarted_mid_issue_loses_no_reader_and_sends_none_twice(
    private_redis: RedisServer, catalog: Catalog, figures: Figures
) -> None:
    rng = random.Random(20261126)
    found, lost_from_queue, forgotten, downtime = Tally(0, 0, 0, 0, 0), 0, 0, 0.0
    for trial in range(TRIALS):
        start_afresh(get_settings())
        started = utcnow()
        letters, subject = issue_now(catalog, trial, started)
        members(READERS, letters.newsletters[NEWSLETTER].list, started - timedelta(days=1))
        with (
            provider(get_settings(), latency=LATENCY) as world,
            running_worker(f"redis-restart-{trial}", env=world.env) as (worker, log),
        ):
            queue_in_batches(schedule.tick(letters, started).batches.values(), BATCH)
            downtime += restart_mid_issue(private_redis, world, rng)
            wait_for(lambda: reconnected(log), 60, f"the worker to reconnect (log: {log})")
            wait_for(idle, 60, "the worker to finish the batch it had", message=statuses)
            waiting = statuses().get(DeliveryStatus.QUEUED, 0)
            assert not queued_sends(get_settings()), "the restarted Redis holds no send"
            assert waiting > LEAVING, f"the restart lost queued sends: {statuses()}"
            lost_from_queue += waiting
            left = unsubscribe_waiting(LEAVING, rng)
            # The ticks a minute and a few minutes later find the events and the sends
            # that waited too long.
            forgotten += apply_forgotten_events(utcnow())
            recover_from_dead_worker(letters, utcnow(), BATCH)
            settle(letters, world, utcnow(), BATCH)
            assert worker.poll() is None, f"the worker stayed up through the restart ({log})"
        due = {(address(n), subject) for n in range(READERS)} - {(e, subject) for e in left}
        found += tally(due, world.received())
    faults = (
        f"Redis SIGKILL + restart x {TRIALS} ({downtime:.1f} s down in all, "
        f"{lost_from_queue:,} sends and {forgotten:,} events lost from the queue); "
        f"{TRIALS * LEAVING} unsubscribe"
    )
    figures.record("Redis restarted mid-issue", TRIALS, READERS, faults, found)
    assert_clean(found)

"""PostgreSQL restarted under a running Tend, in the middle of a tick that plans thousands
of readers' lessons and in the middle of a send: the worker carries on with fresh
connections (the engine pings a connection before lending it), and the next tick finds
what the restart interrupted. Every reader gets the lesson exactly once; those who leave
meanwhile get nothing; no delivery is left on its way.

A task the restart breaks is not retried by Celery (it fails, and is acknowledged): what
it left is in the database, and the tick takes it up. A tick cut short leaves lessons it
wrote but never queued, and readers it never reached. In the send case the database is
down while a request is under way and comes back once its answer has come: the worker
could not record it, so those letters are left in flight, in doubt, for the provider's
events to settle; the tasks that ran meanwhile leave claims never sent, or letters never
claimed.

The cluster is a private one on its own port, so the shared server other runs use stays
up; this process, its webhook and the worker all use it while a case runs.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.clock import utcnow
from core.config import Settings, get_settings
from core.db import session_scope
from core.models import Delivery, DeliveryStatus
from courses.model import Catalog
from tasks import jobs, schedule
from tests.faults.checks import Figures, Letter, Tally, assert_clean, tally
from tests.faults.world import (
    COURSE,
    Provider,
    address,
    apply_forgotten_events,
    enrolled,
    provider,
    queue_in_batches,
    recover_from_dead_worker,
    settle,
    unsubscribe_waiting,
)
from tests.support.deliveries import statuses
from tests.support.postgres_server import PostgresServer, unavailable, using_database
from tests.support.processes import wait_for
from tests.support.readers import many_due
from tests.support.state import start_afresh
from tests.support.worker import running_worker

pytestmark = pytest.mark.worker

TICK_READERS = 4000  # the tick plans them in batches of 500, one transaction each
TICK_BATCH = 200  # and they go out in batches of this many
SEND_READERS = 1000
BATCH = 40  # 25 requests a send
LATENCY = 0.1  # a little network time a request: a send takes a few seconds
TRIALS = 3
LEAVING = 20  # readers who unsubscribe while their letter waits, after the restart
MODES = ("fast", "immediate")  # sessions ended politely, or the server stopped as a crash
BROKEN = re.compile(rb"Task tasks\.jobs\.(\w+)\[[^\]]+\] raised unexpected: (\w+)")
TICK_ENDED = re.compile(rb"Task tasks\.jobs\.tick\[[^\]]+\] (succeeded|raised)")


@pytest.fixture(scope="module")
def postgres(settings: Settings) -> Iterator[PostgresServer]:
    """A cluster of this module's own, with Tend's schema. (`settings` first: the run's
    own settings are read before this module points anything elsewhere.)"""
    reason = unavailable()
    if reason:
        pytest.skip(f"cannot start a private PostgreSQL: {reason}")
    server = PostgresServer.start()
    yield server
    server.stop()


@pytest.fixture
def private_database(postgres: PostgresServer) -> Iterator[PostgresServer]:
    """This process and the workers it starts use the private cluster meanwhile."""
    with using_database(postgres.url):
        yield postgres


def deliveries() -> int:
    with session_scope() as session:
        return session.scalars(select(func.count()).select_from(Delivery)).one()


def broken_tasks(log: Path) -> list[tuple[str, str]]:
    """(task, error) of each task the worker saw fail, from its log."""
    return [(task.decode(), error.decode()) for task, error in BROKEN.findall(log.read_bytes())]


def tick_ended(log: Path) -> bool:
    return TICK_ENDED.search(log.read_bytes()) is not None


def welcome_letters(catalog: Catalog, count: int, left: set[str]) -> set[Letter]:
    subject = catalog[COURSE].lessons[0].subject
    return {(address(n), subject) for n in range(count)} - {(email, subject) for email in left}


def restart_mid_tick(postgres: PostgresServer, mode: str, rng: random.Random) -> int:
    """Once the tick has written a few of its batches (how many drawn from the seed),
    restart PostgreSQL; how many lessons the tick had written by then."""
    target = rng.randrange(1, TICK_READERS // schedule.BATCH_SIZE // 2) * schedule.BATCH_SIZE

    def under_way() -> int:
        written = deliveries()
        assert written < TICK_READERS, "the tick ended before the restart"
        return written if written >= target else 0

    written = wait_for(under_way, 60, "the tick under way", interval=0.005)
    postgres.restart(mode)
    return written


def test_postgres_restarted_mid_tick_loses_no_reader_and_plans_none_twice(
    private_database: PostgresServer, catalog: Catalog, figures: Figures
) -> None:
    rng = random.Random(20261126)
    found, cut_at = Tally(0, 0, 0, 0, 0), list[int]()
    broken: list[tuple[str, str]] = []
    for trial in range(TRIALS):
        start_afresh(get_settings())
        enrolled(range(TICK_READERS), utcnow() - timedelta(minutes=1))
        with (
            provider(get_settings()) as world,
            running_worker(f"pg-tick-{trial}", env=world.env) as (worker, log),
        ):
            jobs.tick.delay()  # as beat queues it
            cut_at.append(restart_mid_tick(private_database, MODES[trial % len(MODES)], rng))
            wait_for(lambda: tick_ended(log), 60, f"the tick to end (log: {log})")
            left = unsubscribe_waiting(LEAVING, rng)
            # The next tick claims the readers the broken one never reached, and queues
            # again what it wrote but never queued.
            recover_from_dead_worker(catalog, utcnow(), TICK_BATCH)
            settle(catalog, world, utcnow(), TICK_BATCH)
            assert worker.poll() is None, f"the worker stayed up through the restart ({log})"
            broken += broken_tasks(log)
        found += tally(welcome_letters(catalog, TICK_READERS, left), world.received())
    faults = (
        f"restart mid-tick x {TRIALS} ({', '.join(MODES)}; after {min(cut_at):,} to "
        f"{max(cut_at):,} of {TICK_READERS:,} lessons written, {len(broken)} ticks broken); "
        f"{TRIALS * LEAVING} unsubscribe"
    )
    figures.record("PostgreSQL restarted mid-tick", TRIALS, TICK_READERS, faults, found)
    assert broken, "some restart broke the tick it came in the middle of"
    assert {task for task, _error in broken} == {"tick"}, broken
    assert_clean(found)


def down_across_an_answer(postgres: PostgresServer, world: Provider, log: Path, mode: str) -> int:
    """Once a fifth of the send has gone out, stop PostgreSQL while a slow request is under
    way, and start it again once its answer has come and the worker has failed to record
    it: that request's letters are left in flight. How many are."""
    wait_for(lambda: len(world.received()) >= SEND_READERS // 5, 60, "the send under way")
    world.sendgrid.inject("latency", seconds=1.0)
    wait_for(lambda: world.sendgrid.faults["latency"], 30, "the slow request under way")
    broken = len(broken_tasks(log))
    postgres.halt(mode)
    wait_for(lambda: len(broken_tasks(log)) > broken, 30, f"the answer unrecorded (log: {log})")
    postgres.resume()
    return statuses().get(DeliveryStatus.IN_FLIGHT, 0)


def test_postgres_restarted_mid_send_sends_each_reader_exactly_once(
    private_database: PostgresServer, catalog: Catalog, figures: Figures
) -> None:
    rng = random.Random(7)
    lesson = catalog[COURSE].lessons[0]
    found, in_doubt, forgotten = Tally(0, 0, 0, 0, 0), 0, 0
    broken: list[tuple[str, str]] = []
    for trial in range(TRIALS):
        start_afresh(get_settings())
        with (
            provider(get_settings(), latency=LATENCY) as world,
            running_worker(f"pg-send-{trial}", env=world.env) as (worker, log),
        ):
            queue_in_batches([many_due(SEND_READERS, lesson.slug, utcnow())], BATCH)
            in_doubt += down_across_an_answer(
                private_database, world, log, MODES[trial % len(MODES)]
            )
            left = unsubscribe_waiting(LEAVING, rng)
            # The ticks a minute and a lease later find the events whose task broke, the
            # claims the broken tasks held, the letters whose task failed before claiming
            # them, and those whose answer was lost.
            forgotten += apply_forgotten_events(utcnow())
            recover_from_dead_worker(catalog, utcnow(), BATCH)
            settle(catalog, world, utcnow(), BATCH)
            assert worker.poll() is None, f"the worker stayed up through the restart ({log})"
            broken += broken_tasks(log)
        due = {(address(n), lesson.subject) for n in range(SEND_READERS)}
        found += tally(due - {(email, lesson.subject) for email in left}, world.received())
    faults = (
        f"restart mid-send x {TRIALS} ({', '.join(MODES)}; {len(broken)} send tasks broken, "
        f"{in_doubt} letters left in flight, {forgotten} events left unapplied); "
        f"{TRIALS * LEAVING} unsubscribe"
    )
    figures.record("PostgreSQL restarted mid-send", TRIALS, SEND_READERS, faults, found)
    assert in_doubt, "some answer came while PostgreSQL was down"
    assert_clean(found)

"""Two beats at once, the one holding the lock killed; and the engine's clock jumping a day
and a half ahead in the middle of a course, while a send is under way.

The beats are real `celery beat` processes with production's configuration (celery-redbeat,
its lock in Redis) but a tick every second and a five-second lock, so the case takes
seconds rather than minutes. The clock case runs the tick in this process at the time the
test sets, as beat would at that time, and a real worker sends what it queues.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from sqlalchemy import select

from core.clock import utcnow
from core.config import Settings
from core.db import session_scope
from core.models import Delivery, DeliveryStatus, Enrollment, Subscriber
from courses.model import Catalog
from tasks import readers, schedule
from tasks.celery_app import _configuration
from tasks.zones import zone_of
from tests.faults.checks import Figures, Letter, assert_clean, tally
from tests.faults.world import (
    COURSE,
    LIVE,
    NO_EVENTS,
    Provider,
    address,
    enrolled,
    moving,
    provider,
    queue_in_batches,
    settle,
)
from tests.support.deliveries import statuses
from tests.support.processes import stop, wait_for, wait_for_log
from tests.support.worker import running_worker

pytestmark = pytest.mark.worker

LOCK_SECONDS = 5  # production's lock lasts five minutes


def _every_second() -> dict[str, Any]:
    """Production's beat configuration, with a tick every second and a short lock."""
    configuration = _configuration()
    configuration.update(
        beat_schedule={"tick": {"task": "tasks.jobs.tick", "schedule": 1.0}},
        redbeat_lock_timeout=LOCK_SECONDS,
        beat_max_loop_interval=1,
    )
    return configuration


# What `celery -A tests.faults.test_beats_and_clock:beat_every_second beat` runs. A beat
# only sends the tick by name to the broker, where the worker (production's app) takes it.
beat_every_second = Celery("tend", set_as_current=False)
beat_every_second.add_defaults(_every_second)


@contextmanager
def beat(env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A `celery beat` ticking every second until the block ends; its log file."""
    log = Path(tempfile.mkstemp(prefix="tend-beat-", suffix=".log")[1])
    app = f"{__name__}:beat_every_second"
    command = [sys.executable, "-m", "celery", "-A", app, "beat", "--loglevel", "DEBUG"]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        )
    try:
        yield process, log
    finally:
        stop(process, signal.SIGTERM, grace=20)


def holds_lock(log: Path) -> bool:
    return b"beat: Acquired lock" in log.read_bytes()


# Welcomes fall due in groups two seconds apart, so ticks keep finding new ones while the
# beat holding the lock is killed and the other takes over.
GROUPS, PER_GROUP, SPACING = 10, 30, timedelta(seconds=2)
BEAT_READERS = GROUPS * PER_GROUP
LEAVING = 20  # readers of the last group, who leave before their welcome falls due
BATCH = 50


def staggered(now: datetime) -> datetime:
    """Readers whose welcomes fall due group by group from `now`; when the last group's do."""
    for group in range(GROUPS):
        first = group * PER_GROUP
        enrolled(range(first, first + PER_GROUP), now + group * SPACING)
    return now + (GROUPS - 1) * SPACING


def leave(numbers: range) -> set[str]:
    """These readers unsubscribe (the one-click way); their addresses."""
    with session_scope() as session:
        for n in numbers:
            readers.unsubscribe(session, f"uid{n}", "one-click", utcnow())
    return {address(n) for n in numbers}


def welcomes(catalog: Catalog, left: set[str]) -> set[Letter]:
    subject = catalog[COURSE].lessons[0].subject
    return {(address(n), subject) for n in range(BEAT_READERS)} - {
        (email, subject) for email in left
    }


def run_two_beats(world: Provider, catalog: Catalog) -> set[str]:
    """Two beats at once; once letters go out, some readers leave and the beat holding the
    lock is killed, and the other takes over. Returns who left."""
    with beat(world.env) as (one, one_log), beat(world.env) as (two, two_log):
        wait_for(lambda: holds_lock(one_log) or holds_lock(two_log), 60, "a beat to lock")
        leader, other, other_log = (
            (one, two, two_log) if holds_lock(one_log) else (two, one, one_log)
        )
        assert not holds_lock(other_log), "both beats hold the lock"
        last_due = staggered(utcnow())  # from now on, while the beats run
        wait_for(lambda: world.sendgrid.accepted, 60, "the first welcomes")
        assert utcnow() < last_due, "the last group left before its welcome fell due"
        left = leave(range(BEAT_READERS - LEAVING, BEAT_READERS))
        leader.send_signal(signal.SIGKILL)  # its lock is never released: it runs out
        leader.wait(30)
        wait_for_log(other, other_log, [b"beat: Acquired lock"], 60, "the second beat")
        due = len(welcomes(catalog, left))
        wait_for(
            lambda: len(world.sendgrid.recipients()) >= due, 60, "every welcome", message=statuses
        )
        return left


def test_two_beats_and_one_killed_holding_the_lock_send_each_welcome_once(
    db: None, settings: Settings, catalog: Catalog, figures: Figures
) -> None:
    with provider(settings) as world, running_worker("beats", env=world.env):
        left = run_two_beats(world, catalog)
        settle(catalog, world, utcnow(), BATCH)
        found = tally(welcomes(catalog, left), world.received())
    faults = f"2 beats, lock holder SIGKILLed x 1; {LEAVING} unsubscribe"
    figures.record("two beats, one killed", 1, BEAT_READERS, faults, found)
    assert_clean(found)


# --- The clock jumping ahead ------------------------------------------------------------

ZONES = ("UTC", "America/New_York", "Asia/Tokyo", "Pacific/Auckland")
PER_ZONE = 50
CLOCK_READERS = PER_ZONE * len(ZONES)
STEP = timedelta(hours=1)  # the tick's period in the engine's time
# A day and a half: for the readers whose send time falls in the first half day skipped,
# two lessons are overdue at once after the jump, and must still come one a day.
JUMP = timedelta(days=1, hours=12)


def daily(catalog: Catalog) -> Catalog:
    """The demo course with a lesson every day, so a jump of a day and a half skips over
    one or two send times of each reader."""
    course = catalog[COURSE]
    cadence = dataclasses.replace(course.cadence, every_days=1)
    every_day = dataclasses.replace(course, cadence=cadence)
    return dataclasses.replace(catalog, courses={COURSE: every_day})


def course_letters(catalog: Catalog) -> set[Letter]:
    subjects = [lesson.subject for lesson in catalog[COURSE].lessons]
    return {(address(n), subject) for n in range(CLOCK_READERS) for subject in subjects}


def letter_days() -> dict[str, list[date]]:
    """Each reader's letters: the day (their own) each was written, in the course's order."""
    days: dict[str, list[date]] = defaultdict(list)
    with session_scope() as session:
        rows = session.execute(
            select(Subscriber.email, Subscriber.timezone, Delivery.created_at)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .order_by(Delivery.id)
        )
        for email, timezone, created_at in rows:
            days[email].append(created_at.astimezone(zone_of(timezone)).date())
    return days


def tick(catalog: Catalog, at: datetime) -> schedule.TickReport:
    report = schedule.tick(catalog, at)
    queue_in_batches(report.batches.values(), BATCH)
    return report


def jump_mid_send(
    world: Provider, catalog: Catalog, report: schedule.TickReport, at: datetime
) -> int:
    """Send what the tick at `at` wrote, its first request slow; while it is under way the
    clock jumps ahead, and the tick at the new time finds the worker's claims and requests
    past their leases. How many it left in doubt."""
    world.sendgrid.inject("latency", seconds=2.0)
    queue_in_batches(report.batches.values(), BATCH)
    wait_for(
        lambda: statuses().get(DeliveryStatus.IN_FLIGHT),
        30,
        "a request under way",
        message=statuses,
    )
    return tick(catalog, at + JUMP).in_doubt


def courses_done() -> bool:
    with session_scope() as session:
        going = select(Enrollment.id).where(Enrollment.next_due_at.is_not(None)).limit(1)
        return session.scalars(going).first() is None


def run_course_with_a_jump(
    world: Provider, catalog: Catalog, start: datetime
) -> tuple[datetime, int]:
    """Tick hourly from `start` until every course is done, jumping ahead in the middle of
    the third day's first send. The engine's time at the end, and how many
    deliveries the jump left in doubt."""
    at, in_doubt = start, None
    while not courses_done():
        assert at < start + timedelta(days=12), "the courses ended within twelve days"
        if in_doubt is None and at >= start + timedelta(days=2):
            report = schedule.tick(catalog, at)
            if report.claimed:
                in_doubt = jump_mid_send(world, catalog, report, at)
                at += JUMP
        else:
            tick(catalog, at)
        wait_for(lambda: not moving(), 60, "the worker to finish", message=statuses)
        at += STEP
    assert in_doubt is not None, "the clock jumped"
    return at, in_doubt


@pytest.mark.parametrize("events", [LIVE, NO_EVENTS], ids=["with events", "without events"])
def test_the_clock_jumping_ahead_mid_course_sends_each_lesson_once_and_one_a_day_at_most(
    db: None, settings: Settings, catalog: Catalog, figures: Figures, events: str
) -> None:
    every_day, start = daily(catalog), utcnow()
    for index, zone in enumerate(ZONES):
        enrolled(range(index * PER_ZONE, (index + 1) * PER_ZONE), start, zone)
    with provider(settings, events=events) as world, running_worker("clock", env=world.env):
        end, in_doubt = run_course_with_a_jump(world, every_day, start)
        settle(every_day, world, end, BATCH)
        found = tally(course_letters(catalog), world.received())
    faults = f"clock +36 h x 1, mid-send ({in_doubt} in doubt)"
    case = f"clock jumps ahead, {'no' if events == NO_EVENTS else events} provider events"
    figures.record(case, 1, CLOCK_READERS, faults, found)
    assert in_doubt, "the jump came while a request was under way"
    assert_clean(found)
    for email, days in letter_days().items():
        assert len(set(days)) == len(days), f"{email} had two letters in one day: {days}"

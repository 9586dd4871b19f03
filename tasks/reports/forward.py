"""What goes out in the next 7 days: lessons and newsletter issues, by UTC day and by the
time of day it is where each reader lives.

Lessons are counted from `enrollments.next_due_at`, the one moment the scheduler reads:
the database groups them by (hour, time zone, course), and each distinct time zone is
converted in Python once per hour it appears in, never once per reader. Only each
reader's next lesson is counted; a course whose lessons come less than a week apart may
send a second one within the week, and the page names such courses.

Issues come from the catalog (an issue's file says its date) and reach the active members
of the newsletter's list, counted once per list by time zone; zones whose wave has already
gone are left out.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import (
    Broadcast,
    BroadcastStatus,
    BroadcastWave,
    Enrollment,
    EnrollmentState,
    Membership,
    Subscriber,
    SubscriberStatus,
)
from courses.cadence import CadenceError, lesson_dates
from courses.model import Catalog, Course, Issue, Newsletter
from tasks.broadcasts import EARLIEST, LATEST, due_for, issue_key
from tasks.reports.overview import as_hour, hour_of
from tasks.zones import zone_of

HORIZON_DAYS = 7
# The reader's local time of day, by the hour it starts at.
BUCKETS = (("night", 0), ("morning", 6), ("afternoon", 12), ("evening", 18))
BUCKET_NAMES = tuple(name for name, _ in BUCKETS)


def bucket_of(local_hour: int) -> str:
    """ "night" (0-6), "morning" (6-12), "afternoon" (12-18) or "evening" (18-24)."""
    return next(name for name, start in reversed(BUCKETS) if local_hour >= start)


@dataclass(frozen=True)
class IssuePlan:
    newsletter: str  # its title
    key: str  # "newsletter/issue"
    subject: str
    first: datetime  # the first reader's send instant within the week
    last: datetime
    readers: int  # active members it would reach within the week
    sending: bool  # its first waves have gone already


@dataclass
class Grid:
    """Counts by UTC day and by the reader's local time of day."""

    cells: dict[date, dict[str, int]] = field(default_factory=lambda: defaultdict(_zeros))

    def add(self, day: date, bucket: str, count: int) -> None:
        self.cells[day][bucket] += count

    def day_total(self, day: date) -> int:
        return sum(self.cells.get(day, {}).values())

    def total(self) -> int:
        return sum(sum(buckets.values()) for buckets in self.cells.values())

    def get(self, day: date, bucket: str) -> int:
        return self.cells.get(day, {}).get(bucket, 0)


def _zeros() -> dict[str, int]:
    return dict.fromkeys(BUCKET_NAMES, 0)


@dataclass(frozen=True)
class Forward:
    now: datetime
    until: datetime
    days: list[date]
    lessons: Grid
    issues: Grid
    by_course: dict[str, int]
    overdue: int  # due already: the next tick takes them (or holds them, if stopped)
    plans: list[IssuePlan]
    short_courses: list[str]  # titles of courses that may send twice within a week


def forward(session: Session, catalog: Catalog, now: datetime) -> Forward:
    today = now.astimezone(UTC).date()
    days = [today + timedelta(days=n) for n in range(HORIZON_DAYS)]
    until = datetime.combine(days[-1] + timedelta(days=1), datetime.min.time(), UTC)
    lessons, by_course = lesson_grid(session, now, until)
    issues, plans = issue_grid(session, catalog, now, until)
    return Forward(
        now=now,
        until=until,
        days=days,
        lessons=lessons,
        issues=issues,
        by_course=by_course,
        overdue=overdue(session, now),
        plans=plans,
        short_courses=short_courses(catalog, today),
    )


def lesson_grid(session: Session, now: datetime, until: datetime) -> tuple[Grid, dict[str, int]]:
    """Next lessons due in [now, until), by day and local time; and by course."""
    hour = hour_of(session, Enrollment.next_due_at).label("hour")
    query = (
        select(hour, Subscriber.timezone, Enrollment.course, func.count())
        .join(Subscriber, Subscriber.id == Enrollment.subscriber_id)
        .where(
            Enrollment.next_due_at > now,
            Enrollment.next_due_at < until,
            Enrollment.state == EnrollmentState.ACTIVE,
            Subscriber.status == SubscriberStatus.ACTIVE,
        )
        .group_by(hour, Subscriber.timezone, Enrollment.course)
    )
    grid, by_course = Grid(), defaultdict(int)
    local = _LocalTimes()
    for when, zone, course, number in session.execute(query):
        day, bucket = local.place(as_hour(when), zone)
        grid.add(day, bucket, number)
        by_course[course] += number
    return grid, dict(by_course)


class _LocalTimes:
    """(UTC day, local bucket) of an instant in a zone, worked out once per pair."""

    def __init__(self) -> None:
        self.seen: dict[tuple[datetime, str], tuple[date, str]] = {}

    def place(self, moment: datetime, zone: str) -> tuple[date, str]:
        key = (moment, zone)
        if key not in self.seen:
            local = moment.astimezone(zone_of(zone))
            self.seen[key] = (moment.date(), bucket_of(local.hour))
        return self.seen[key]


def overdue(session: Session, now: datetime) -> int:
    query = select(func.count()).where(
        Enrollment.next_due_at <= now, Enrollment.state == EnrollmentState.ACTIVE
    )
    return session.scalars(query).one()


def issue_grid(
    session: Session, catalog: Catalog, now: datetime, until: datetime
) -> tuple[Grid, list[IssuePlan]]:
    """Issues some reader gets in [now, until), counted by day and local time."""
    grid, plans = Grid(), []
    local = _LocalTimes()
    for newsletter in catalog.newsletters.values():
        coming = [issue for issue in newsletter.issues if _may_fall(newsletter, issue, now, until)]
        if not coming:
            continue
        reach = list_reach(session, newsletter.list)
        for issue in coming:
            plan = _plan(session, newsletter, issue, reach, now, until, grid, local)
            if plan is not None:
                plans.append(plan)
    plans.sort(key=lambda plan: plan.first)
    return grid, plans


def _may_fall(newsletter: Newsletter, issue: Issue, now: datetime, until: datetime) -> bool:
    """Whether some zone's send instant of the issue lies in [now, until)."""
    return (
        due_for(newsletter, issue, LATEST) >= now and due_for(newsletter, issue, EARLIEST) < until
    )


def list_reach(session: Session, list_name: str) -> dict[str, int]:
    """Active members of a list, by time zone."""
    query = (
        select(Subscriber.timezone, func.count())
        .join(Membership, Membership.subscriber_id == Subscriber.id)
        .where(
            Membership.list == list_name,
            Membership.left_at.is_(None),
            Subscriber.status == SubscriberStatus.ACTIVE,
        )
        .group_by(Subscriber.timezone)
    )
    return dict(session.execute(query).all())


def _plan(
    session: Session,
    newsletter: Newsletter,
    issue: Issue,
    reach: dict[str, int],
    now: datetime,
    until: datetime,
    grid: Grid,
    local: _LocalTimes,
) -> IssuePlan | None:
    key = issue_key(newsletter, issue)
    broadcast = session.scalars(
        select(Broadcast).where(Broadcast.list == newsletter.list, Broadcast.issue == key)
    ).one_or_none()
    if broadcast is not None and broadcast.status in _OVER:
        return None
    gone = _zones_gone(session, broadcast)
    instants = []
    readers = 0
    for zone, number in reach.items():
        when = due_for(newsletter, issue, zone_of(zone))
        if zone in gone or not now <= when < until:
            continue
        grid.add(*local.place(when, zone), number)
        instants.append(when)
        readers += number
    if not instants:
        return None
    return IssuePlan(
        newsletter=newsletter.title,
        key=key,
        subject=issue.subject,
        first=min(instants),
        last=max(instants),
        readers=readers,
        sending=broadcast is not None,
    )


_OVER = (BroadcastStatus.SENT, BroadcastStatus.CANCELLED)


def _zones_gone(session: Session, broadcast: Broadcast | None) -> set[str]:
    if broadcast is None:
        return set()
    waves = session.scalars(
        select(BroadcastWave.zones).where(
            BroadcastWave.broadcast_id == broadcast.id, BroadcastWave.finished_at.is_not(None)
        )
    )
    return {zone for zones in waves for zone in zones}


def short_courses(catalog: Catalog, today: date) -> list[str]:
    """Courses with two lessons less than a week apart somewhere in them: a reader may get
    more from them within the week than the next-lesson count shows."""
    return [
        course.title for course in catalog.courses.values() if _spacing_under_a_week(course, today)
    ]


def _spacing_under_a_week(course: Course, today: date) -> bool:
    try:
        dates: list[Any] = lesson_dates(course.cadence, course.dues, today)
    except CadenceError:
        return False
    dated = [day for day in dates if day is not None]
    # The first lesson goes at once for a new reader: it counts from the start day.
    if len(dated) < len(dates):
        dated.insert(0, today)
    return any((later - earlier).days < HORIZON_DAYS for earlier, later in pairwise(dated))

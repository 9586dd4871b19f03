"""The scheduler tick: turn due enrollments into delivery rows, exactly once.

The database holds the schedule (`Enrollment.next_due_at`); the queue only ever carries
"send this now". A batch of due enrollments is read and held (`FOR UPDATE SKIP LOCKED` on
PostgreSQL; SQLite runs one writing transaction at a time), then in the same transaction
each enrollment's position moves on with a conditional UPDATE (`WHERE position = :seen`)
and its delivery row is inserted, unique per (enrollment, lesson) and skipped on
conflict. Two ticks at once, or a tick retried after a crash, cannot write a lesson twice.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Update, bindparam, func, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, joinedload

from core.db import is_postgresql, session_scope
from core.models import (
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Enrollment,
    EnrollmentState,
)
from courses.cadence import first_at_once, next_days_window, window_start_after
from courses.model import Catalog, Course, Lesson
from tasks import broadcasts, recovery
from tasks import enrollments as enrollments_api
from tasks.daily_cap import DailyCap
from tasks.plan import due_of
from tasks.switches import sending_stopped
from tasks.zones import zone_of

log = logging.getLogger(__name__)

BATCH_SIZE = 500
# A paused enrollment is due only when its pause ends (then `next_due_at` is that end).
DUE = (EnrollmentState.ACTIVE, EnrollmentState.PAUSED)
# A queued delivery older than this was lost from the queue (Redis restarted, or the
# enqueue after commit failed): the tick queues it again. Sending is idempotent.
STALE_AFTER = timedelta(minutes=5)


@dataclass
class TickReport:
    due: int = 0
    claimed: int = 0
    skipped: int = 0
    held: int = 0  # due, but sending is stopped: left as they are
    resumed: int = 0  # paused until now
    issues: int = 0  # newsletter issue deliveries written
    deferred: int = 0  # found due outside their send window: moved to the next one
    capped: int = 0  # the reader had their letters for today: moved to tomorrow
    requeued: int = 0
    in_doubt: int = 0  # in flight when their worker stopped: now unknown, for events to settle
    resent: int = 0  # unknown, and no event came in time: queued again
    seconds: float = 0.0
    # Delivery ids to send, grouped by (course, lesson) so each batch renders once.
    batches: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(list))


def tick(
    catalog: Catalog,
    now: datetime,
    batch_size: int = BATCH_SIZE,
    daily_cap: int = 1,
    resend_unknown_after: timedelta = timedelta(hours=25),
) -> TickReport:
    """Claim every enrollment due at `now`, in batches of committed work."""
    started = time.perf_counter()
    report = TickReport()
    with session_scope() as session:
        if sending_stopped(session) is not None:
            report.held = report.due = _count_due(session, now)
            report.seconds = time.perf_counter() - started
            return report
    # Newsletter issues first: they are dated, and a lesson can wait a day for the cap.
    broadcasts.plan(catalog, now)
    report.issues = broadcasts.run_waves(now, report.batches)
    after: tuple[datetime, int] | None = None
    while True:
        with session_scope() as session:
            enrollments = _due_batch(session, now, after, batch_size)
            if enrollments:  # where this batch ends, before claiming changes the rows
                after = (enrollments[-1].next_due_at or now, enrollments[-1].id)
            cap = DailyCap(session, {e.subscriber for e in enrollments}, now, daily_cap)
            _claim(session, catalog, enrollments, now, cap, report)
        report.due += len(enrollments)
        if len(enrollments) < batch_size:
            break
    with session_scope() as session:
        report.requeued = _requeue_stale(session, now, report)
        report.in_doubt = recovery.doubt_in_flight(session, now)
        resent = recovery.resend_unknown(session, now, resend_unknown_after)
        for delivery_id, group in resent:
            report.batches[("resend", group)].append(delivery_id)
        report.resent = len(resent)
    report.seconds = time.perf_counter() - started
    return report


def _count_due(session: Session, now: datetime) -> int:
    query = select(func.count()).where(Enrollment.next_due_at <= now, Enrollment.state.in_(DUE))
    return session.scalars(query).one()


def _due_batch(
    session: Session, now: datetime, after: tuple[datetime, int] | None, limit: int
) -> list[Enrollment]:
    """The next enrollments due, oldest first, past the last batch's (next_due_at, id):
    read from the `next_due_at` index, so the cost follows how many are due, not how many
    there are."""
    query = (
        select(Enrollment)
        .where(Enrollment.next_due_at <= now, Enrollment.state.in_(DUE))
        .order_by(Enrollment.next_due_at, Enrollment.id)
        .limit(limit)
        .options(joinedload(Enrollment.subscriber))
    )
    if after is not None:
        query = query.where(tuple_(Enrollment.next_due_at, Enrollment.id) > after)
    if is_postgresql(session):
        # Another tick skips the rows this one holds instead of waiting for them.
        query = query.with_for_update(skip_locked=True, of=Enrollment)
    return list(session.scalars(query))


@dataclass
class _Claims:
    """What one batch of due enrollments comes to, written in a few statements."""

    moves: list[dict[str, Any]] = field(default_factory=list)  # advance these enrollments
    rows: list[dict[str, Any]] = field(default_factory=list)  # and write these deliveries
    stops: list[dict[str, Any]] = field(default_factory=list)  # nothing more to send
    deferrals: list[dict[str, Any]] = field(default_factory=list)  # due later after all
    capped: int = 0


def _claim(
    session: Session,
    catalog: Catalog,
    enrollments: list[Enrollment],
    now: datetime,
    cap: DailyCap,
    report: TickReport,
) -> None:
    """Move each enrollment on by one lesson and write that lesson's delivery row."""
    claims = _Claims()
    had = _lessons_had(session, enrollments)
    for enrollment in enrollments:
        _decide(catalog, enrollment, had[enrollment.id], now, cap, claims, report)
    _write(session, enrollments, claims, report)


def _decide(
    catalog: Catalog,
    enrollment: Enrollment,
    had: set[str],
    now: datetime,
    cap: DailyCap,
    claims: _Claims,
    report: TickReport,
) -> None:
    """What becomes of one due enrollment: its next lesson now, later, or never."""
    course = catalog.get(enrollment.course)
    subscriber = enrollment.subscriber
    if course is None or not subscriber.is_active:
        # Nothing can be sent: a removed course, or a reader who left. Stop asking.
        claims.stops.append({"enrollment": enrollment.id, "next_due_at": None})
        return
    if enrollment.state is EnrollmentState.PAUSED:
        # Its pause has ended: it goes on from the next lesson at the next tick.
        enrollments_api.resume(enrollment, course, subscriber.timezone, now)
        report.resumed += 1
        return
    lesson = course.next_lesson(had)
    if lesson is None:
        # The author removed the lessons this reader had left: the course is done.
        enrollments_api.complete(enrollment, now)
        return
    zone = zone_of(subscriber.timezone)
    reopens = _outside_window(course, enrollment.position, lesson, zone, now)
    if reopens is None and not cap.allows(subscriber.id):
        reopens = next_days_window(course.cadence, now, zone)
        claims.capped += 1
    if reopens is not None:
        claims.deferrals.append({"enrollment": enrollment.id, "next_due_at": reopens})
        return
    cap.count(subscriber.id)
    next_due = _after(course, enrollment, {*had, lesson.slug}, subscriber.timezone)
    if next_due is not None:
        # Catching up after a stop: never a second lesson of a course on the same day.
        next_due = max(next_due, next_days_window(course.cadence, now, zone))
    claims.moves.append(_move(enrollment, course.version, next_due, now))
    claims.rows.append(_delivery_row(enrollment, lesson.slug, now))


def _after(course: Course, enrollment: Enrollment, had: set[str], timezone: str) -> datetime | None:
    """When the lesson after the one being claimed falls due; None if there is none."""
    following = course.next_lesson(had)
    if following is None:
        return None
    return due_of(
        course, enrollment.position + 1, following, enrollment.started_at, timezone, enrollment.pace
    )


def _write(
    session: Session, enrollments: list[Enrollment], claims: _Claims, report: TickReport
) -> None:
    connection = session.connection()
    if claims.stops or claims.deferrals:
        connection.execute(_RESCHEDULE, claims.stops + claims.deferrals)
    report.skipped += len(claims.stops)
    report.capped += claims.capped
    report.deferred += len(claims.deferrals) - claims.capped
    if not claims.moves:
        return
    moved = connection.execute(_ADVANCE, claims.moves).rowcount
    if connection.dialect.supports_sane_multi_rowcount and moved != len(claims.moves):
        # The rows are held by this transaction, so this means the lock was not: undo all.
        raise RuntimeError(f"only {moved} of {len(claims.moves)} claimed enrollments moved on")
    written = connection.execute(
        _insert_once(session).returning(
            Delivery.id, Delivery.enrollment_id, Delivery.lesson, sort_by_parameter_order=True
        ),
        claims.rows,
    ).all()
    courses = {enrollment.id: enrollment.course for enrollment in enrollments}
    for delivery_id, enrollment_id, lesson_slug in written:
        report.batches[(courses[enrollment_id], lesson_slug)].append(delivery_id)
    report.claimed += len(written)
    # A lesson whose row already existed was sent before: moving on was all it needed.
    report.skipped += len(claims.moves) - len(written)


def _lessons_had(session: Session, enrollments: list[Enrollment]) -> dict[int, set[str]]:
    """The lessons each enrollment has had in its current round, in one query."""
    had: dict[int, set[str]] = {enrollment.id: set() for enrollment in enrollments}
    if not enrollments:
        return had
    rows = session.execute(
        select(Delivery.enrollment_id, Delivery.lesson)
        .join(Enrollment, Enrollment.id == Delivery.enrollment_id)
        .where(Delivery.enrollment_id.in_(list(had)), Delivery.round == Enrollment.round)
    )
    for enrollment_id, lesson in rows:
        had[enrollment_id].add(lesson)
    return had


def _outside_window(
    course: Course, position: int, lesson: Lesson, zone: ZoneInfo, now: datetime
) -> datetime | None:
    """When the next send window opens, if `now` is outside it (a lesson sent on
    confirmation goes at once, whatever the hour)."""
    if position == 0 and first_at_once(course.cadence, lesson.due):
        return None
    return window_start_after(course.cadence, now, zone)


def _move(
    enrollment: Enrollment, version: str, next_due: datetime | None, now: datetime
) -> dict[str, Any]:
    return {
        "course_version": version,
        "enrollment": enrollment.id,
        "seen": enrollment.position,
        "position": enrollment.position + 1,
        "next_due_at": next_due,
        "state": EnrollmentState.ACTIVE if next_due else EnrollmentState.COMPLETED,
        "completed_at": None if next_due else now,
    }


def _delivery_row(enrollment: Enrollment, lesson: str, now: datetime) -> dict[str, Any]:
    return {
        "kind": DeliveryKind.LESSON,
        "status": DeliveryStatus.QUEUED,
        "subscriber_id": enrollment.subscriber_id,
        "enrollment_id": enrollment.id,
        "lesson": lesson,
        "round": enrollment.round,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }


def _by_id(statement: Update) -> Update:
    return statement.where(Enrollment.id == bindparam("enrollment"))


_ADVANCE = (
    _by_id(update(Enrollment))
    .where(Enrollment.position == bindparam("seen"))
    .values(
        position=bindparam("position"),
        next_due_at=bindparam("next_due_at"),
        state=bindparam("state"),
        completed_at=bindparam("completed_at"),
    )
)
_RESCHEDULE = _by_id(update(Enrollment)).values(next_due_at=bindparam("next_due_at"))


def _insert_once(session: Session) -> Any:
    """An INSERT of deliveries that skips any (enrollment, lesson) already written."""
    dialect_insert = postgresql.insert if is_postgresql(session) else sqlite.insert
    return dialect_insert(Delivery).on_conflict_do_nothing(
        index_elements=[Delivery.enrollment_id, Delivery.round, Delivery.lesson]
    )


def _requeue_stale(session: Session, now: datetime, report: TickReport) -> int:
    stale = or_(
        (Delivery.status == DeliveryStatus.QUEUED) & (Delivery.updated_at < now - STALE_AFTER),
        (Delivery.status == DeliveryStatus.SENDING) & (Delivery.lease_until < now),
    )
    ids = select(Delivery.id).where(stale).limit(10 * BATCH_SIZE).scalar_subquery()
    # Touching updated_at means the same delivery is queued again only after another wait.
    rows = session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids))
        .values(updated_at=now)
        .returning(Delivery.id, Delivery.kind, Delivery.lesson)
        .execution_options(synchronize_session=False)
    ).all()
    for delivery_id, kind, lesson in rows:
        report.batches[(str(kind), lesson or "")].append(delivery_id)
    return len(rows)

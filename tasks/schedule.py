"""The scheduler tick: turn due enrollments into delivery rows, exactly once.

The database holds the schedule (`Enrollment.next_due_at`); the queue only ever carries
"send this now". A claim is a conditional UPDATE on the enrollment's position, which only
one tick can win, and the delivery row is unique per (enrollment, lesson): two ticks at
once, or a tick retried after a crash, cannot write a lesson twice.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.db import is_postgresql, session_scope
from core.models import (
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Enrollment,
    EnrollmentState,
    Subscriber,
)
from courses.model import Catalog
from tasks.plan import due_for

log = logging.getLogger(__name__)

BATCH_SIZE = 500
# A queued delivery older than this was lost from the queue (Redis restarted, or the
# enqueue after commit failed): the tick queues it again. Sending is idempotent.
STALE_AFTER = timedelta(minutes=5)


@dataclass
class TickReport:
    due: int = 0
    claimed: int = 0
    skipped: int = 0
    requeued: int = 0
    seconds: float = 0.0
    # Delivery ids to send, grouped by (course, lesson) so each batch renders once.
    batches: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(list))


def tick(catalog: Catalog, now: datetime, batch_size: int = BATCH_SIZE) -> TickReport:
    """Claim every enrollment due at `now`, in batches of committed work."""
    started = time.perf_counter()
    report = TickReport()
    last_id = 0
    while True:
        with session_scope() as session:
            enrollments = _due_batch(session, now, last_id, batch_size)
            for enrollment in enrollments:
                _claim(session, catalog, enrollment, now, report)
        report.due += len(enrollments)
        if len(enrollments) < batch_size:
            break
        last_id = enrollments[-1].id
    with session_scope() as session:
        report.requeued = _requeue_stale(session, now, report)
    report.seconds = time.perf_counter() - started
    return report


def _due_batch(session: Session, now: datetime, last_id: int, limit: int) -> list[Enrollment]:
    query = (
        select(Enrollment)
        .where(
            Enrollment.next_due_at <= now,
            Enrollment.state == EnrollmentState.ACTIVE,
            Enrollment.id > last_id,
        )
        .order_by(Enrollment.id)
        .limit(limit)
    )
    if is_postgresql(session):
        # Another tick skips the rows this one holds instead of waiting for them.
        query = query.with_for_update(skip_locked=True, of=Enrollment)
    return list(session.scalars(query))


def _claim(
    session: Session, catalog: Catalog, enrollment: Enrollment, now: datetime, report: TickReport
) -> None:
    course = catalog.get(enrollment.course)
    lesson = course.lesson_at(enrollment.position) if course else None
    subscriber = session.get(Subscriber, enrollment.subscriber_id)
    if course is None or lesson is None or subscriber is None or not subscriber.is_active:
        # Nothing can be sent: a removed course, or a reader who left. Stop asking.
        _stop(session, enrollment)
        report.skipped += 1
        return
    position = enrollment.position
    next_due = due_for(course, position + 1, enrollment.started_at, subscriber.timezone)
    try:
        with session.begin_nested():
            won = session.execute(
                update(Enrollment)
                .where(Enrollment.id == enrollment.id, Enrollment.position == position)
                .values(
                    position=position + 1,
                    next_due_at=next_due,
                    state=EnrollmentState.ACTIVE if next_due else EnrollmentState.COMPLETED,
                    completed_at=None if next_due else now,
                )
                .execution_options(synchronize_session=False)
            ).rowcount
            if won != 1:
                raise ClaimLostError
            delivery = Delivery(
                kind=DeliveryKind.LESSON,
                subscriber_id=subscriber.id,
                enrollment_id=enrollment.id,
                lesson=lesson.slug,
                created_at=now,
                updated_at=now,
            )
            session.add(delivery)
    except (IntegrityError, ClaimLostError):
        # Another tick claimed this lesson first.
        report.skipped += 1
        return
    report.claimed += 1
    report.batches[(course.slug, lesson.slug)].append(delivery.id)


class ClaimLostError(Exception):
    """The conditional update found the enrollment already moved on."""


def _stop(session: Session, enrollment: Enrollment) -> None:
    session.execute(
        update(Enrollment)
        .where(Enrollment.id == enrollment.id)
        .values(next_due_at=None)
        .execution_options(synchronize_session=False)
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

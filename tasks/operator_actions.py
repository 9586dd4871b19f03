"""What an operator does to one reader from the dashboard: pause or resume a course, send
a lesson again, unsubscribe them, erase them.

Each goes through the same functions as the reader's own page (`tasks.enrollments`,
`tasks.readers`, `tasks.privacy`), so an operator can do nothing to a reader that the
reader could not have done, and every rule those functions keep holds here too. Only
"send a lesson again" is the operator's own; it is written here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from core.db import session_scope
from core.models import (
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Enrollment,
    EnrollmentState,
    Subscriber,
)
from courses.model import Catalog, Course
from tasks import enrollments, jobs, preferences, privacy, readers

log = logging.getLogger(__name__)

# Subscriber.unsubscribe_channel holds at most this many characters.
CHANNEL_LENGTH = 100
# A delivery in one of these has run its course (or is in doubt and would be sent again
# anyway): an operator may send it again. Never one that is queued or being sent.
RESENDABLE = frozenset(
    {
        DeliveryStatus.SENT,
        DeliveryStatus.DELIVERED,
        DeliveryStatus.FAILED,
        DeliveryStatus.BOUNCED,
        DeliveryStatus.SKIPPED,
        DeliveryStatus.UNKNOWN,
    }
)


class ActionRefusedError(Exception):
    """The action does not apply to the reader as they are; the message says why."""


def channel_of(operator_email: str) -> str:
    """How an operator's unsubscribe is recorded: "operator:<their address>", cut to fit."""
    return f"operator:{operator_email}"[:CHANNEL_LENGTH]


def pause_course(
    session: Session, reader_id: int, course: str, weeks: int | None, now: datetime
) -> Enrollment:
    """Pause the reader's course for some weeks (it goes on by itself then) or until
    resumed, as the reader's own "Pause" buttons do."""
    enrollment = _enrollment(session, _active_reader(session, reader_id), course)
    until = now + timedelta(weeks=weeks) if weeks else None
    _change(lambda: enrollments.pause(enrollment, until))
    log.info("operator paused a course", extra={"subscriber": reader_id, "course": course})
    return enrollment


def resume_course(session: Session, reader_id: int, course: Course, now: datetime) -> Enrollment:
    """Go on from the next lesson, without a burst of the missed ones."""
    reader = _active_reader(session, reader_id)
    enrollment = _enrollment(session, reader, course.slug)
    _change(lambda: enrollments.resume(enrollment, course, reader.timezone, now))
    log.info("operator resumed a course", extra={"subscriber": reader_id, "course": course.slug})
    return enrollment


def unsubscribe(session: Session, reader_id: int, operator_email: str, now: datetime) -> Subscriber:
    """Stop all mail to the reader, exactly as their own unsubscribe does."""
    reader = _reader(session, reader_id)
    left = readers.unsubscribe(session, reader.uid, channel_of(operator_email), now)
    assert left is not None  # the reader was found a moment ago, in this transaction
    return left


def erase(session: Session, reader_id: int, key: str, now: datetime, operator_email: str) -> int:
    """Delete the reader and all of theirs, keeping only their address's hash as a
    suppression, exactly as their own request to be erased does."""
    reader = _reader(session, reader_id)
    erased = privacy.erase(session, reader.uid, key, now, source=channel_of(operator_email))
    assert erased is not None
    return erased


def requeue_lesson(session: Session, reader_id: int, delivery_id: int, now: datetime) -> str:
    """Put a lesson the reader has had (or that failed) back in the queue; say which
    ("course/lesson"). The caller queues its send once this has committed.

    The delivery row is reused: the (enrollment, round, lesson) key allows only one, and
    a reader's page counts lessons by those rows. The move is one conditional UPDATE from
    a final status, so two operators pressing at once send it once. A reader who is not
    active, is suppressed, or left the course gets nothing.
    """
    reader = _active_reader(session, reader_id)
    if readers.is_suppressed(session, reader.email):
        raise ActionRefusedError("the address is suppressed: nothing may be sent to it")
    delivery = session.get(Delivery, delivery_id)
    if delivery is None or delivery.subscriber_id != reader_id:
        raise ActionRefusedError("that letter is not this reader's")
    if delivery.kind is not DeliveryKind.LESSON:
        raise ActionRefusedError("only a lesson can be sent again")
    enrollment = delivery.enrollment
    if enrollment is None or enrollment.state is EnrollmentState.CANCELLED:
        raise ActionRefusedError("the reader has left this course")
    moved = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status.in_(RESENDABLE))
        .values(
            status=DeliveryStatus.QUEUED,
            attempts=0,
            lease_until=None,
            last_error=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        raise ActionRefusedError(f"the letter is {delivery.status} already, not sent")
    log.info("operator resends a lesson", extra={"subscriber": reader_id, "delivery": delivery_id})
    return f"{enrollment.course}/{delivery.lesson}"


def resend_lesson(reader_id: int, delivery_id: int, now: datetime) -> str:
    """Requeue the lesson and queue its send once that has committed; say which lesson.
    If the queue is down, the tick's sweep of queued deliveries sends it minutes later."""
    with session_scope() as session:
        lesson = requeue_lesson(session, reader_id, delivery_id, now)
    try:
        jobs.queue_send([delivery_id])
    except Exception:
        log.exception("could not queue a resent lesson; the next tick will pick it up")
    return lesson


def course_of(catalog: Catalog, slug: str) -> Course:
    course = catalog.get(slug)
    if course is None:
        raise ActionRefusedError(f"there is no course {slug!r} any more")
    return course


def _reader(session: Session, reader_id: int) -> Subscriber:
    reader = session.get(Subscriber, reader_id)
    if reader is None:
        raise LookupError(f"no reader {reader_id}")
    return reader


def _active_reader(session: Session, reader_id: int) -> Subscriber:
    """The reader, if they receive letters now: as on their own page, a reader who left
    has nothing to pause, resume or be sent."""
    reader = _reader(session, reader_id)
    if not reader.is_active:
        raise ActionRefusedError(f"the reader is {reader.status}, not receiving letters")
    return reader


def _enrollment(session: Session, reader: Subscriber, course: str) -> Enrollment:
    enrollment = preferences.enrollment_in(session, reader, course)
    if enrollment is None:
        raise ActionRefusedError(f"the reader is not in {course}")
    return enrollment


def _change(change: Callable[[], None]) -> None:
    """Run an enrollment change, saying its refusal in the dashboard's words."""
    try:
        change()
    except enrollments.EnrollmentError as error:
        raise ActionRefusedError(str(error)) from None

"""What a reader changes for themselves from their preferences page or the leave page.

Course changes (pause, resume, slow down, restart) are `tasks.enrollments`; joining a
list and enrolling are `tasks.readers`. What is here is what those do not cover: the
reader's own details, leaving one list, starting a course from the page, and pausing
every course at once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Enrollment, EnrollmentState, Membership, Subscriber
from courses.model import Course
from tasks import enrollments, readers


def find_reader(session: Session, uid: str) -> Subscriber | None:
    return session.scalars(select(Subscriber).where(Subscriber.uid == uid)).one_or_none()


def enrollments_of(session: Session, subscriber: Subscriber) -> list[Enrollment]:
    query = (
        select(Enrollment).where(Enrollment.subscriber_id == subscriber.id).order_by(Enrollment.id)
    )
    return list(session.scalars(query))


def enrollment_in(session: Session, subscriber: Subscriber, course: str) -> Enrollment | None:
    query = select(Enrollment).where(
        Enrollment.subscriber_id == subscriber.id, Enrollment.course == course
    )
    return session.scalars(query).one_or_none()


def lists_of(session: Session, subscriber: Subscriber) -> set[str]:
    """The lists the reader is on now (joined and not left)."""
    query = select(Membership.list).where(
        Membership.subscriber_id == subscriber.id, Membership.left_at.is_(None)
    )
    return set(session.scalars(query))


def update_details(subscriber: Subscriber, first_name: str | None, timezone: str) -> None:
    """The name letters greet the reader by, and the zone whose morning they arrive in.
    The caller has cleaned the name and checked the zone. A lesson already scheduled keeps
    its instant; the tick checks the send window in the new zone before sending it."""
    subscriber.first_name = first_name
    subscriber.timezone = timezone


def leave_list(session: Session, subscriber: Subscriber, name: str, now: datetime) -> None:
    """Take the reader off one list: issues not yet written for them no longer reach them
    (a queued one is skipped by the send's own membership check)."""
    query = select(Membership).where(
        Membership.subscriber_id == subscriber.id,
        Membership.list == name,
        Membership.left_at.is_(None),
    )
    membership = session.scalars(query).one_or_none()
    if membership is not None:
        membership.left_at = now


def start(session: Session, subscriber: Subscriber, course: Course, now: datetime) -> Enrollment:
    """Begin a course the reader is not reading, or pick up one that was stopped where
    they left it. A course they are reading, or have finished, is not started twice."""
    found = enrollment_in(session, subscriber, course.slug)
    if found is not None and found.state is not EnrollmentState.CANCELLED:
        raise enrollments.EnrollmentError(f"the course is {found.state} already")
    return readers.enroll(session, subscriber, course, now)


def pause_everything(
    session: Session, subscriber: Subscriber, until: datetime | None
) -> list[Enrollment]:
    """Pause every course that is going on now; the ones already paused keep their pause.
    Returns the courses paused."""
    active = [e for e in enrollments_of(session, subscriber) if e.state is EnrollmentState.ACTIVE]
    for enrollment in active:
        enrollments.pause(enrollment, until)
    return active

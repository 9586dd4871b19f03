"""What can happen to a reader's course: pause, resume, restart, complete.

The reader's preferences page, the dashboard and the `tend enrollment` commands all call
these; each changes the enrollment's state and when its next lesson is due, nothing else.
A lesson already claimed by a tick before a pause still goes out: it was due.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import Delivery, Enrollment, EnrollmentState, Subscriber
from courses.model import Course
from tasks.plan import due_for, restarted_at


class EnrollmentError(Exception):
    """The change does not apply to the enrollment as it is (say why)."""


def find(session: Session, email: str, course: str) -> Enrollment:
    query = (
        select(Enrollment)
        .join(Subscriber)
        .where(func.lower(Subscriber.email) == email.lower(), Enrollment.course == course)
    )
    enrollment = session.scalars(query).one_or_none()
    if enrollment is None:
        raise LookupError(f"{email} is not enrolled in {course}")
    return enrollment


def lessons_had(session: Session, enrollment: Enrollment) -> set[str]:
    """The lessons the reader has had in the enrollment's current round."""
    query = select(Delivery.lesson).where(
        Delivery.enrollment_id == enrollment.id, Delivery.round == enrollment.round
    )
    return {lesson for lesson in session.scalars(query) if lesson}


def pause(enrollment: Enrollment, until: datetime | None) -> None:
    """Hold the course; with `until`, it resumes by itself then (at the next tick)."""
    if enrollment.state not in (EnrollmentState.ACTIVE, EnrollmentState.PAUSED):
        raise EnrollmentError(f"the course is {enrollment.state}: there is nothing to pause")
    enrollment.state = EnrollmentState.PAUSED
    enrollment.paused_until = until
    enrollment.next_due_at = until


def resume(enrollment: Enrollment, course: Course, timezone: str, now: datetime) -> None:
    """Go on from the next lesson, due today, with the rest spaced after it as before:
    the lessons missed while paused are not sent in a burst."""
    if enrollment.state is not EnrollmentState.PAUSED:
        raise EnrollmentError(f"the course is {enrollment.state}, not paused")
    enrollment.started_at = restarted_at(
        course, enrollment.position, enrollment.started_at, timezone, now, enrollment.pace
    )
    enrollment.paused_until = None
    _schedule_next(enrollment, course, timezone, now)


def slow_down(enrollment: Enrollment, course: Course, timezone: str, pace: int) -> None:
    """Space the reader's lessons `pace` times as far apart (1: the course's own rhythm).
    The next lesson keeps its day; the ones after it follow at the new pace."""
    if enrollment.state not in (EnrollmentState.ACTIVE, EnrollmentState.PAUSED):
        raise EnrollmentError(f"the course is {enrollment.state}: there is nothing to slow down")
    if not 1 <= pace <= 4:
        raise EnrollmentError("the pace runs from 1 (the course's own) to 4 (a quarter of it)")
    next_due = enrollment.next_due_at
    enrollment.pace = pace
    if next_due is not None and enrollment.state is EnrollmentState.ACTIVE:
        # Anchor the new pace on the next lesson's day, as a returning reader is anchored.
        enrollment.started_at = restarted_at(
            course, enrollment.position, enrollment.started_at, timezone, next_due, pace
        )


def restart(enrollment: Enrollment, course: Course, timezone: str, now: datetime) -> None:
    """Begin the course again from its first lesson, as a new round."""
    enrollment.round += 1
    enrollment.position = 0
    enrollment.started_at = now
    enrollment.paused_until = None
    _schedule_next(enrollment, course, timezone, now)


def complete(enrollment: Enrollment, now: datetime) -> None:
    """End the course here: no further lesson is sent."""
    enrollment.state = EnrollmentState.COMPLETED
    enrollment.next_due_at = None
    enrollment.paused_until = None
    enrollment.completed_at = now


def _schedule_next(enrollment: Enrollment, course: Course, timezone: str, now: datetime) -> None:
    enrollment.next_due_at = due_for(
        course, enrollment.position, enrollment.started_at, timezone, enrollment.pace or 1
    )
    if enrollment.next_due_at is None:
        complete(enrollment, now)
    else:
        enrollment.state = EnrollmentState.ACTIVE
        enrollment.completed_at = None

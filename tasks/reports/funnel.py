"""A course's funnel: how many readers enrolled, how far each lesson reached, where
readers paused, slowed down or left.

Every figure is one grouped query, aggregated in the database:

- the enrollments of a course by (state, position, slowed): enrolled, active, paused,
  completed, and where the paused and slowed readers are (an index-only scan with
  `enrollments (course, state, position, pace)`);
- the readers who left, by (position, reader status): cancelled enrollments joined to
  their reader;
- the lesson deliveries by (lesson, status), joined to the course's enrollments (there is
  no course column on deliveries);
- opens and clicks by (lesson, type), only when such events exist at all.

The model keeps no history of pauses or slow-downs, only each enrollment as it is now.
`position` is the index of the next lesson to send, so the last lesson a reader was sent
is the one before it; a paused or cancelled enrollment does not move, which makes
"paused after lesson N" and "left after lesson N" exact for readers paused or gone now.
A slowed reader keeps moving: they are counted at the lesson they have reached, not at
the one after which they slowed down.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from core.models import (
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Enrollment,
    EnrollmentState,
    Event,
    Subscriber,
    SubscriberStatus,
)
from courses.model import Course

# SendGrid's names for the two tracking events; both are off unless an author turns them on.
TRACKING = ("open", "click")
# Handed to the provider: what the reader was sent, whatever became of it after.
SENT = (DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.BOUNCED)
WAITING = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.IN_FLIGHT)


@dataclass(frozen=True)
class CourseCounts:
    """A course's enrollments by state."""

    enrolled: int = 0
    active: int = 0
    paused: int = 0
    completed: int = 0
    cancelled: int = 0


@dataclass
class Step:
    """One lesson of the funnel: how its deliveries went, and who stopped after it."""

    slug: str
    subject: str
    number: int | None  # None: a lesson that is no longer in the course
    statuses: dict[DeliveryStatus, int] = field(default_factory=dict)
    paused_after: int = 0
    slowed_at: int = 0
    unsubscribed_after: int = 0
    opens: int = 0
    clicks: int = 0

    def count(self, *statuses: DeliveryStatus) -> int:
        return sum(self.statuses.get(status, 0) for status in statuses)

    @property
    def sent(self) -> int:
        return self.count(*SENT)

    @property
    def delivered(self) -> int:
        return self.count(DeliveryStatus.DELIVERED)

    @property
    def bounced(self) -> int:
        return self.count(DeliveryStatus.BOUNCED)

    @property
    def failed(self) -> int:
        return self.count(DeliveryStatus.FAILED)

    @property
    def in_doubt(self) -> int:
        return self.count(DeliveryStatus.UNKNOWN)

    @property
    def waiting(self) -> int:
        return self.count(*WAITING)

    @property
    def skipped(self) -> int:
        return self.count(DeliveryStatus.SKIPPED)

    def share(self, part: int) -> float | None:
        """`part` as a share of the readers sent this lesson; None when none were."""
        return part / self.sent if self.sent else None


@dataclass
class Funnel:
    course: Course
    counts: CourseCounts
    steps: list[Step]
    # Readers who paused or left before their first lesson was sent.
    paused_before_first: int = 0
    unsubscribed_before_first: int = 0
    tracking: bool = False  # whether any open or click event exists for this course


def course_counts(session: Session, slugs: Iterable[str]) -> dict[str, CourseCounts]:
    """Enrollments by state for each course, in one grouped query."""
    slugs = list(slugs)
    found: dict[str, dict[str, int]] = {slug: {} for slug in slugs}
    if not slugs:
        return {}
    query = (
        select(Enrollment.course, Enrollment.state, func.count())
        .where(Enrollment.course.in_(slugs))
        .group_by(Enrollment.course, Enrollment.state)
    )
    for course, state, count in session.execute(query):
        found[course][str(state)] = count
    return {slug: _counts(states) for slug, states in found.items()}


def _counts(states: dict[str, int]) -> CourseCounts:
    return CourseCounts(
        enrolled=sum(states.values()),
        active=states.get(EnrollmentState.ACTIVE, 0),
        paused=states.get(EnrollmentState.PAUSED, 0),
        completed=states.get(EnrollmentState.COMPLETED, 0),
        cancelled=states.get(EnrollmentState.CANCELLED, 0),
    )


def funnel(session: Session, course: Course) -> Funnel:
    steps = [
        Step(lesson.slug, lesson.subject, number)
        for number, lesson in enumerate(course.lessons, start=1)
    ]
    by_slug = {step.slug: step for step in steps}
    result = Funnel(course, CourseCounts(), steps)
    _add_deliveries(session, course, by_slug, steps)
    _add_enrollments(session, course, result)
    _add_leavers(session, course, result)
    result.tracking = _add_tracking(session, course, by_slug)
    return result


def _add_deliveries(
    session: Session, course: Course, by_slug: dict[str, Step], steps: list[Step]
) -> None:
    query = (
        select(Delivery.lesson, Delivery.status, func.count())
        .join(Enrollment, Enrollment.id == Delivery.enrollment_id)
        .where(Enrollment.course == course.slug, Delivery.kind == DeliveryKind.LESSON)
        .group_by(Delivery.lesson, Delivery.status)
    )
    for lesson, status, count in session.execute(query):
        step = by_slug.get(lesson or "")
        if step is None:  # removed from the course since: shown after the others
            step = by_slug[lesson or ""] = Step(lesson or "", "", None)
            steps.append(step)
        step.statuses[status] = count


def _add_enrollments(session: Session, course: Course, result: Funnel) -> None:
    slowed = case((Enrollment.pace > 1, 1), else_=0)
    query = (
        select(Enrollment.state, Enrollment.position, slowed, func.count())
        .where(Enrollment.course == course.slug)
        .group_by(Enrollment.state, Enrollment.position, slowed)
    )
    states: dict[str, int] = defaultdict(int)
    for state, position, is_slow, count in session.execute(query):
        states[str(state)] += count
        step = _last_sent(result, position)
        if state is EnrollmentState.PAUSED:
            if step is None:
                result.paused_before_first += count
            else:
                step.paused_after += count
        if is_slow and step is not None and state is not EnrollmentState.CANCELLED:
            step.slowed_at += count
    result.counts = _counts(states)


def _add_leavers(session: Session, course: Course, result: Funnel) -> None:
    """Readers who unsubscribed, by the lesson their enrollment stood at when it stopped."""
    query = (
        select(Enrollment.position, func.count())
        .join(Subscriber, Subscriber.id == Enrollment.subscriber_id)
        .where(
            Enrollment.course == course.slug,
            Enrollment.state == EnrollmentState.CANCELLED,
            Subscriber.status == SubscriberStatus.UNSUBSCRIBED,
        )
        .group_by(Enrollment.position)
    )
    for position, count in session.execute(query):
        step = _last_sent(result, position)
        if step is None:
            result.unsubscribed_before_first += count
        else:
            step.unsubscribed_after += count


def _last_sent(result: Funnel, position: int) -> Step | None:
    """The lesson before `position` (the next lesson's index) in today's order; a position
    past the end (lessons were removed) counts at the last lesson."""
    lessons = len(result.course.lessons)
    if position <= 0 or lessons == 0:
        return None
    return result.steps[min(position, lessons) - 1]


def _add_tracking(session: Session, course: Course, by_slug: dict[str, Step]) -> bool:
    """Readers who opened or clicked each lesson; False when tracking has recorded nothing."""
    if session.scalar(select(Event.id).where(Event.type.in_(TRACKING)).limit(1)) is None:
        return False  # off, as it is by default: one index probe, no join
    query = (
        select(Delivery.lesson, Event.type, func.count(func.distinct(Event.delivery_id)))
        .join(Delivery, Delivery.id == Event.delivery_id)
        .join(Enrollment, Enrollment.id == Delivery.enrollment_id)
        .where(
            Event.type.in_(TRACKING),
            Enrollment.course == course.slug,
            Delivery.kind == DeliveryKind.LESSON,
        )
        .group_by(Delivery.lesson, Event.type)
    )
    found = False
    for lesson, kind, count in session.execute(query):
        step = by_slug.get(lesson or "")
        if step is None:
            continue
        found = True
        if kind == "open":
            step.opens = count
        else:
            step.clicks = count
    return found

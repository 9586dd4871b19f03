"""A reader's library: the lessons and issues they have received, and what is still to come.

Only what was actually sent to the reader opens (sent or delivered, in any round); the
rest of a course shows as locked. The web page reads these plain records and never the
database itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from core.models import (
    Broadcast,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Enrollment,
    EnrollmentState,
    Membership,
    Subscriber,
    SubscriberStatus,
)
from courses.model import Catalog, Letter

RECEIVED = (DeliveryStatus.SENT, DeliveryStatus.DELIVERED)
# A paused course still has lessons on their way; a cancelled or completed one has not.
CONTINUING = (EnrollmentState.ACTIVE, EnrollmentState.PAUSED)


@dataclass(frozen=True)
class Reader:
    id: int
    uid: str
    first_name: str | None
    timezone: str


@dataclass(frozen=True)
class LibraryLetter:
    slug: str
    subject: str
    received_at: datetime | None  # when it was first sent to this reader; None: not yet

    @property
    def received(self) -> bool:
        return self.received_at is not None


@dataclass(frozen=True)
class Shelf:
    """One course or newsletter, its letters in the publication's own order."""

    slug: str
    title: str
    letters: tuple[LibraryLetter, ...]
    # The reader still gets this publication, so its locked letters will come.
    coming: bool


def find_reader(session: Session, uid: str) -> Reader | None:
    query = select(Subscriber.id, Subscriber.uid, Subscriber.first_name, Subscriber.timezone)
    row = session.execute(query.where(Subscriber.uid == uid)).one_or_none()
    return Reader(*row) if row else None


def library(session: Session, subscriber_id: int, catalog: Catalog) -> list[Shelf]:
    """The reader's courses (in the order they joined them), then the newsletters whose
    issues reached them. A course or letter no longer in the catalog is left out."""
    active = _is_active(session, subscriber_id)
    return [
        *_course_shelves(session, subscriber_id, catalog, active),
        *_newsletter_shelves(session, subscriber_id, catalog, active),
    ]


def has_received(shelves: Sequence[Shelf], publication: str, letter: str) -> bool:
    """Whether the reader has received this letter, so may read it on the web."""
    return any(
        shelf.slug == publication and entry.slug == letter and entry.received
        for shelf in shelves
        for entry in shelf.letters
    )


def _is_active(session: Session, subscriber_id: int) -> bool:
    status = session.scalar(select(Subscriber.status).where(Subscriber.id == subscriber_id))
    return status is SubscriberStatus.ACTIVE


def _course_shelves(
    session: Session, subscriber_id: int, catalog: Catalog, active: bool
) -> list[Shelf]:
    query = (
        select(Enrollment.course, Enrollment.state)
        .where(Enrollment.subscriber_id == subscriber_id)
        .order_by(Enrollment.started_at, Enrollment.id)
    )
    received = _lessons_received(session, subscriber_id)
    shelves = []
    for slug, state in session.execute(query):
        course = catalog.get(slug)
        if course is not None:
            letters = _letters(course.lessons, received.get(slug, {}))
            shelves.append(Shelf(slug, course.title, letters, active and state in CONTINUING))
    return shelves


def _newsletter_shelves(
    session: Session, subscriber_id: int, catalog: Catalog, active: bool
) -> list[Shelf]:
    received = _issues_received(session, subscriber_id)
    on_lists = _lists_on(session, subscriber_id)
    return [
        Shelf(
            newsletter.slug,
            newsletter.title,
            _letters(newsletter.issues, received[newsletter.slug]),
            active and newsletter.list in on_lists,
        )
        for newsletter in catalog.newsletters.values()
        if newsletter.slug in received
    ]


def _letters(letters: Sequence[Letter], received: dict[str, datetime]) -> tuple[LibraryLetter, ...]:
    """The letters received, and those after the furthest one received: the ones still
    ahead. An unreceived letter before that point (added to a course behind the reader, an
    issue from before they joined) will never come, so it is not shown."""
    furthest = max(
        (index for index, letter in enumerate(letters) if letter.slug in received), default=-1
    )
    return tuple(
        LibraryLetter(letter.slug, letter.subject, received.get(letter.slug))
        for index, letter in enumerate(letters)
        if letter.slug in received or index > furthest
    )


def _sent_at() -> ColumnElement[datetime]:
    # sent_at is set whenever a send is recorded; updated_at covers rows from before that.
    return func.min(func.coalesce(Delivery.sent_at, Delivery.updated_at))


def _lessons_received(session: Session, subscriber_id: int) -> dict[str, dict[str, datetime]]:
    """course -> lesson -> when it was first received, over every round."""
    query = (
        select(Enrollment.course, Delivery.lesson, _sent_at())
        .join(Enrollment, Delivery.enrollment_id == Enrollment.id)
        .where(
            Delivery.subscriber_id == subscriber_id,
            Delivery.kind == DeliveryKind.LESSON,
            Delivery.status.in_(RECEIVED),
        )
        .group_by(Enrollment.course, Delivery.lesson)
    )
    found: dict[str, dict[str, datetime]] = {}
    for course, lesson, when in session.execute(query):
        found.setdefault(course, {})[lesson] = when
    return found


def _issues_received(session: Session, subscriber_id: int) -> dict[str, dict[str, datetime]]:
    """newsletter -> issue -> when it was received."""
    query = (
        select(Broadcast.issue, _sent_at())
        .join(Broadcast, Delivery.broadcast_id == Broadcast.id)
        .where(
            Delivery.subscriber_id == subscriber_id,
            Delivery.kind == DeliveryKind.ISSUE,
            Delivery.status.in_(RECEIVED),
        )
        .group_by(Broadcast.issue)
    )
    found: dict[str, dict[str, datetime]] = {}
    for key, when in session.execute(query):
        newsletter, _, issue = key.partition("/")
        found.setdefault(newsletter, {})[issue] = when
    return found


def _lists_on(session: Session, subscriber_id: int) -> set[str]:
    query = select(Membership.list).where(
        Membership.subscriber_id == subscriber_id, Membership.left_at.is_(None)
    )
    return set(session.scalars(query))

"""Failed, in-doubt and bounced deliveries, newest first, a page at a time.

Every query here starts from `ix_deliveries_status_updated_at (status, updated_at)`: one
status at a time, walked from its newest row down. Pages are found by keyset (the last
row's updated_at and id), so the thousandth page costs what the first does, whatever the
size of the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, and_, func, or_, select, true
from sqlalchemy.orm import Session

from core.models import Broadcast, Delivery, DeliveryKind, DeliveryStatus, Enrollment, Subscriber

# The statuses the page shows: the first two may be sent again, bounces are information.
SHOWN = (DeliveryStatus.FAILED, DeliveryStatus.UNKNOWN, DeliveryStatus.BOUNCED)
PAGE_SIZE = 50
COUNT_CAP = 10_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
T = TypeVar("T")


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: the (time, id) of its last row. Written into links as
    "<microseconds since 1970>-<id>", which needs no escaping in a URL."""

    at: datetime
    id: int

    def __str__(self) -> str:
        return f"{(self.at - _EPOCH) // _MICROSECOND}-{self.id}"

    @classmethod
    def parse(cls, text: str | None) -> Cursor | None:
        """The cursor in `text`, or None (the first page) for anything malformed."""
        micros, _, row_id = (text or "").partition("-")
        if not (micros.isdigit() and row_id.isdigit()) or len(micros) > 18:
            return None
        return cls(_EPOCH + int(micros) * _MICROSECOND, int(row_id))


def older_than(cursor: Cursor | None, at: Any, row_id: Any) -> ColumnElement[bool]:
    """Rows after `cursor` in newest-first order. Written as `at <= t AND (at < t OR id < i)`
    rather than a row comparison, so the first half is a range on the (…, at) index."""
    if cursor is None:
        return true()
    return and_(at <= cursor.at, or_(at < cursor.at, row_id < cursor.id))


@dataclass(frozen=True)
class FailureRow:
    id: int
    kind: DeliveryKind
    status: DeliveryStatus
    subscriber_id: int
    email: str
    letter: str  # the lesson or issue, or the kind of notice
    attempts: int
    last_error: str | None
    updated_at: datetime


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    next: Cursor | None  # None on the last page


def status_counts(session: Session) -> dict[DeliveryStatus, int]:
    """How many deliveries are in each shown status, counted up to COUNT_CAP + 1: an
    index-only walk of at most that many entries, however many bounces pile up over the
    years. A count above COUNT_CAP reads as "more than COUNT_CAP"."""
    counts = {}
    for status in SHOWN:
        some = select(Delivery.status).where(Delivery.status == status).limit(COUNT_CAP + 1)
        counts[status] = session.scalar(select(func.count()).select_from(some.subquery())) or 0
    return counts


def failures(
    session: Session, status: DeliveryStatus, after: Cursor | None = None, size: int = PAGE_SIZE
) -> Page[FailureRow]:
    """One page of deliveries in `status`, newest first, after `after`."""
    query = (
        select(
            Delivery.id,
            Delivery.kind,
            Delivery.status,
            Delivery.subscriber_id,
            Subscriber.email,
            Delivery.lesson,
            Enrollment.course,
            Broadcast.issue,
            Delivery.attempts,
            Delivery.last_error,
            Delivery.updated_at,
        )
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .outerjoin(Enrollment, Enrollment.id == Delivery.enrollment_id)
        .outerjoin(Broadcast, Broadcast.id == Delivery.broadcast_id)
        .where(Delivery.status == status, older_than(after, Delivery.updated_at, Delivery.id))
        .order_by(Delivery.updated_at.desc(), Delivery.id.desc())
        .limit(size + 1)
    )
    rows = [_row(values) for values in session.execute(query)]
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows, Cursor(rows[-1].updated_at, rows[-1].id) if more else None)


def _row(values: Any) -> FailureRow:
    return FailureRow(
        id=values.id,
        kind=values.kind,
        status=values.status,
        subscriber_id=values.subscriber_id,
        email=values.email,
        letter=_letter(values.kind, values.course, values.lesson, values.issue),
        attempts=values.attempts,
        last_error=values.last_error,
        updated_at=values.updated_at,
    )


def _letter(kind: DeliveryKind, course: str | None, lesson: str | None, issue: str | None) -> str:
    if kind is DeliveryKind.LESSON:
        return f"{course or '?'} / {lesson or '?'}"
    if kind is DeliveryKind.ISSUE:
        return issue or "an issue no longer there"
    return {DeliveryKind.CONFIRMATION: "confirmation", DeliveryKind.ALREADY_HERE: "already here"}[
        kind
    ]

"""One reader as the dashboard shows them: profile, consent record, courses, lists, and a
timeline of what happened to them, newest first.

The timeline merges a few small queries, each limited and each served by an index on the
reader's id (enrollments, deliveries) or on the delivery (events): a reader with years of
letters costs no more than TIMELINE_LIMIT rows of each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from heapq import merge
from itertools import islice
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from core.models import (
    Broadcast,
    Delivery,
    DeliveryKind,
    Enrollment,
    Event,
    Membership,
    Subscriber,
    Suppression,
)
from tasks.operator_actions import RESENDABLE

TIMELINE_LIMIT = 200
REASON_LENGTH = 300


@dataclass(frozen=True)
class Item:
    """One line of the timeline. `delivery_id` is set for a lesson that may be resent."""

    at: datetime
    what: str  # "signed up", "enrolled", "delivery", "event", ...
    subject: str  # the course, lesson, issue or letter it is about
    detail: str  # a status, a reason; "" when there is nothing to add
    delivery_id: int | None = None


@dataclass(frozen=True)
class MembershipRow:
    list: str
    joined_at: datetime
    left_at: datetime | None


@dataclass(frozen=True)
class ReaderFile:
    reader: Subscriber
    suppressed: bool
    enrollments: list[Enrollment]
    memberships: list[MembershipRow]
    timeline: list[Item]


def find_reader(session: Session, reader_id: int) -> Subscriber | None:
    return session.get(Subscriber, reader_id)


def reader_file(session: Session, reader_id: int, limit: int = TIMELINE_LIMIT) -> ReaderFile | None:
    """Everything the reader's dashboard page shows; None if there is no such reader."""
    reader = find_reader(session, reader_id)
    if reader is None:
        return None
    enrollments = list(
        session.scalars(
            select(Enrollment).where(Enrollment.subscriber_id == reader_id).order_by(Enrollment.id)
        )
    )
    return ReaderFile(
        reader=reader,
        suppressed=_suppressed(session, reader.email),
        enrollments=enrollments,
        memberships=_memberships(session, reader_id),
        timeline=timeline(session, reader, enrollments, limit),
    )


def timeline(
    session: Session, reader: Subscriber, enrollments: list[Enrollment], limit: int
) -> list[Item]:
    """The reader's last `limit` happenings, newest first."""
    streams = (
        _milestones(reader),
        _starts(enrollments),
        _deliveries(session, reader.id, limit),
        _events(session, reader.id, limit),
    )
    newest_first = merge(*streams, key=lambda item: item.at, reverse=True)
    return list(islice(newest_first, limit))


def _suppressed(session: Session, email: str) -> bool:
    # Clear addresses only: a hashed suppression belongs to an erased reader, not this one.
    query = select(Suppression.id).where(func.lower(Suppression.email) == email.lower())
    return session.scalars(query.limit(1)).first() is not None


def _memberships(session: Session, reader_id: int) -> list[MembershipRow]:
    query = (
        select(Membership.list, Membership.joined_at, Membership.left_at)
        .where(Membership.subscriber_id == reader_id)
        .order_by(Membership.list)
    )
    return [MembershipRow(*row) for row in session.execute(query)]


def _milestones(reader: Subscriber) -> list[Item]:
    moments = [
        (reader.consent_at, "signed up", reader.consent_source or "", reader.consent_ip or ""),
        (reader.confirmed_at, "confirmed", "", reader.confirmed_ip or ""),
        (reader.unsubscribed_at, "left", "", reader.unsubscribe_channel or ""),
    ]
    items = [Item(at, what, subject, detail) for at, what, subject, detail in moments if at]
    return sorted(items, key=lambda item: item.at, reverse=True)


def _starts(enrollments: list[Enrollment]) -> list[Item]:
    items = [Item(e.started_at, "enrolled", e.course, f"round {e.round}") for e in enrollments]
    return sorted(items, key=lambda item: item.at, reverse=True)


def _deliveries(session: Session, reader_id: int, limit: int) -> list[Item]:
    # A delivery stands on the timeline when it went out, or when it was written if not.
    moment = func.coalesce(Delivery.sent_at, Delivery.created_at)
    query = (
        select(
            moment.label("at"),
            Delivery.id,
            Delivery.kind,
            Delivery.status,
            Delivery.lesson,
            Delivery.last_error,
            Enrollment.course,
            Broadcast.issue,
        )
        .outerjoin(Enrollment, Delivery.enrollment_id == Enrollment.id)
        .outerjoin(Broadcast, Delivery.broadcast_id == Broadcast.id)
        .where(Delivery.subscriber_id == reader_id)
        .order_by(moment.desc(), Delivery.id.desc())
        .limit(limit)
    )
    return [_delivery_item(row) for row in session.execute(query)]


def _delivery_item(row: Row[Any]) -> Item:
    at, delivery_id, kind, status, lesson, error, course, issue = row
    if kind is DeliveryKind.LESSON:
        subject = f"{course}/{lesson}"
    elif kind is DeliveryKind.ISSUE:
        subject = issue or "an issue"
    else:
        subject = ""
    detail = f"{status}: {error}" if error else str(status)
    resendable = kind is DeliveryKind.LESSON and status in RESENDABLE
    return Item(
        at, str(kind).replace("_", " "), subject, detail, delivery_id if resendable else None
    )


def _events(session: Session, reader_id: int, limit: int) -> list[Item]:
    """Provider events about the reader's deliveries, with the reason they give."""
    reason = func.coalesce(
        Event.payload["reason"].as_string(), Event.payload["response"].as_string()
    )
    query = (
        select(Event.occurred_at, Event.type, reason, Delivery.kind, Delivery.lesson)
        .join(Delivery, Event.delivery_id == Delivery.id)
        .where(Delivery.subscriber_id == reader_id)
        .order_by(Event.occurred_at.desc(), Event.id.desc())
        .limit(limit)
    )
    return [
        Item(
            at, f"event: {name}", lesson or str(kind).replace("_", " "), (why or "")[:REASON_LENGTH]
        )
        for at, name, why, kind, lesson in session.execute(query)
    ]

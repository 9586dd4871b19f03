"""SendGrid's events: stored once, then applied to deliveries and readers.

SendGrid posts events in batches, retries a batch for 24 hours until it is answered 2xx,
and may send the same event twice. So the webhook only stores them (unique on
`sg_event_id`, and a state change once per message, event and address) and a task applies
them; applying one twice changes nothing more.

What each event means:
- processed, deferred, delivered, a soft bounce (`blocked`), open, click: SendGrid has the
  message. A delivery still in doubt (`unknown`) or not yet recorded is settled as sent.
- delivered: it reached the reader's mail server.
- bounce (hard), dropped: it never will; the address is suppressed and the reader stopped.
- spamreport: the reader called it spam; suppressed, marked complained, stopped.
- unsubscribe, group_unsubscribe: the reader left through SendGrid's own link.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, joinedload

from core.db import is_postgresql
from core.models import (
    Delivery,
    DeliveryStatus,
    Event,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from tasks.readers import is_suppressed, stop_mail

log = logging.getLogger(__name__)

PROVIDER = "sendgrid"
# Events that change a delivery or a reader: kept once per message, event and address.
# The others (deferred, open, click) may rightly come more than once.
CHANGES = {"processed", "delivered", "bounce", "dropped", "spamreport", "unsubscribe"}
CHANGES |= {"group_unsubscribe"}
# Statuses a delivery can still leave: an event saying SendGrid has the mail ends them.
UNSETTLED = {
    DeliveryStatus.QUEUED,
    DeliveryStatus.SENDING,
    DeliveryStatus.IN_FLIGHT,
    DeliveryStatus.UNKNOWN,
    DeliveryStatus.FAILED,
}
# Stopping a reader for good: (reader status, suppression reason).
STOPS = {
    "bounce": (SubscriberStatus.BOUNCED, "bounce"),
    "dropped": (SubscriberStatus.BOUNCED, "dropped"),
    "spamreport": (SubscriberStatus.COMPLAINED, "complaint"),
    "unsubscribe": (SubscriberStatus.UNSUBSCRIBED, "unsubscribe"),
    "group_unsubscribe": (SubscriberStatus.UNSUBSCRIBED, "unsubscribe"),
}


class EventError(ValueError):
    """A posted event that is not one (the whole post is refused: SendGrid never sends it)."""


def parse(events: Any, now: datetime) -> list[dict[str, Any]]:
    """Rows for the events table from a posted JSON array; EventError if it is not one."""
    if not isinstance(events, list):
        raise EventError("expected a JSON array of events")
    return [_row(event, number, now) for number, event in enumerate(events)]


def _row(event: Any, number: int, now: datetime) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise EventError(f"event {number} is not an object")
    if not _storable(event):
        raise EventError(f"event {number} holds text no database stores")
    event_id, kind, email = event.get("sg_event_id"), event.get("event"), event.get("email")
    if not (isinstance(event_id, str) and 0 < len(event_id) <= 200):
        raise EventError(f"event {number} has no sg_event_id")
    if not (isinstance(kind, str) and 0 < len(kind) <= 40):
        raise EventError(f"event {number} has no event type")
    # Stored lowered (suppressions), and lower() can lengthen text: "İ" becomes two.
    if not (isinstance(email, str) and 0 < len(email.lower()) <= 320):
        raise EventError(f"event {number} has no email")
    stamp = event.get("timestamp")
    occurred = _time(stamp) if isinstance(stamp, int | float) else now
    message = str(event.get("sg_message_id", ""))[:200]
    change = f"{message}|{kind}|{email.lower()}"[:400] if kind in CHANGES else None
    return {
        "provider": PROVIDER,
        "provider_event_id": event_id,
        "change_key": change,
        "type": kind,
        "occurred_at": occurred,
        "received_at": now,
        "payload": event,
    }


def _storable(value: Any) -> bool:
    """Whether every text in it can be stored: no lone surrogate (JSON "\ud800" parses
    into one, and no database takes it) and no NUL (PostgreSQL's text cannot hold it)."""
    if isinstance(value, str):
        return "\x00" not in value and not any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable(item) for item in value)
    return True


def _time(stamp: float) -> datetime:
    try:
        return datetime.fromtimestamp(stamp, UTC)
    except (OverflowError, OSError, ValueError):
        raise EventError(f"timestamp {stamp!r} is out of range") from None


def store(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert the events not seen before; return the ids of those that are new."""
    if not rows:
        return []
    dialect_insert = postgresql.insert if is_postgresql(session) else sqlite.insert
    # No conflict target: a repeat of either unique key (event id, change) is skipped.
    statement = dialect_insert(Event).on_conflict_do_nothing().returning(Event.id)
    return [row.id for row in session.execute(statement, rows)]


def apply(session: Session, event_ids: Iterable[int], now: datetime) -> int:
    """Apply stored events not applied yet, oldest first; return how many were applied."""
    query = (
        select(Event)
        .where(Event.id.in_(list(event_ids)), Event.processed_at.is_(None))
        .order_by(Event.occurred_at, Event.id)
    )
    if is_postgresql(session):
        query = query.with_for_update(skip_locked=True)
    events = list(session.scalars(query))
    deliveries = _deliveries(session, events)
    for event in events:
        delivery = deliveries.get(_delivery_id(event.payload) or 0)
        email = str(event.payload.get("email", ""))
        if delivery is not None and delivery.subscriber.email.lower() != email.lower():
            delivery = None  # custom args that do not match the address: trust the address
        event.delivery_id = delivery.id if delivery else None
        _settle(event, delivery, now)
        if event.type in STOPS and _hard(event):
            _stop(session, event, email, now)
        event.processed_at = now
    return len(events)


def unapplied(session: Session, older_than: datetime, limit: int = 10_000) -> list[int]:
    """Events stored but never applied (their task was lost): the tick applies them."""
    query = (
        select(Event.id)
        .where(Event.processed_at.is_(None), Event.received_at < older_than)
        .order_by(Event.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def _deliveries(session: Session, events: list[Event]) -> dict[int, Delivery]:
    ids = {_delivery_id(event.payload) for event in events} - {None}
    query = select(Delivery).where(Delivery.id.in_(ids)).options(joinedload(Delivery.subscriber))
    return {delivery.id: delivery for delivery in session.scalars(query)} if ids else {}


def _delivery_id(payload: Mapping[str, Any]) -> int | None:
    value = payload.get("tend_delivery")
    try:
        number = int(str(value))
    except ValueError:
        return None
    return number if 0 < number < 2**63 else None


def _hard(event: Event) -> bool:
    """A bounce of type `blocked` is soft: the address may work tomorrow."""
    return not (event.type == "bounce" and event.payload.get("type") == "blocked")


def _settle(event: Event, delivery: Delivery | None, now: datetime) -> None:
    """What the event says about the one message it is about."""
    if delivery is None:
        return
    was = delivery.status
    if was in UNSETTLED and event.type != "dropped":
        # SendGrid has it: whatever was in doubt or about to be sent again is done.
        delivery.status = DeliveryStatus.SENT
        delivery.sent_at = delivery.sent_at or event.occurred_at
        delivery.lease_until = None
        delivery.last_error = None
        if not delivery.provider_message_id:
            message = str(event.payload.get("sg_message_id", ""))
            delivery.provider_message_id = message.partition(".")[0][:200] or None
    if event.type == "delivered" and delivery.status is DeliveryStatus.SENT:
        delivery.status = DeliveryStatus.DELIVERED
    elif event.type == "bounce" and _hard(event):
        delivery.status = DeliveryStatus.BOUNCED
        delivery.last_error = _reason(event)
    elif event.type == "dropped" and delivery.status is not DeliveryStatus.DELIVERED:
        delivery.status = DeliveryStatus.FAILED
        delivery.lease_until = None
        delivery.last_error = f"dropped by SendGrid: {_reason(event)}"
    if delivery.status is not was:
        delivery.updated_at = now


def _reason(event: Event) -> str:
    payload = event.payload
    return str(payload.get("reason") or payload.get("response") or event.type)[:500]


def _stop(session: Session, event: Event, email: str, now: datetime) -> None:
    """The address must get nothing more: suppress it, and stop its reader if we have one."""
    status, reason = STOPS[event.type]
    if not is_suppressed(session, email):  # nor an erased reader's, kept only as a hash
        _suppress(session, email, reason, now)
    subscriber = session.scalars(
        select(Subscriber).where(func.lower(Subscriber.email) == email.lower())
    ).one_or_none()
    if subscriber is None or subscriber.status in {SubscriberStatus.BOUNCED, status}:
        return
    if subscriber.status is SubscriberStatus.COMPLAINED:
        return  # a complaint is the strongest word; later events do not soften it
    stop_mail(session, subscriber, status, f"sendgrid {event.type}", now)
    log.info(
        "reader stopped by a provider event",
        extra={"subscriber": subscriber.id, "event": event.type, "status": str(status)},
    )


def _suppress(session: Session, email: str, reason: str, now: datetime) -> None:
    dialect_insert = postgresql.insert if is_postgresql(session) else sqlite.insert
    session.execute(
        dialect_insert(Suppression)
        .values(email=email.lower(), reason=reason, source="sendgrid", created_at=now)
        .on_conflict_do_nothing()
    )

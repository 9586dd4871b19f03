"""A reader's own data: all of it to take away, or all of it erased (GDPR art. 15, 17, 20).

The download holds what the reader gave us and what we recorded about them, never our
own handles (row ids, the uid, tokens, provider message ids): they mean nothing to the
reader, and a file that leaks later should open no door.

Erasing leaves one thing behind: a keyed hash of the address in `suppressions`, so that
neither an import nor a signup can bring the address back, while the table no longer
holds the address itself.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.config import Settings, get_settings
from core.db import is_postgresql
from core.models import (
    Broadcast,
    Delivery,
    Enrollment,
    Event,
    Membership,
    Subscriber,
    Suppression,
)

log = logging.getLogger(__name__)

ERASED_REASON = "erased"
ERASED_SOURCE = "reader"
# Narrows the secret key to this one use: a suppression hash can never equal a link's
# signature or a session's, although the same secret underlies them.
_HASH_PURPOSE = b"tend.suppression-hash"

CONSENT_FIELDS = (
    "consent_at",
    "consent_ip",
    "consent_user_agent",
    "consent_source",
    "consent_text_version",
    "confirmed_at",
    "confirmed_ip",
    "confirmed_user_agent",
    "unsubscribed_at",
    "unsubscribe_channel",
)


def hash_key(settings: Settings | None = None) -> str:
    """The key of suppression hashes: the oldest of the secret keys.

    Keys rotate by adding a new one at the end (the last signs, all verify), so the first
    is the one that stays longest. A hash only matches under the key it was made with:
    once the first key is removed, erased addresses are no longer recognised.
    """
    return (settings or get_settings()).require_secret_key()[0]


def address_hash(email: str, key: str) -> str:
    """HMAC-SHA256 of the lower-cased address, in hex.

    Keyed, because addresses are easy to guess: a plain hash of one is found again by
    hashing a list of addresses. Without the key, the table cannot be searched that way.
    """
    subkey = hmac.new(key.encode(), _HASH_PURPOSE, hashlib.sha256).digest()
    return hmac.new(subkey, email.strip().lower().encode(), hashlib.sha256).hexdigest()


def has_reader(session: Session, uid: str) -> bool:
    return _reader(session, uid) is not None


def export(session: Session, uid: str, now: datetime) -> dict[str, Any] | None:
    """Everything we keep about the reader, as JSON-ready data; None if they are gone."""
    reader = _reader(session, uid)
    if reader is None:
        return None
    log.info("reader downloaded their data", extra={"subscriber": reader.id})
    return {
        "exported_at": _iso(now),
        "profile": {
            "email": reader.email,
            "first_name": reader.first_name,
            "timezone": reader.timezone,
            "status": str(reader.status),
            "created_at": _iso(reader.created_at),
        },
        "consent": {name: _plain(getattr(reader, name)) for name in CONSENT_FIELDS},
        "enrollments": _enrollments(session, reader.id),
        "memberships": _memberships(session, reader.id),
        "deliveries": _deliveries(session, reader.id),
    }


def erase(
    session: Session, uid: str, key: str, now: datetime, source: str = ERASED_SOURCE
) -> int | None:
    """Delete the reader and all of theirs, keeping only their address's hash as a
    suppression. Their former id, or None if there was no such reader (already erased).

    `source` says who asked: the reader, or an operator ("operator:<email>") on their behalf.
    """
    reader = _reader(session, uid)
    if reader is None:
        return None
    reader_id, email = reader.id, reader.email
    _delete_events(session, reader_id, email)
    # The schema cascades these from the subscriber; deleting them by name says what goes.
    session.execute(delete(Delivery).where(Delivery.subscriber_id == reader_id))
    session.execute(delete(Membership).where(Membership.subscriber_id == reader_id))
    session.execute(delete(Enrollment).where(Enrollment.subscriber_id == reader_id))
    session.execute(delete(Subscriber).where(Subscriber.id == reader_id))
    session.execute(delete(Suppression).where(func.lower(Suppression.email) == email.lower()))
    _suppress_hash(session, address_hash(email, key), now, source)
    asked = "at their request" if source == ERASED_SOURCE else "by an operator"
    log.info(f"reader erased {asked}", extra={"subscriber": reader_id, "source": source})
    return reader_id


def _reader(session: Session, uid: str) -> Subscriber | None:
    return session.scalars(select(Subscriber).where(Subscriber.uid == uid)).one_or_none()


def _enrollments(session: Session, reader_id: int) -> list[dict[str, Any]]:
    query = (
        select(Enrollment)
        .where(Enrollment.subscriber_id == reader_id)
        .order_by(Enrollment.started_at, Enrollment.id)
    )
    return [
        {
            "course": enrollment.course,
            "state": str(enrollment.state),
            "position": enrollment.position,
            "started_at": _iso(enrollment.started_at),
            "paused_until": _iso(enrollment.paused_until),
            "pace": enrollment.pace,
            "completed_at": _iso(enrollment.completed_at),
        }
        for enrollment in session.scalars(query)
    ]


def _memberships(session: Session, reader_id: int) -> list[dict[str, Any]]:
    query = (
        select(Membership)
        .where(Membership.subscriber_id == reader_id)
        .order_by(Membership.joined_at, Membership.id)
    )
    return [
        {
            "list": membership.list,
            "joined_at": _iso(membership.joined_at),
            "left_at": _iso(membership.left_at),
        }
        for membership in session.scalars(query)
    ]


def _deliveries(session: Session, reader_id: int) -> list[dict[str, Any]]:
    query = (
        select(
            Delivery.kind,
            Enrollment.course,
            Delivery.lesson,
            Broadcast.issue,
            Delivery.status,
            Delivery.sent_at,
            Delivery.created_at,
        )
        .outerjoin(Enrollment, Delivery.enrollment_id == Enrollment.id)
        .outerjoin(Broadcast, Delivery.broadcast_id == Broadcast.id)
        .where(Delivery.subscriber_id == reader_id)
        .order_by(Delivery.created_at, Delivery.id)
    )
    return [
        {
            "kind": str(row.kind),
            "course": row.course,
            "lesson": row.lesson,
            "issue": row.issue,
            "status": str(row.status),
            "sent_at": _iso(row.sent_at),
            "created_at": _iso(row.created_at),
        }
        for row in session.execute(query)
    ]


def _delete_events(session: Session, reader_id: int, email: str) -> None:
    """Provider events carry the address in their payload: those about the reader's
    deliveries, and any other naming the address (unmatched, or about a deleted delivery)."""
    theirs = select(Delivery.id).where(Delivery.subscriber_id == reader_id)
    named = func.lower(Event.payload["email"].as_string()) == email.lower()
    # A scan of the events table; erasing is rare, and no index on the payload is kept.
    session.execute(delete(Event).where(or_(Event.delivery_id.in_(theirs), named)))


def _suppress_hash(session: Session, digest: str, now: datetime, source: str) -> None:
    dialect_insert = postgresql.insert if is_postgresql(session) else sqlite.insert
    session.execute(
        dialect_insert(Suppression)
        .values(email_hash=digest, reason=ERASED_REASON, source=source[:100], created_at=now)
        .on_conflict_do_nothing()  # erased before, under another row of the same address
    )


def _plain(value: object) -> object:
    return _iso(value) if isinstance(value, datetime) else value


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()

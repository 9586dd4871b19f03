"""Readers who never confirmed are forgotten after 30 days.

A pending reader is an address someone typed, maybe not its owner's: it is kept only
as long as the confirmation link could still bring its owner here, and some weeks more
in case they sign up again. Their deliveries go with them, and the provider events about
those deliveries, which carry the address.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.models import Delivery, Event, Subscriber, SubscriberStatus

log = logging.getLogger(__name__)

PURGE_AFTER = timedelta(days=30)
LIMIT = 10_000  # a run; the next run takes the rest


def purge_unconfirmed(session: Session, now: datetime) -> int:
    """Delete pending readers whose last signup is older than 30 days; return how many."""
    cutoff = now - PURGE_AFTER
    ids = list(
        session.scalars(
            select(Subscriber.id)
            .where(
                Subscriber.status == SubscriberStatus.PENDING,
                Subscriber.confirmed_at.is_(None),
                Subscriber.created_at < cutoff,
                (Subscriber.consent_at.is_(None)) | (Subscriber.consent_at < cutoff),
            )
            .limit(LIMIT)
        )
    )
    if not ids:
        return 0
    theirs = select(Delivery.id).where(Delivery.subscriber_id.in_(ids))
    session.execute(delete(Event).where(Event.delivery_id.in_(theirs)))
    session.execute(delete(Delivery).where(Delivery.subscriber_id.in_(ids)))
    session.execute(delete(Subscriber).where(Subscriber.id.in_(ids)))
    log.info("forgot %d readers who never confirmed", len(ids), extra={"purged": len(ids)})
    return len(ids)

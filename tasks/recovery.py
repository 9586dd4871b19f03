"""What a worker that died mid-send leaves behind, settled by the tick.

- `sending` past its lease: never handed to the provider. The tick's stale sweep queues it
  again (schedule._requeue_stale), and a claim takes it.
- `in_flight` past its lease: its request went out, and no one heard the answer. It may
  have been delivered, so it becomes `unknown`, never queued blindly.
- `unknown`: the provider's events settle it (tasks/events.py: a `processed` or any later
  event means SendGrid took it). With no event after TEND_UNKNOWN_RESEND_AFTER, it was
  not taken, and it is queued again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.models import Delivery, DeliveryStatus

log = logging.getLogger(__name__)

LIMIT = 10_000  # per tick: a backlog is worked off over a few ticks


def doubt_in_flight(session: Session, now: datetime) -> int:
    """In-flight deliveries whose worker is gone become unknown; return how many."""
    stale = (
        select(Delivery.id)
        .where(Delivery.status == DeliveryStatus.IN_FLIGHT, Delivery.lease_until < now)
        .limit(LIMIT)
        .scalar_subquery()
    )
    result = session.execute(
        update(Delivery)
        .where(Delivery.id.in_(stale), Delivery.status == DeliveryStatus.IN_FLIGHT)
        .values(
            status=DeliveryStatus.UNKNOWN,
            lease_until=None,
            last_error="the worker stopped while the request was under way",
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount:
        log.warning("%d deliveries in doubt after a worker stopped", result.rowcount)
    return result.rowcount


def resend_unknown(session: Session, now: datetime, after: timedelta) -> list[tuple[int, str]]:
    """Unknown deliveries no event has settled in `after` are queued again; return their
    (id, kind) to send."""
    waited = (
        select(Delivery.id)
        .where(Delivery.status == DeliveryStatus.UNKNOWN, Delivery.updated_at <= now - after)
        .limit(LIMIT)
        .scalar_subquery()
    )
    rows = session.execute(
        update(Delivery)
        .where(Delivery.id.in_(waited), Delivery.status == DeliveryStatus.UNKNOWN)
        .values(status=DeliveryStatus.QUEUED, updated_at=now)
        .returning(Delivery.id, Delivery.kind, Delivery.lesson)
        .execution_options(synchronize_session=False)
    ).all()
    if rows:
        log.warning("%d deliveries had no word from the provider: sending them again", len(rows))
    return [(row.id, f"{row.kind}:{row.lesson or ''}") for row in rows]

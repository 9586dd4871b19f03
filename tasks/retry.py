"""Sending failed or in-doubt deliveries again, at an operator's request.

A retry puts a delivery back to `queued` and queues it for the sender, which claims,
re-checks and sends it as it would any other. Its attempts and last error stay: the next
attempt counts on from them and overwrites the error.

Only a delivery still in the status the operator saw moves (a WHERE on the status), so
two operators pressing the button at once send it once. Only a reader who may still be
mailed is retried: an active reader (or, for a confirmation, one who may still confirm)
whose address is not suppressed and who has not left the course. The sender checks all of
this again at send time.

`unknown` deliveries may already have arrived: their request went out and its answer was
lost. SendGrid's events usually settle them, and the tick resends those left unsettled
(tasks/recovery.py); retrying one by hand risks a second copy, so the page says so.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, func, or_, select, update
from sqlalchemy.orm import Session

from core.db import among, session_scope
from core.models import (
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Enrollment,
    EnrollmentState,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from tasks import jobs
from tasks.readers import CONFIRMABLE

log = logging.getLogger(__name__)

RETRYABLE = (DeliveryStatus.FAILED, DeliveryStatus.UNKNOWN)
CHUNK = jobs.SEND_BATCH  # one transaction and one send task per chunk


def may_be_mailed() -> ColumnElement[bool]:
    """The delivery's reader may still get it: the sender's own rule (tasks/sending.py)."""
    not_suppressed = ~exists(
        select(Suppression.id).where(func.lower(Suppression.email) == func.lower(Subscriber.email))
    )
    reader_may = or_(
        Subscriber.status == SubscriberStatus.ACTIVE,
        and_(Delivery.kind == DeliveryKind.CONFIRMATION, Subscriber.status.in_(CONFIRMABLE)),
    )
    course_left = exists(
        select(Enrollment.id).where(
            Enrollment.id == Delivery.enrollment_id, Enrollment.state == EnrollmentState.CANCELLED
        )
    )
    reader = select(Subscriber.id).where(
        Subscriber.id == Delivery.subscriber_id, reader_may, not_suppressed
    )
    return and_(exists(reader), ~course_left)


def requeue(
    session: Session, ids: Sequence[int], status: DeliveryStatus, now: datetime
) -> list[int]:
    """Put these deliveries back in the queue if they are still in `status` and their
    reader may still be mailed; return the ids that moved (one statement)."""
    if status not in RETRYABLE:
        raise ValueError(f"deliveries that are {status} are not sent again")
    if not ids:
        return []
    rows = session.execute(
        update(Delivery)
        .where(among(session, Delivery.id, ids), Delivery.status == status, may_be_mailed())
        .values(status=DeliveryStatus.QUEUED, lease_until=None, updated_at=now)
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(row.id for row in rows)


def next_chunk(
    session: Session,
    status: DeliveryStatus,
    until: datetime,
    after: tuple[datetime, int] | None,
    size: int = CHUNK,
) -> list[tuple[datetime, int]]:
    """The next (updated_at, id) in `status`, oldest first, after `after` and no later than
    `until`: a range on ix_deliveries_status_updated_at. The bound on time means a delivery
    that fails again while the rest are retried is not taken up again by the same press."""
    query = select(Delivery.updated_at, Delivery.id).where(
        Delivery.status == status, Delivery.updated_at <= until
    )
    if after is not None:
        at, row_id = after
        query = query.where(
            Delivery.updated_at >= at, or_(Delivery.updated_at > at, Delivery.id > row_id)
        )
    query = query.order_by(Delivery.updated_at, Delivery.id).limit(size)
    return [(row.updated_at, row.id) for row in session.execute(query)]


def retry_one(delivery_id: int, status: DeliveryStatus, now: datetime) -> bool:
    """Send one delivery again if it is still in `status`; whether it was queued."""
    with session_scope() as session:
        ids = requeue(session, [delivery_id], status, now)
    _queue(ids)
    return bool(ids)


def retry_all(status: DeliveryStatus, now: datetime, size: int = CHUNK) -> int:
    """Send again every delivery in `status` (as of `now`) whose reader may be mailed, a
    chunk per transaction, each queued once committed; how many were queued."""
    after: tuple[datetime, int] | None = None
    total = 0
    while True:
        with session_scope() as session:
            chunk = next_chunk(session, status, now, after, size)
            ids = requeue(session, [row_id for _, row_id in chunk], status, now)
        if not chunk:
            break
        after = chunk[-1]
        total += len(ids)
        _queue(ids)
    if total:
        log.info("%d %s deliveries queued to send again", total, status, extra={"count": total})
    return total


def _queue(ids: list[int]) -> None:
    """After the commit. If the broker is down, the tick finds them queued and sends them."""
    if not ids:
        return
    try:
        jobs.queue_send(ids)
    except Exception:
        log.exception("could not queue %d retried deliveries; the tick will send them", len(ids))

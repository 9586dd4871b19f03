"""Where deliveries stand, and time passing over a dead worker's claims."""

from __future__ import annotations

from sqlalchemy import func, select, update

from core.clock import utcnow
from core.db import session_scope
from core.models import Delivery, DeliveryStatus
from tasks.sending import LEASE


def statuses() -> dict[DeliveryStatus, int]:
    """How many deliveries are in each status."""
    with session_scope() as session:
        query = select(Delivery.status, func.count()).group_by(Delivery.status)
        return dict(session.execute(query).all())


def expire_leases() -> None:
    """Move the leases of a dead worker's claims into the past, as time would."""
    with session_scope() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.lease_until.is_not(None))
            .values(lease_until=utcnow() - LEASE)
        )

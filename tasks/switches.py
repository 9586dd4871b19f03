"""The operators' switch that stops all sending at once.

While it is on, ticks count what is due and claim nothing, and send tasks leave their
deliveries queued. Lifting it lets the next tick go on where things stood; catch-up and
the daily cap keep that from becoming a burst.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Delivery, DeliveryStatus, Switch

SENDING_STOPPED = "sending-stopped"


def sending_stopped(session: Session) -> Switch | None:
    """The switch if sending is stopped (who stopped it, when, why), else None."""
    return session.get(Switch, SENDING_STOPPED)


def stop_sending(session: Session, by: str, now: datetime, reason: str | None = None) -> Switch:
    switch = sending_stopped(session)
    if switch is None:
        switch = Switch(name=SENDING_STOPPED, set_by=by, set_at=now, reason=reason)
        session.add(switch)
    return switch


def resume_sending(session: Session) -> bool:
    """Lift the switch; False if sending was not stopped."""
    switch = sending_stopped(session)
    if switch is None:
        return False
    session.delete(switch)
    return True


def waiting(session: Session, limit: int = 5000) -> list[list[int]]:
    """Deliveries left queued while sending was stopped, grouped as the tick groups them
    (one letter to render a group), to queue at once when sending resumes. Any beyond
    `limit` are queued again by the tick's sweep of stale deliveries a few minutes later."""
    rows = session.execute(
        select(Delivery.id, Delivery.kind, Delivery.lesson)
        .where(Delivery.status == DeliveryStatus.QUEUED)
        .order_by(Delivery.id)
        .limit(limit)
    ).all()
    groups: defaultdict[tuple[str, str], list[int]] = defaultdict(list)
    for delivery_id, kind, lesson in rows:
        groups[(str(kind), lesson or "")].append(delivery_id)
    return list(groups.values())

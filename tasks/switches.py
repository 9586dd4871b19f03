"""The operators' switch that stops all sending at once.

While it is on, ticks count what is due and claim nothing, and send tasks leave their
deliveries queued. Lifting it lets the next tick go on where things stood; catch-up and
the daily cap keep that from becoming a burst.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from core.models import Switch

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

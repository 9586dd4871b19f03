"""Making readers directly in the database, for tests of the engine."""

from __future__ import annotations

from datetime import datetime

from core.db import session_scope
from core.models import Enrollment, Subscriber
from courses.model import Catalog
from tasks import readers


def active_reader(
    catalog: Catalog, now: datetime, email: str = "reader@example.org", timezone: str = "UTC"
) -> tuple[int, str]:
    """A confirmed reader enrolled in the demo course at `now`: (subscriber id, uid)."""
    with session_scope() as session:
        subscriber = Subscriber(email=email, timezone=timezone)
        session.add(subscriber)
        session.flush()
        readers.confirm(session, subscriber.uid, catalog, now)
        return subscriber.id, subscriber.uid


def enrollment_of(subscriber_id: int) -> Enrollment:
    with session_scope() as session:
        return session.query(Enrollment).filter_by(subscriber_id=subscriber_id).one()

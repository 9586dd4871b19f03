"""Making readers directly in the database, for tests of the engine."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from core.db import session_scope
from core.models import Delivery, DeliveryStatus, Enrollment, Subscriber, SubscriberStatus
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


def many_due(count: int, lesson: str, now: datetime, first: int = 0) -> list[int]:
    """`count` active readers of the demo course (reader{first}@example.org on), each with
    `lesson` queued to send: the delivery ids. A few statements, for tests at scale."""
    with session_scope() as session:
        subscribers = _insert(
            session,
            Subscriber,
            [
                {"uid": f"uid{n}", "email": f"reader{n}@example.org",
                 "status": SubscriberStatus.ACTIVE, "created_at": now}
                for n in range(first, first + count)
            ],
        )  # fmt: skip
        enrollments = _insert(
            session,
            Enrollment,
            [
                {"subscriber_id": reader, "course": "softening-sessions", "started_at": now,
                 "position": 1}
                for reader in subscribers
            ],
        )  # fmt: skip
        return _insert(
            session,
            Delivery,
            [
                {"subscriber_id": reader, "enrollment_id": enrollment, "lesson": lesson,
                 "status": DeliveryStatus.QUEUED, "created_at": now, "updated_at": now}
                for reader, enrollment in zip(subscribers, enrollments, strict=True)
            ],
        )  # fmt: skip


def _insert(session: Session, model: type[Any], rows: list[dict[str, Any]]) -> list[int]:
    statement = insert(model).returning(model.id, sort_by_parameter_order=True)
    return [row.id for row in session.execute(statement, rows)]

"""tasks/purge.py: readers who never confirmed are forgotten after 30 days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from core.db import session_scope
from core.models import Delivery, DeliveryKind, Subscriber, SubscriberStatus
from courses.model import Catalog
from tasks.purge import purge_unconfirmed
from tests.support.readers import active_reader

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def pending(email: str, signed_up: datetime) -> None:
    with session_scope() as session:
        reader = Subscriber(email=email, created_at=signed_up, consent_at=signed_up)
        session.add(reader)
        session.flush()
        session.add(Delivery(kind=DeliveryKind.CONFIRMATION, subscriber_id=reader.id,
                             created_at=signed_up, updated_at=signed_up))  # fmt: skip


def emails() -> list[str]:
    with session_scope() as session:
        return sorted(session.scalars(select(Subscriber.email)))


def test_only_readers_pending_for_over_thirty_days_are_forgotten(
    catalog: Catalog, db: None
) -> None:
    pending("old@example.org", NOW - timedelta(days=31))
    pending("recent@example.org", NOW - timedelta(days=29))
    active_reader(catalog, NOW - timedelta(days=90), email="reading@example.org")
    with session_scope() as session:  # signed up long ago, but again last week
        again = Subscriber(email="again@example.org", created_at=NOW - timedelta(days=60),
                           consent_at=NOW - timedelta(days=7))  # fmt: skip
        session.add(again)

    with session_scope() as session:
        assert purge_unconfirmed(session, NOW) == 1

    assert emails() == ["again@example.org", "reading@example.org", "recent@example.org"]
    with session_scope() as session:  # the forgotten reader's confirmation went with them
        query = (
            select(Subscriber.email)
            .join(Delivery, Delivery.subscriber_id == Subscriber.id)
            .where(Delivery.kind == DeliveryKind.CONFIRMATION)
        )
        assert session.scalars(query).all() == ["recent@example.org"]


def test_an_unsubscribed_reader_is_kept_as_the_record_of_their_leaving(
    catalog: Catalog, db: None
) -> None:
    active_reader(catalog, NOW - timedelta(days=90), email="left@example.org")
    with session_scope() as session:
        reader = session.scalars(select(Subscriber)).one()
        reader.status = SubscriberStatus.UNSUBSCRIBED

    with session_scope() as session:
        assert purge_unconfirmed(session, NOW) == 0
    assert emails() == ["left@example.org"]

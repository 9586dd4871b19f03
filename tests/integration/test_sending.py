"""Sending: claim, re-check, render, send, record; never twice, never after leaving."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from core.config import Settings
from core.db import session_scope
from core.models import Delivery, DeliveryStatus, Suppression
from courses.model import Catalog
from emails.batch import Batch
from emails.transports import OutboxTransport, Outcome, TransportError
from tasks import readers, schedule
from tasks.sending import MAX_ATTEMPTS, Sender
from tests.support import outbox
from tests.support.readers import active_reader

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


@dataclass
class FailingTransport:
    """A transport that fails every send with the given error, counting its calls."""

    error: TransportError
    name: str = "failing"
    batch_size: int = 1000
    calls: list[int] = field(default_factory=list)

    def send(self, batch: Batch) -> list[Outcome]:
        self.calls.append(len(batch.recipients))
        raise self.error


def due_deliveries(catalog: Catalog, count: int = 1) -> list[int]:
    for number in range(count):
        active_reader(catalog, NOW, email=f"reader{number}@example.org")
    report = schedule.tick(catalog, NOW)
    return [delivery_id for ids in report.batches.values() for delivery_id in ids]


def hold_claim(delivery_id: int, until: datetime) -> str:
    """Mark the delivery claimed by some worker until `until`; return its reader's uid."""
    with session_scope() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        delivery.status = DeliveryStatus.SENDING
        delivery.lease_until = until
        return delivery.subscriber.uid


def statuses() -> list[DeliveryStatus]:
    with session_scope() as session:
        return list(session.scalars(select(Delivery.status).order_by(Delivery.id)))


def test_a_batch_is_sent_once_with_a_link_for_each_reader(
    db: None, catalog: Catalog, settings: Settings
) -> None:
    ids = due_deliveries(catalog, count=3)
    sender = Sender(settings, catalog, OutboxTransport(settings.outbox_dir))
    report = sender.send(ids, NOW)
    assert sorted(report.sent) == sorted(ids)
    assert sender.send(ids, NOW).sent == [], "a second send of the same ids sends nothing"
    sent = outbox.messages(settings.outbox_dir)
    assert len(sent) == 3
    links = {message["List-Unsubscribe"] for message in sent}
    assert len(links) == 3, "each reader has their own unsubscribe link"
    with session_scope() as session:
        for delivery in session.scalars(select(Delivery)):
            assert delivery.status is DeliveryStatus.SENT
            assert delivery.sent_at == NOW
            assert delivery.attempts == 1
            assert delivery.provider_message_id
            assert delivery.provider_message_id.endswith(".eml")
            assert delivery.message_id
            assert delivery.content_hash
            assert len(delivery.content_hash) == 64


def test_a_reader_who_left_after_the_tick_is_skipped(
    db: None, catalog: Catalog, settings: Settings
) -> None:
    ids = due_deliveries(catalog)
    with session_scope() as session:
        delivery = session.get(Delivery, ids[0])
        assert delivery is not None
        uid = delivery.subscriber.uid
    with session_scope() as session:
        readers.unsubscribe(session, uid, "test", NOW)
    sender = Sender(settings, catalog, OutboxTransport(settings.outbox_dir))
    assert sender.send(ids, NOW).sent == []
    assert statuses() == [DeliveryStatus.SKIPPED]
    assert outbox.messages(settings.outbox_dir) == []


def test_a_reader_who_left_while_the_send_was_queued_is_skipped_at_send_time(
    db: None, catalog: Catalog, settings: Settings
) -> None:
    ids = due_deliveries(catalog)
    # Leaving also marks queued sends skipped; here the send is already claimed.
    uid = hold_claim(ids[0], until=NOW - timedelta(seconds=1))
    with session_scope() as session:
        readers.unsubscribe(session, uid, "test", NOW)
    sender = Sender(settings, catalog, OutboxTransport(settings.outbox_dir))
    report = sender.send(ids, NOW)
    assert report.skipped == ids
    assert outbox.messages(settings.outbox_dir) == []


def test_a_passing_failure_puts_the_delivery_back_for_a_retry(
    db: None, catalog: Catalog, settings: Settings
) -> None:
    ids = due_deliveries(catalog, count=2)
    transport = FailingTransport(TransportError("busy", permanent=False, retry_after=30))
    report = Sender(settings, catalog, transport).send(ids, NOW)
    assert sorted(report.retry) == sorted(ids)
    assert report.retry_after == 30
    assert transport.calls == [2], "one batch, one call"
    assert statuses() == [DeliveryStatus.QUEUED, DeliveryStatus.QUEUED]


def test_a_permanent_failure_is_recorded_with_its_message(
    db: None, catalog: Catalog, settings: Settings
) -> None:
    ids = due_deliveries(catalog)
    transport = FailingTransport(TransportError("400 invalid from address", permanent=True))
    report = Sender(settings, catalog, transport).send(ids, NOW)
    assert report.failed == ids
    with session_scope() as session:
        delivery = session.get(Delivery, ids[0])
        assert delivery is not None
        assert delivery.status is DeliveryStatus.FAILED
        assert delivery.last_error == "400 invalid from address"


def test_passing_failures_give_up_after_the_last_attempt(
    db: None, catalog: Catalog, settings: Settings
) -> None:
    ids = due_deliveries(catalog)
    transport = FailingTransport(TransportError("busy", permanent=False))
    sender = Sender(settings, catalog, transport)
    for _ in range(MAX_ATTEMPTS):
        report = sender.send(ids, NOW)
    assert report.failed == ids
    assert len(transport.calls) == MAX_ATTEMPTS
    assert statuses() == [DeliveryStatus.FAILED]


def test_a_claim_held_by_another_worker_is_left_alone_until_its_lease_ends(
    db: None, catalog: Catalog, settings: Settings
) -> None:
    ids = due_deliveries(catalog)
    hold_claim(ids[0], until=NOW + timedelta(minutes=5))
    sender = Sender(settings, catalog, OutboxTransport(settings.outbox_dir))
    assert sender.send(ids, NOW).sent == []
    assert sender.send(ids, NOW + timedelta(minutes=6)).sent == ids


def test_an_address_suppressed_after_the_tick_is_skipped_at_send_time(
    db: None, catalog: Catalog, settings: Settings
) -> None:
    ids = due_deliveries(catalog, count=2)
    with session_scope() as session:
        session.add(Suppression(email="READER0@example.org", reason="complaint"))
    report = Sender(settings, catalog, OutboxTransport(settings.outbox_dir)).send(ids, NOW)
    assert len(report.sent) == 1
    assert len(report.skipped) == 1
    with session_scope() as session:
        skipped = session.get(Delivery, report.skipped[0])
        assert skipped is not None
        assert skipped.last_error == "suppressed"
        assert skipped.subscriber.email == "reader0@example.org"

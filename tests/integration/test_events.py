"""SendGrid's signed event webhook, and what its events do to deliveries and readers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from core.config import Settings
from core.db import session_scope
from core.models import (
    Delivery,
    DeliveryStatus,
    Enrollment,
    Event,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from courses.model import Catalog
from emails.transports.sendgrid import SendGridTransport
from tasks import events, privacy, schedule
from tasks.sending import Sender
from tests.support.readers import active_reader
from tests.support.sendgrid_standin import SendGridStandIn
from web import create_app

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
KEY = "SG.events"
HOOK = "/hooks/sendgrid"


@pytest.fixture
def sendgrid() -> Iterator[SendGridStandIn]:
    with SendGridStandIn(api_key=KEY) as standin:
        yield standin


@pytest.fixture
def hooked(db: None, settings: Settings, sendgrid: SendGridStandIn) -> FlaskClient:
    """Tend's web app with the stand-in's key as the webhook's verification key."""
    configured = settings.model_copy(update={"sendgrid_webhook_public_key": sendgrid.public_key})
    app: Flask = create_app(configured)
    app.config["TESTING"] = True
    return app.test_client()


def sent_to(catalog: Catalog, settings: Settings, sendgrid: SendGridStandIn, count: int) -> None:
    """`count` readers, each sent their welcome through the stand-in."""
    for number in range(count):
        active_reader(catalog, NOW, email=f"reader{number}@example.org")
    ids = [i for ids in schedule.tick(catalog, NOW).batches.values() for i in ids]
    transport = SendGridTransport(KEY, host=sendgrid.url, timeout=5)
    assert len(Sender(settings, catalog, transport).send(ids, NOW).sent) == count


def post(client: FlaskClient, sendgrid: SendGridStandIn, payload: Any, **sign: Any) -> Any:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = sendgrid.sign(body, **sign)
    return client.post(HOOK, data=body, headers=headers, content_type="application/json")


def apply_all() -> int:
    with session_scope() as session:
        pending = session.scalars(select(Event.id).where(Event.processed_at.is_(None))).all()
        return events.apply(session, pending, NOW)


def delivery_statuses() -> dict[str, DeliveryStatus]:
    with session_scope() as session:
        rows = session.execute(
            select(Subscriber.email, Delivery.status).join(Delivery.subscriber)
        ).all()
        return dict(rows)


def reader_status(email: str) -> SubscriberStatus:
    with session_scope() as session:
        query = select(Subscriber.status).where(Subscriber.email == email)
        return session.scalars(query).one()


def suppressed() -> dict[str, str]:
    with session_scope() as session:
        return dict(session.execute(select(Suppression.email, Suppression.reason)).all())


# Signatures


def test_a_signed_batch_is_stored_and_answered_at_once(
    hooked: FlaskClient, sendgrid: SendGridStandIn, settings: Settings, catalog: Catalog
) -> None:
    sent_to(catalog, settings, sendgrid, 2)

    response = post(hooked, sendgrid, sendgrid.events("delivered"))

    assert response.status_code == 200
    with session_scope() as session:
        stored = session.scalars(select(Event)).all()
        assert sorted(e.type for e in stored) == ["delivered", "delivered"]
        assert all(e.processed_at is None for e in stored), "applied by a task, not the request"


def test_a_tampered_body_is_refused(hooked: FlaskClient, sendgrid: SendGridStandIn) -> None:
    body = json.dumps(sendgrid.events("delivered", recipients=[])).encode()
    headers = sendgrid.sign(body)

    response = hooked.post(HOOK, data=body + b" ", headers=headers)

    assert response.status_code == 403


def test_a_stale_timestamp_is_refused_even_with_a_good_signature(
    hooked: FlaskClient, sendgrid: SendGridStandIn, settings: Settings
) -> None:
    old = str(int(time.time()) - settings.webhook_max_age - 60)

    assert post(hooked, sendgrid, [], timestamp=old).status_code == 403


@pytest.mark.parametrize(
    "signature", ["", "not base64 at all!", "AAAA", "MEUCIQ" + "A" * 80, "\u00e9\u00e9"]
)
def test_a_malformed_signature_is_a_403_not_a_500(
    hooked: FlaskClient, sendgrid: SendGridStandIn, signature: str
) -> None:
    headers = sendgrid.sign(b"[]")
    headers["X-Twilio-Email-Event-Webhook-Signature"] = signature

    assert hooked.post(HOOK, data=b"[]", headers=headers).status_code == 403


@pytest.mark.parametrize("stamp", ["", "yesterday", "-5", "1" * 40])
def test_a_malformed_timestamp_is_a_403(
    hooked: FlaskClient, sendgrid: SendGridStandIn, stamp: str
) -> None:
    headers = sendgrid.sign(b"[]", timestamp=stamp)

    assert hooked.post(HOOK, data=b"[]", headers=headers).status_code == 403


def test_a_signed_body_that_is_not_events_is_a_400(
    hooked: FlaskClient, sendgrid: SendGridStandIn
) -> None:
    assert post(hooked, sendgrid, b"{not json").status_code == 400
    assert post(hooked, sendgrid, {"event": "delivered"}).status_code == 400
    assert post(hooked, sendgrid, [{"event": "delivered"}]).status_code == 400


def test_without_a_key_the_webhook_is_off(client: FlaskClient) -> None:
    assert client.post(HOOK, data=b"[]").status_code == 404


def test_a_body_past_the_limit_is_refused(hooked: FlaskClient, sendgrid: SendGridStandIn) -> None:
    body = b"[" + b" " * (5 * 1024 * 1024) + b"]"

    response = hooked.post(HOOK, data=body, headers=sendgrid.sign(body))

    assert response.status_code == 413


# Idempotence


def test_the_same_post_twice_stores_each_event_once(
    hooked: FlaskClient, sendgrid: SendGridStandIn, settings: Settings, catalog: Catalog
) -> None:
    sent_to(catalog, settings, sendgrid, 2)
    batch = sendgrid.events("processed")

    assert post(hooked, sendgrid, batch).json["message"] == "2 new of 2 events"
    assert post(hooked, sendgrid, batch).json["message"] == "0 new of 2 events"


def test_one_change_under_two_event_ids_is_kept_once(
    hooked: FlaskClient, sendgrid: SendGridStandIn, settings: Settings, catalog: Catalog
) -> None:
    sent_to(catalog, settings, sendgrid, 1)
    [first] = sendgrid.events("bounce")
    again = {**first, "sg_event_id": first["sg_event_id"] + "-again"}

    post(hooked, sendgrid, [first, again])
    apply_all()
    apply_all()

    with session_scope() as session:
        assert len(session.scalars(select(Event)).all()) == 1
    assert suppressed() == {"reader0@example.org": "bounce"}


# Effects


def test_delivered_marks_the_delivery_delivered(
    hooked: FlaskClient, sendgrid: SendGridStandIn, settings: Settings, catalog: Catalog
) -> None:
    sent_to(catalog, settings, sendgrid, 2)
    post(hooked, sendgrid, sendgrid.events("delivered", recipients=sendgrid.recipients()[:1]))
    apply_all()

    assert sorted(delivery_statuses().values()) == [
        DeliveryStatus.DELIVERED,
        DeliveryStatus.SENT,
    ]


def test_a_hard_bounce_suppresses_the_address_before_the_next_send(
    hooked: FlaskClient, sendgrid: SendGridStandIn, settings: Settings, catalog: Catalog
) -> None:
    sent_to(catalog, settings, sendgrid, 1)
    address = "reader0@example.org"
    # Lesson 2 falls due and a worker has already claimed it when the bounce comes in.
    with session_scope() as session:
        due = session.scalars(select(Enrollment.next_due_at)).one()
    [[second]] = schedule.tick(catalog, due).batches.values()
    with session_scope() as session:
        claimed = session.get(Delivery, second)
        assert claimed is not None
        claimed.status, claimed.lease_until = DeliveryStatus.SENDING, due

    post(hooked, sendgrid, sendgrid.events("bounce", recipients=sendgrid.recipients()))
    apply_all()

    assert suppressed() == {address: "bounce"}
    assert reader_status(address) is SubscriberStatus.BOUNCED
    transport = SendGridTransport(KEY, host=sendgrid.url, timeout=5)
    report = Sender(settings, catalog, transport).send([second], due + timedelta(minutes=1))
    assert report.skipped == [second]
    assert sendgrid.count_by_address()[address] == 1, "only the welcome, before the bounce"
    with session_scope() as session:
        statuses = dict(session.execute(select(Delivery.lesson, Delivery.status)).all())
    assert statuses == {
        "welcome": DeliveryStatus.BOUNCED,
        catalog["softening-sessions"].lessons[1].slug: DeliveryStatus.SKIPPED,
    }


def test_a_soft_bounce_leaves_the_reader_alone(
    hooked: FlaskClient, sendgrid: SendGridStandIn, settings: Settings, catalog: Catalog
) -> None:
    sent_to(catalog, settings, sendgrid, 1)
    post(hooked, sendgrid, sendgrid.events("bounce", type="blocked"))
    apply_all()

    assert suppressed() == {}
    assert reader_status("reader0@example.org") is SubscriberStatus.ACTIVE


@pytest.mark.parametrize(
    ("kind", "status", "reason"),
    [
        ("spamreport", SubscriberStatus.COMPLAINED, "complaint"),
        ("unsubscribe", SubscriberStatus.UNSUBSCRIBED, "unsubscribe"),
        ("group_unsubscribe", SubscriberStatus.UNSUBSCRIBED, "unsubscribe"),
        ("dropped", SubscriberStatus.BOUNCED, "dropped"),
    ],
)
def test_complaints_unsubscribes_and_drops_stop_the_reader_at_once(
    hooked: FlaskClient,
    sendgrid: SendGridStandIn,
    settings: Settings,
    catalog: Catalog,
    kind: str,
    status: SubscriberStatus,
    reason: str,
) -> None:
    sent_to(catalog, settings, sendgrid, 1)
    post(hooked, sendgrid, sendgrid.events(kind))
    apply_all()

    assert reader_status("reader0@example.org") is status
    assert suppressed() == {"reader0@example.org": reason}
    with session_scope() as session:
        subscriber = session.scalars(select(Subscriber)).one()
        assert subscriber.unsubscribe_channel == f"sendgrid {kind}"
        assert all(e.state.value == "cancelled" for e in subscriber.enrollments)


def test_an_event_settles_a_delivery_in_doubt(
    hooked: FlaskClient, sendgrid: SendGridStandIn, settings: Settings, catalog: Catalog
) -> None:
    sent_to(catalog, settings, sendgrid, 1)
    with session_scope() as session:
        delivery = session.scalars(select(Delivery)).one()
        delivery.status = DeliveryStatus.UNKNOWN
        delivery.provider_message_id = None
    post(hooked, sendgrid, sendgrid.events("processed"))
    apply_all()

    with session_scope() as session:
        delivery = session.scalars(select(Delivery)).one()
        assert delivery.status is DeliveryStatus.SENT
        assert delivery.provider_message_id == sendgrid.accepted[0].message_id


def test_a_bounce_after_the_reader_was_erased_keeps_no_address_in_clear(
    hooked: FlaskClient, sendgrid: SendGridStandIn, settings: Settings, catalog: Catalog
) -> None:
    sent_to(catalog, settings, sendgrid, 1)
    bounce = sendgrid.events("bounce")
    with session_scope() as session:
        uid = session.scalars(select(Subscriber.uid)).one()
        privacy.erase(session, uid, privacy.hash_key(settings), NOW)

    post(hooked, sendgrid, bounce)
    apply_all()

    with session_scope() as session:
        rows = session.execute(select(Suppression.email, Suppression.reason)).all()
    assert [(email, reason) for email, reason in rows] == [(None, "erased")]

"""The SendGrid transport and the sender against the v3 stand-in: every error path."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.config import Settings
from core.db import session_scope
from core.models import Delivery, DeliveryStatus
from courses.model import Catalog
from emails.batch import Batch, Recipient
from emails.render import Rendered
from emails.transports import TransportError
from emails.transports.sendgrid import SendGridTransport
from tasks import schedule
from tasks.sending import Sender
from tests.support.readers import active_reader
from tests.support.sendgrid_standin import SendGridStandIn

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
KEY = "SG.test-key"
LETTER = Rendered(
    subject="Lesson one",
    html='<p>Hello %%f1%%</p><a href="%%unsubscribe_url%%">Leave</a>',
    text="Hello %%f1%%\nLeave: %%unsubscribe_url%%\n",
    fields={"f1": ("first_name", "friend")},
)


@pytest.fixture
def sendgrid() -> Iterator[SendGridStandIn]:
    with SendGridStandIn(api_key=KEY) as standin:
        yield standin


def transport(standin: SendGridStandIn, timeout: float = 5.0, **options: bool) -> SendGridTransport:
    return SendGridTransport(KEY, host=standin.url, timeout=timeout, **options)


def batch(count: int = 3) -> Batch:
    recipients = [recipient(number) for number in range(count)]
    return Batch(
        from_email="course@example.org",
        from_name="Softening Sessions",
        letter=LETTER,
        recipients=recipients,
        reply_to="author@example.org",
        headers={"List-Id": '"Softening Sessions" <softening-sessions.example.org>'},
        categories=("softening-sessions", "softening-sessions/welcome"),
    )


def recipient(number: int) -> Recipient:
    name = "Ann & Bo" if number == 0 else None
    return Recipient(
        key=100 + number,
        to=f"reader{number}@example.org",
        to_name=name,
        values={
            "first_name": name,
            "unsubscribe_url": f"https://mail.example.org/u/tok{number}?a=1&b=2",
        },
        headers={
            "List-Unsubscribe": f"<https://mail.example.org/u/tok{number}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        tags={"tend_delivery": str(100 + number), "tend_kind": "lesson"},
    )


def error_of(standin: SendGridStandIn, **options: float) -> TransportError:
    with pytest.raises(TransportError) as caught:
        transport(standin, **options).send(batch())
    return caught.value


# The request


def test_a_batch_is_one_request_with_a_personalization_per_reader(
    sendgrid: SendGridStandIn,
) -> None:
    outcomes = transport(sendgrid).send(batch(3))

    [request] = sendgrid.accepted
    assert [outcome.key for outcome in outcomes] == [100, 101, 102]
    assert {outcome.provider_id for outcome in outcomes} == {request.message_id}
    body = request.body
    assert [part["type"] for part in body["content"]] == ["text/plain", "text/html"]
    assert body["categories"] == ["softening-sessions", "softening-sessions/welcome"]
    assert body["reply_to"] == {"email": "author@example.org"}
    assert body["headers"]["List-Id"].startswith('"Softening Sessions"')
    first = body["personalizations"][0]
    assert first["to"] == [{"email": "reader0@example.org", "name": "Ann & Bo"}]
    assert first["custom_args"] == {"tend_delivery": "100", "tend_kind": "lesson"}
    assert first["headers"]["List-Unsubscribe"] == "<https://mail.example.org/u/tok0>"
    assert first["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "example.org" not in str(first["custom_args"]), "no address in custom args"


def test_each_reader_gets_their_values_escaped_in_html_and_plain_in_text(
    sendgrid: SendGridStandIn,
) -> None:
    transport(sendgrid).send(batch(2))

    body = sendgrid.accepted[0].body
    text, html = (part["value"] for part in body["content"])
    first, second = (p["substitutions"] for p in body["personalizations"])
    html_0 = _substitute(html, first)
    text_0 = _substitute(text, first)
    assert "<p>Hello Ann &amp; Bo</p>" in html_0
    assert 'href="https://mail.example.org/u/tok0?a=1&amp;b=2"' in html_0
    assert text_0 == "Hello Ann & Bo\nLeave: https://mail.example.org/u/tok0?a=1&b=2\n"
    assert _substitute(text, second).startswith("Hello friend\n"), "the default for no name"


def _substitute(content: str, substitutions: dict[str, str]) -> str:
    for key, value in substitutions.items():
        content = content.replace(key, value)
    assert "%%" not in content
    return content


def test_open_and_click_tracking_are_off_unless_asked_for(sendgrid: SendGridStandIn) -> None:
    transport(sendgrid).send(batch(1))
    transport(sendgrid, tracking=True).send(batch(1))
    quiet, tracked = (request.body["tracking_settings"] for request in sendgrid.accepted)
    assert quiet["click_tracking"]["enable"] is False
    assert quiet["open_tracking"]["enable"] is False
    assert tracked["click_tracking"]["enable"] is True
    assert tracked["open_tracking"]["enable"] is True
    assert quiet["subscription_tracking"] == tracked["subscription_tracking"] == {"enable": False}


def test_sandbox_mode_is_asked_for_by_setting(sendgrid: SendGridStandIn) -> None:
    outcomes = transport(sendgrid, sandbox=True).send(batch(1))

    assert all(outcome.accepted for outcome in outcomes)
    assert sendgrid.accepted == [], "the sandbox validates and delivers nothing"


def test_more_than_a_thousand_readers_is_refused_before_any_request(
    sendgrid: SendGridStandIn,
) -> None:
    with pytest.raises(ValueError, match="at most 1000"):
        transport(sendgrid).send(batch(1001))
    assert sendgrid.requests == 0


# Errors


def test_a_429_is_transient_and_waits_for_the_rate_limit_reset(sendgrid: SendGridStandIn) -> None:
    sendgrid.inject("429", reset_in=30)

    error = error_of(sendgrid)

    assert not error.permanent
    assert not error.ambiguous
    assert error.retry_after is not None
    assert 25 <= error.retry_after <= 31


@pytest.mark.parametrize("status", ["500", "503"])
def test_a_server_error_is_transient(sendgrid: SendGridStandIn, status: str) -> None:
    sendgrid.inject(status)

    error = error_of(sendgrid)

    assert (error.permanent, error.ambiguous, error.retry_after) == (False, False, None)
    assert f"SendGrid answered {status}" in str(error)


def test_a_400_is_permanent_and_keeps_sendgrids_message(sendgrid: SendGridStandIn) -> None:
    sendgrid.inject("400", message="The from address does not match a verified Sender Identity")

    error = error_of(sendgrid)

    assert error.permanent
    assert "does not match a verified Sender Identity" in str(error)


def test_a_wrong_key_is_permanent(sendgrid: SendGridStandIn) -> None:
    with pytest.raises(TransportError) as caught:
        SendGridTransport("SG.wrong", host=sendgrid.url, timeout=5).send(batch())

    assert caught.value.permanent
    assert "401" in str(caught.value)


def test_a_timeout_after_the_request_went_out_is_ambiguous(sendgrid: SendGridStandIn) -> None:
    sendgrid.inject("hang_after", seconds=10)

    try:
        error = error_of(sendgrid, timeout=0.5)
    finally:
        sendgrid.release()

    assert error.ambiguous
    assert not error.permanent
    assert len(sendgrid.accepted) == 1, "the stand-in took it: resending would duplicate"


def test_a_connection_dropped_after_the_request_is_ambiguous(sendgrid: SendGridStandIn) -> None:
    sendgrid.inject("drop_after")

    error = error_of(sendgrid)

    assert error.ambiguous
    assert len(sendgrid.accepted) == 1


def test_a_refused_connection_is_transient_and_not_in_doubt() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TransportError) as caught:
        SendGridTransport(KEY, host=f"http://127.0.0.1:{port}", timeout=2).send(batch())

    assert (caught.value.permanent, caught.value.ambiguous) == (False, False)
    assert "could not reach SendGrid" in str(caught.value)


# The sender


def due(catalog: Catalog, count: int) -> list[int]:
    for number in range(count):
        active_reader(catalog, NOW, email=f"reader{number}@example.org")
    report = schedule.tick(catalog, NOW)
    return sorted(i for ids in report.batches.values() for i in ids)


def deliveries() -> list[Delivery]:
    with session_scope() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def sender(
    settings: Settings, catalog: Catalog, standin: SendGridStandIn, **options: float
) -> Sender:
    return Sender(settings, catalog, transport(standin, **options))


def test_the_sender_sends_a_lesson_batch_in_one_request_and_stores_the_message_id(
    db: None, settings: Settings, catalog: Catalog, sendgrid: SendGridStandIn
) -> None:
    ids = due(catalog, 5)

    report = sender(settings, catalog, sendgrid).send(ids, NOW)

    assert sorted(report.sent) == ids
    [request] = sendgrid.accepted
    assert all(d.status is DeliveryStatus.SENT for d in deliveries())
    assert {d.provider_message_id for d in deliveries()} == {request.message_id}
    assert sendgrid.count_by_address() == {f"reader{n}@example.org": 1 for n in range(5)}
    sent = {r.email: r for r in sendgrid.recipients()}
    by_address = {d.subscriber.email: d.id for d in _with_readers()}
    for address, recipient in sent.items():
        assert recipient.custom_args["tend_delivery"] == str(by_address[address])
        assert recipient.headers["List-Unsubscribe"].startswith("<http://127.0.0.1:5000/u/")


def _with_readers() -> list[Delivery]:
    from sqlalchemy.orm import joinedload

    with session_scope() as session:
        query = select(Delivery).options(joinedload(Delivery.subscriber))
        return list(session.scalars(query))


def test_a_batch_in_doubt_waits_for_events_and_is_never_resent_blindly(
    db: None, settings: Settings, catalog: Catalog, sendgrid: SendGridStandIn
) -> None:
    ids = due(catalog, 3)
    sendgrid.inject("hang_after", seconds=10)
    try:
        report = sender(settings, catalog, sendgrid, timeout=0.5).send(ids, NOW)
    finally:
        sendgrid.release()

    assert sorted(report.unknown) == ids
    assert {d.status for d in deliveries()} == {DeliveryStatus.UNKNOWN}
    # Ticks before the wait is over queue nothing again.
    assert schedule.tick(catalog, NOW + timedelta(hours=1)).resent == 0
    assert sender(settings, catalog, sendgrid).send(ids, NOW + timedelta(hours=1)).sent == []
    assert len(sendgrid.accepted) == 1


def test_a_batch_in_doubt_with_no_event_is_sent_again_after_the_wait(
    db: None, settings: Settings, catalog: Catalog, sendgrid: SendGridStandIn
) -> None:
    ids = due(catalog, 2)
    sendgrid.inject("drop_before")
    report = sender(settings, catalog, sendgrid).send(ids, NOW)
    # A connection dropped before the answer may or may not be in doubt; either way,
    # nothing was taken, and the tick sends it once in the end.
    assert sorted(report.unknown + report.retry) == ids
    later = NOW + timedelta(hours=26)
    tick = schedule.tick(catalog, later, resend_unknown_after=timedelta(hours=25))
    again = sorted(i for group in tick.batches.values() for i in group)
    assert again == ids or (report.retry and tick.requeued == 0)
    sender(settings, catalog, sendgrid).send(ids, later)

    assert sendgrid.count_by_address() == {"reader0@example.org": 1, "reader1@example.org": 1}
    assert {d.status for d in deliveries()} == {DeliveryStatus.SENT}


def test_a_rate_limited_batch_goes_back_to_the_queue_with_the_wait(
    db: None, settings: Settings, catalog: Catalog, sendgrid: SendGridStandIn
) -> None:
    ids = due(catalog, 2)
    sendgrid.inject("429", reset_in=20)

    report = sender(settings, catalog, sendgrid).send(ids, NOW)

    assert sorted(report.retry) == ids
    assert report.retry_after is not None
    assert report.retry_after >= 15
    assert {d.status for d in deliveries()} == {DeliveryStatus.QUEUED}
    assert sorted(sender(settings, catalog, sendgrid).send(ids, NOW).sent) == ids


def test_a_refused_request_fails_the_batch_with_sendgrids_words(
    db: None, settings: Settings, catalog: Catalog, sendgrid: SendGridStandIn
) -> None:
    ids = due(catalog, 2)
    sendgrid.inject("400", message="Invalid from email address")

    report = sender(settings, catalog, sendgrid).send(ids, NOW)

    assert sorted(report.failed) == ids
    for delivery in deliveries():
        assert delivery.status is DeliveryStatus.FAILED
        assert delivery.last_error is not None
        assert "Invalid from email address" in delivery.last_error

"""The reader's pages: signing up, confirming, leaving, and what happens on bad input."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from flask.testing import FlaskClient
from sqlalchemy import select

from core.clock import utcnow
from core.config import Settings
from core.db import session_scope
from core.links import link
from core.models import Delivery, DeliveryKind, Subscriber, SubscriberStatus
from core.tokens import Purpose, Signer
from tests.support.web import path_of, press_button, sign_up


def subscribers() -> list[Subscriber]:
    with session_scope() as session:
        return list(session.scalars(select(Subscriber).order_by(Subscriber.id)))


def confirmations() -> int:
    with session_scope() as session:
        query = select(Delivery).where(Delivery.kind == DeliveryKind.CONFIRMATION)
        return len(session.scalars(query).all())


def url_for_reader(settings: Settings, purpose: Purpose, uid: str) -> str:
    return link(settings.base_url, Signer(settings.require_secret_key()), purpose, uid)


def test_the_signup_page_offers_the_demo_course_with_its_consent_sentence(
    client: FlaskClient,
) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "<h1>Softening Sessions</h1>" in page.text
    assert "I can leave at any time with one click" in page.text
    assert 'option value="America/New_York"' in page.text
    assert 'lang="en"' in page.text


def test_a_signup_records_consent_and_queues_one_confirmation(client: FlaskClient) -> None:
    response = sign_up(client, "New.Reader@Example.ORG", first_name="Ann", timezone="Asia/Kolkata")
    assert response.status_code == 303
    assert response.headers["Location"] == "/check-your-inbox"
    (reader,) = subscribers()
    assert reader.email == "new.reader@example.org", "normalised, and lower case"
    assert reader.first_name == "Ann"
    assert reader.timezone == "Asia/Kolkata"
    assert reader.status is SubscriberStatus.PENDING
    assert reader.consent_at is not None
    assert reader.consent_ip == "127.0.0.1"
    assert reader.consent_source == "hosted form"
    assert reader.consent_text_version
    assert confirmations() == 1


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("not-an-address", "doesn’t look like an email address"),
        ("", "Please enter your email address."),
        ("a@b@example.org", "doesn’t look like an email address"),
    ],
)
def test_an_invalid_email_shows_the_form_again_with_a_message(
    client: FlaskClient, email: str, message: str
) -> None:
    response = sign_up(client, email, first_name="Keep me")
    assert response.status_code == 400
    assert message in response.text
    assert 'value="Keep me"' in response.text, "what the reader typed is kept"
    assert 'aria-invalid="true"' in response.text
    assert subscribers() == []


def test_consent_is_required(client: FlaskClient) -> None:
    response = sign_up(client, "reader@example.org", consent="")
    assert response.status_code == 400
    assert "Please tick the box" in response.text
    assert subscribers() == []


def test_a_name_cannot_carry_a_line_break_into_a_header(client: FlaskClient) -> None:
    sign_up(client, "reader@example.org", first_name="Ann\r\nBcc: victim@example.org")
    (reader,) = subscribers()
    assert reader.first_name == "Ann Bcc: victim@example.org"


def test_known_and_unknown_addresses_get_the_same_answer(
    client: FlaskClient, settings: Settings
) -> None:
    first = sign_up(client, "reader@example.org")
    (reader,) = subscribers()
    press_button(client, url_for_reader(settings, Purpose.CONFIRM, reader.uid))
    again = sign_up(client, "READER@example.org")
    assert (first.status_code, first.headers["Location"]) == (
        again.status_code,
        again.headers["Location"],
    )
    assert len(subscribers()) == 1
    assert confirmations() == 1, "an active reader is not sent another confirmation"


def test_the_confirmation_link_shows_a_button_and_only_a_post_confirms(
    client: FlaskClient, settings: Settings
) -> None:
    sign_up(client, "reader@example.org")
    (reader,) = subscribers()
    url = url_for_reader(settings, Purpose.CONFIRM, reader.uid)
    page = client.get(path_of(url))
    assert page.status_code == 200
    assert "Yes, confirm my address" in page.text
    assert subscribers()[0].status is SubscriberStatus.PENDING, "a mail scanner's GET does nothing"
    done = press_button(client, url)
    assert done.status_code == 200
    assert "You’re in" in done.text
    (reader,) = subscribers()
    assert reader.status is SubscriberStatus.ACTIVE
    assert reader.confirmed_at is not None
    assert [e.course for e in reader_enrollments(reader.id)] == ["softening-sessions"]
    assert press_button(client, url).status_code == 200, "confirming twice is harmless"
    assert len(reader_enrollments(reader.id)) == 1


def reader_enrollments(subscriber_id: int) -> list:
    with session_scope() as session:
        reader = session.get(Subscriber, subscriber_id)
        assert reader is not None
        return list(reader.enrollments)


def test_a_confirmation_post_without_its_form_token_is_refused(
    client: FlaskClient, settings: Settings
) -> None:
    sign_up(client, "reader@example.org")
    (reader,) = subscribers()
    url = url_for_reader(settings, Purpose.CONFIRM, reader.uid)
    response = client.post(path_of(url), data={})
    assert response.status_code == 400
    assert "Please try that again" in response.text
    assert subscribers()[0].status is SubscriberStatus.PENDING


@pytest.mark.parametrize("path", ["/confirm/", "/u/"])
def test_a_tampered_token_shows_a_friendly_page(
    client: FlaskClient, settings: Settings, path: str
) -> None:
    sign_up(client, "reader@example.org")
    (reader,) = subscribers()
    purpose = Purpose.CONFIRM if path == "/confirm/" else Purpose.UNSUBSCRIBE
    good = path_of(url_for_reader(settings, purpose, reader.uid))
    for bad in (good[:-3] + "abc", good[: len(good) // 2], path + "nonsense"):
        response = client.get(bad)
        assert response.status_code == 400, bad
        assert "This link doesn’t work" in response.text
        assert client.post(bad, data={"List-Unsubscribe": "One-Click"}).status_code == 400


def test_an_expired_confirmation_link_says_so(client: FlaskClient, settings: Settings) -> None:
    sign_up(client, "reader@example.org")
    (reader,) = subscribers()
    url = url_for_reader(settings, Purpose.CONFIRM, reader.uid)
    with time_machine.travel(utcnow() + timedelta(days=7, minutes=1)):
        response = client.get(path_of(url))
    assert response.status_code == 410
    assert "This link has expired" in response.text


def test_a_link_for_one_purpose_does_not_serve_another(
    client: FlaskClient, settings: Settings
) -> None:
    sign_up(client, "reader@example.org")
    (reader,) = subscribers()
    confirm_token = path_of(url_for_reader(settings, Purpose.CONFIRM, reader.uid)).split("/")[-1]
    response = client.post(f"/u/{confirm_token}", data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 400


@pytest.mark.parametrize("multipart", [False, True])
def test_one_click_unsubscribe_needs_no_cookie_or_form_token_and_does_not_redirect(
    app, settings: Settings, multipart: bool
) -> None:
    client = app.test_client()
    sign_up(client, "reader@example.org")
    (reader,) = subscribers()
    press_button(client, url_for_reader(settings, Purpose.CONFIRM, reader.uid))
    url = url_for_reader(settings, Purpose.UNSUBSCRIBE, reader.uid)
    mail_provider = app.test_client(use_cookies=False)
    body = {"List-Unsubscribe": "One-Click"}
    response = mail_provider.post(
        path_of(url),
        data=body,
        content_type="multipart/form-data" if multipart else "application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert "Location" not in response.headers
    (reader,) = subscribers()
    assert reader.status is SubscriberStatus.UNSUBSCRIBED
    assert reader.unsubscribe_channel == "one-click"
    assert reader.unsubscribed_at is not None


def test_the_unsubscribe_link_shows_a_button_then_says_goodbye(
    client: FlaskClient, settings: Settings
) -> None:
    sign_up(client, "reader@example.org")
    (reader,) = subscribers()
    url = url_for_reader(settings, Purpose.UNSUBSCRIBE, reader.uid)
    page = client.get(path_of(url))
    assert "Unsubscribe me" in page.text
    assert subscribers()[0].status is SubscriberStatus.PENDING
    goodbye = press_button(client, url)
    assert goodbye.status_code == 200
    assert "You won’t hear from us again" in goodbye.text
    assert subscribers()[0].unsubscribe_channel == "unsubscribe page"


def test_an_unknown_page_is_friendly(client: FlaskClient) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "This page isn’t here" in response.text

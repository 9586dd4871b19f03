"""Signing up from the hosted page, an embedded form and JavaScript: the same answer for
everyone, rate limits, the hidden field, and CORS."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select
from werkzeug.test import TestResponse

from core.config import Settings
from core.db import get_engine, session_scope
from core.models import (
    Delivery,
    DeliveryKind,
    Enrollment,
    Membership,
    Subscriber,
    Suppression,
)
from core.tokens import Purpose, Signer
from courses.model import Catalog
from emails.transports import OutboxTransport
from tasks import readers
from tasks.sending import Sender
from tests.support import outbox
from tests.support.postgres_server import needs_postgresql
from tests.support.readers import active_reader
from tests.support.web import press_button, sign_up
from web import create_app

ORIGIN = "https://friend.example.org"
NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def confirmations() -> int:
    with session_scope() as session:
        query = select(func.count()).where(Delivery.kind == DeliveryKind.CONFIRMATION)
        return session.scalars(query).one()


def subscribers() -> list[Subscriber]:
    with session_scope() as session:
        return list(session.scalars(select(Subscriber).order_by(Subscriber.id)))


def from_ip(client: FlaskClient, ip: str) -> FlaskClient:
    client.environ_base["REMOTE_ADDR"] = ip
    return client


def embedded(client: FlaskClient, email: str, **fields: str) -> TestResponse:
    form = {"email": email, "first_name": "", "timezone": "UTC", "consent": "y", **fields}
    return client.post("/subscribe", data=form)


@pytest.fixture
def cors_client(db: None, settings: Settings) -> FlaskClient:
    app: Flask = create_app(settings.model_copy(update={"signup_origins": [ORIGIN]}))
    app.config["TESTING"] = True
    return app.test_client()


def json_signup(client: FlaskClient, body: Any, origin: str | None = ORIGIN) -> TestResponse:
    headers = {"Origin": origin} if origin else {}
    return client.post("/subscribe", json=body, headers=headers)


# The same answer for everyone


def comparable(response: TestResponse) -> tuple[int, str | None, bytes]:
    return response.status_code, response.headers.get("Location"), response.data


def known_addresses(client: FlaskClient, catalog: Catalog) -> None:
    """pending@, active@ and left@ (unsubscribed) example.org."""
    sign_up(from_ip(client, "10.0.0.1"), "pending@example.org")
    active_reader(catalog, NOW, email="active@example.org")
    _, uid = active_reader(catalog, NOW, email="left@example.org")
    with session_scope() as session:
        readers.unsubscribe(session, uid, "test", NOW)


def test_new_pending_active_and_unsubscribed_addresses_get_the_same_answer(
    client: FlaskClient, catalog: Catalog
) -> None:
    known_addresses(client, catalog)
    addresses = ["new@example.org", "pending@example.org", "active@example.org", "left@example.org"]
    answers = [
        comparable(sign_up(from_ip(client, f"10.0.2.{n}"), address))
        for n, address in enumerate(addresses)
    ]

    assert len(set(answers)) == 1, answers
    assert answers[0][:2] == (303, "/check-your-inbox")


@needs_postgresql("SQLite signs up in a transaction of a few statements")
def test_on_postgresql_any_signup_is_one_statement_outside_a_transaction(
    client: FlaskClient, catalog: Catalog
) -> None:
    # The same work whoever the address belongs to, so the time of the answer cannot tell.
    known_addresses(client, catalog)
    with session_scope() as session:
        session.add(Suppression(email="blocked@example.org", reason="complaint"))

    ran: list[tuple[str, bool]] = []

    def record(connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        ran.append((statement.split()[0], connection.connection.dbapi_connection.autocommit))

    addresses = ["new", "pending", "active", "left", "blocked"]
    event.listen(get_engine(), "before_cursor_execute", record)
    try:
        for n, name in enumerate(addresses):
            ran.clear()
            sign_up(from_ip(client, f"10.0.3.{n}"), f"{name}@example.org")
            assert ran == [("WITH", True)], (name, ran)
    finally:
        event.remove(get_engine(), "before_cursor_execute", record)


# Robots and floods


def test_thirty_rapid_signups_from_one_ip_are_stopped_after_the_limit(client: FlaskClient) -> None:
    statuses = [sign_up(client, f"reader{n}@example.org").status_code for n in range(30)]

    assert statuses[:10] == [303] * 10
    assert set(statuses[10:]) == {429}
    assert confirmations() == 10


def test_a_refused_signup_says_when_to_try_again(client: FlaskClient) -> None:
    for n in range(10):
        sign_up(client, f"reader{n}@example.org")

    refused = sign_up(client, "one-more@example.org")

    assert refused.status_code == 429
    assert "Slow down a little" in refused.text
    assert int(refused.headers["Retry-After"]) > 0


def test_one_address_from_many_ips_is_limited_too(client: FlaskClient) -> None:
    statuses = [
        sign_up(from_ip(client, f"10.0.1.{n}"), "Same@Example.org").status_code for n in range(5)
    ]

    assert statuses == [303, 303, 303, 429, 429]


def test_a_robot_filling_the_hidden_field_gets_the_usual_answer_and_nothing_else(
    client: FlaskClient,
) -> None:
    response = sign_up(client, "robot@example.org", website="https://spam.example")

    assert comparable(response)[:2] == (303, "/check-your-inbox")
    assert subscribers() == []
    assert confirmations() == 0


def test_the_hidden_field_is_out_of_sight_and_out_of_the_tab_order(client: FlaskClient) -> None:
    page = client.get("/").text

    assert '<div class="field trap" aria-hidden="true">' in page
    assert 'name="website" tabindex="-1"' in page


# Embedded forms and JavaScript


def test_an_embedded_form_signs_up_without_our_csrf_token(client: FlaskClient) -> None:
    response = embedded(client, "embedded@example.org", first_name="Ann")

    assert comparable(response)[:2] == (303, "/check-your-inbox")
    [reader] = subscribers()
    assert (reader.email, reader.first_name) == ("embedded@example.org", "Ann")
    assert reader.consent_source == "embedded form"
    assert confirmations() == 1


def test_an_embedded_form_without_consent_shows_the_form_again(client: FlaskClient) -> None:
    response = embedded(client, "embedded@example.org", consent="")

    assert response.status_code == 400
    assert "Please tick the box" in response.text
    assert subscribers() == []


def test_json_from_an_allowed_site_is_accepted_with_cors(cors_client: FlaskClient) -> None:
    body = {
        "email": "js@example.org",
        "first_name": "Jo",
        "timezone": "Asia/Tokyo",
        "consent": True,
    }

    response = json_signup(cors_client, body)

    assert response.status_code == 202
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Check your inbox" in response.json["message"]
    [reader] = subscribers()
    assert (reader.timezone, reader.consent_source) == ("Asia/Tokyo", "api")


def test_json_from_another_site_is_refused(cors_client: FlaskClient) -> None:
    body = {"email": "js@example.org", "consent": True}

    response = json_signup(cors_client, body, origin="https://evil.example")

    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response.headers
    assert subscribers() == []


def test_a_preflight_names_only_an_allowed_site(cors_client: FlaskClient) -> None:
    allowed = cors_client.options("/subscribe", headers={"Origin": ORIGIN})
    other = cors_client.options("/subscribe", headers={"Origin": "https://evil.example"})

    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert allowed.headers["Access-Control-Allow-Methods"] == "POST"
    assert "Access-Control-Allow-Origin" not in other.headers


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not an address", "consent": True}, "email"),
        ({"email": "js@example.org"}, "consent"),
        ({"email": "js@example.org", "consent": True, "timezone": "Mars/Olympus"}, "timezone"),
        (["js@example.org"], "body"),
    ],
)
def test_json_mistakes_are_named_by_field(cors_client: FlaskClient, body: Any, field: str) -> None:
    response = json_signup(cors_client, body)

    assert response.status_code == 400
    assert field in response.json["errors"]
    assert subscribers() == []


def test_an_active_reader_who_signs_up_again_is_mailed_their_page_instead(
    client: FlaskClient, catalog: Catalog, settings: Settings
) -> None:
    active_reader(catalog, NOW, email="active@example.org")

    assert sign_up(client, "active@example.org").status_code == 303

    with session_scope() as session:
        [note] = session.scalars(
            select(Delivery.id).where(Delivery.kind == DeliveryKind.ALREADY_HERE)
        ).all()
    report = Sender(settings, catalog, OutboxTransport(settings.outbox_dir)).send([note], NOW)
    assert report.sent == [note]
    [message] = outbox.messages(settings.outbox_dir)
    assert message["Subject"] == "You are already reading Softening Sessions"
    text, html = outbox.parts(message)
    assert f"{settings.base_url}/p/" in text
    assert "Open my page" in html
    assert confirmations() == 0


# Choosing what to receive


def test_a_reader_who_chose_only_the_newsletter_is_not_enrolled_in_the_course(
    client: FlaskClient, catalog: Catalog
) -> None:
    newsletter = next(iter(catalog.newsletters.values()))
    response = sign_up(client, "choosy@example.org", chosen="y", wanted=newsletter.slug)
    assert response.status_code == 303
    with session_scope() as session:
        reader = readers.find_by_email(session, "choosy@example.org")
        assert reader is not None
        assert reader.wanted == [newsletter.slug]
        readers.confirm(session, reader.uid, catalog, NOW)
    with session_scope() as session:
        assert session.scalars(select(Enrollment)).all() == []
        lists = session.scalars(select(Membership.list)).all()
    assert lists == [newsletter.list]


def test_ticking_nothing_on_the_page_asks_for_a_choice(client: FlaskClient) -> None:
    response = sign_up(client, "none@example.org", chosen="y")

    assert response.status_code == 400
    assert "Please choose at least one." in response.text
    assert subscribers() == []


def test_a_form_without_the_choice_means_everything_offered(
    client: FlaskClient, catalog: Catalog
) -> None:
    embedded(client, "all@example.org")
    with session_scope() as session:
        reader = readers.find_by_email(session, "all@example.org")
        assert reader is not None
        assert reader.wanted is None
        readers.confirm(session, reader.uid, catalog, NOW)
    with session_scope() as session:
        courses = session.scalars(select(Enrollment.course)).all()
        lists = session.scalars(select(Membership.list)).all()
    assert courses == [course.slug for course in catalog.offered_on_signup()]
    assert sorted(lists) == catalog.lists_on_signup()


def test_json_may_choose_by_slug_and_an_unknown_slug_is_refused(
    cors_client: FlaskClient, catalog: Catalog
) -> None:
    course = catalog.offered_on_signup()[0]
    good = json_signup(cors_client, {"email": "a@example.org", "consent": True,
                                     "wanted": [course.slug]})  # fmt: skip
    bad = json_signup(cors_client, {"email": "b@example.org", "consent": True,
                                    "wanted": ["no-such-course"]})  # fmt: skip

    assert good.status_code == 202
    assert bad.status_code == 400
    assert "wanted" in bad.json["errors"]
    [reader] = subscribers()
    assert reader.wanted == [course.slug]


def test_the_confirmed_page_speaks_of_what_the_reader_chose(
    client: FlaskClient, catalog: Catalog, settings: Settings
) -> None:
    newsletter = next(iter(catalog.newsletters.values()))
    sign_up(client, "letters@example.org", chosen="y", wanted=newsletter.slug)
    with session_scope() as session:
        reader = readers.find_by_email(session, "letters@example.org")
        assert reader is not None
        uid = reader.uid
    token = Signer(settings.require_secret_key()).sign(Purpose.CONFIRM, uid)

    page = press_button(client, f"/confirm/{token}").text

    assert "You’re in" in page
    assert "The next letter arrives in your morning" in page
    assert "Softening Sessions" not in page


def test_the_confirmed_page_lists_everything_chosen(client: FlaskClient, catalog: Catalog) -> None:
    sign_up(client, "everything@example.org")
    with session_scope() as session:
        reader = readers.find_by_email(session, "everything@example.org")
        assert reader is not None
        token = Signer(client.application.extensions["tend.settings"].secret_key).sign(
            Purpose.CONFIRM, reader.uid
        )

    page = press_button(client, f"/confirm/{token}").text

    assert "Your first letter from Softening Sessions is on its way." in page
    for publication in catalog.offered():
        assert f"<li>{publication.title}</li>" in page

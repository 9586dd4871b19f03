"""CSRF: every route that changes something refuses a post without this session's form
token, and changes nothing; the few that must take posts from elsewhere are listed here
with the reason, and a new one fails the walk until it is listed.

The routes come from the app's url_map, so a new form cannot escape the check. The app is
the real one: create_app() leaves Flask-WTF's CSRF on (nothing in the test setup turns it
off, which the first test holds).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from core.config import Settings
from core.tokens import Purpose, Signer
from courses.model import Catalog
from tests.support.attacks import database_state
from tests.support.operators import form_token
from tests.support.readers import active_reader

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# The only routes that take a post without our form token, and why each may.
EXEMPT = {
    "leave.unsubscribe": "RFC 8058 one-click: a mail provider posts it without cookies; "
    "the signed token in the address is the proof",
    "hooks.sendgrid_events": "machine to machine: the ECDSA signature is the proof",
    "signup.subscribe": "forms on other sites cannot carry our token: rate limits, the "
    "hidden field and double opt-in guard it",
}
# How the app says no to a post without a good form token (errors.py; the import form
# checks its token itself, after its larger size limit).
REFUSALS = ("This form was open for a long time", "The form had expired")
# What a form might carry, all at once: with a good token, most of these posts would act.
FIELDS = {
    "email": "admin@example.org",
    "password": "a long enough password",
    "consent": "y",
    "timezone": "UTC",
    "first_name": "Mallory",
    "course": "softening-sessions",
    "action": "pause",
    "weeks": "2",
    "list_name": "remember-and-reclaim",
    "turn": "off",
    "name": "overview",
    "confirm": "erase",
    "List-Unsubscribe": "One-Click",
}
PURPOSES = {"confirm": Purpose.CONFIRM, "u": Purpose.UNSUBSCRIBE}


def unsafe_rules(app: Flask) -> list[tuple[str, Rule]]:
    """(method, rule) for every route that takes something other than GET/HEAD/OPTIONS."""
    found = [
        (method, rule)
        for rule in app.url_map.iter_rules()
        for method in sorted((rule.methods or set()) & UNSAFE)
    ]
    assert len(found) > 25, "the walk found the app's forms"
    return found


def url_of(rule: Rule, uid: str, reader_id: int, settings: Settings) -> str:
    """The rule's address with real values: a live reader's link, an existing reader."""
    signer = Signer(settings.require_secret_key())
    purpose = PURPOSES.get(rule.rule.strip("/").split("/")[0], Purpose.PREFERENCES)
    values = {
        "token": signer.sign(purpose, uid),
        "reader_id": reader_id,
        "delivery_id": 1,
        "broadcast_id": 1,
        "upload_id": "0" * 32,
    }
    unknown = set(rule.arguments) - set(values)
    assert not unknown, f"{rule.rule}: give the walk a value for {unknown}"
    return rule.build({name: values[name] for name in rule.arguments})[1]


def poster(rule: Rule, reader_client: FlaskClient, admin: FlaskClient) -> FlaskClient:
    """An operator posts to the dashboard; everything else is posted as a reader would."""
    return admin if rule.rule.startswith("/dashboard/") else reader_client


def refused(answer: TestResponse) -> bool:
    return answer.status_code in (400, 403) and any(text in answer.text for text in REFUSALS)


@pytest.fixture
def reader(catalog: Catalog) -> tuple[int, str]:
    return active_reader(catalog, NOW)


def test_csrf_protection_is_on_in_the_apps_real_configuration(app: Flask) -> None:
    assert app.config.get("WTF_CSRF_ENABLED", True) is True
    assert app.config.get("WTF_CSRF_CHECK_DEFAULT", True) is True
    assert "csrf" in app.extensions


def test_every_post_without_a_token_is_refused_and_changes_nothing_but_the_listed_ones(
    app: Flask,
    client: FlaskClient,
    admin: FlaskClient,
    reader: tuple[int, str],
    settings: Settings,
) -> None:
    reader_id, uid = reader
    taken = set()
    for method, rule in unsafe_rules(app):
        url = url_of(rule, uid, reader_id, settings)
        before = database_state()
        answer = poster(rule, client, admin).open(url, method=method, data=FIELDS)
        if not refused(answer):
            taken.add(rule.endpoint)
            continue
        assert database_state() == before, f"{method} {url} changed something"
    assert taken == set(EXEMPT), "a route takes posts without a form token: list it or fix it"


def test_a_token_from_another_session_is_refused_everywhere(
    app: Flask,
    client: FlaskClient,
    admin: FlaskClient,
    reader: tuple[int, str],
    settings: Settings,
) -> None:
    reader_id, uid = reader
    foreign = form_token(app.test_client())
    for method, rule in unsafe_rules(app):
        if rule.endpoint in EXEMPT:
            continue
        url = url_of(rule, uid, reader_id, settings)
        before = database_state()
        sender = poster(rule, client, admin)
        answer = sender.open(url, method=method, data={**FIELDS, "csrf_token": foreign})
        assert refused(answer), f"{method} {url} took another session's token"
        assert database_state() == before, f"{method} {url} changed something"


def test_the_same_posts_with_this_sessions_token_get_past_the_check(
    app: Flask,
    client: FlaskClient,
    admin: FlaskClient,
    reader: tuple[int, str],
    settings: Settings,
) -> None:
    """The control: the refusals above are the CSRF check's, not some other 400."""
    reader_id, uid = reader
    for method, rule in unsafe_rules(app):
        url = url_of(rule, uid, reader_id, settings)
        sender = poster(rule, client, admin)
        # Fresh each time: logging in starts a new session, with a new token.
        token = form_token(sender)
        answer = sender.open(url, method=method, data={**FIELDS, "csrf_token": token})
        assert not refused(answer), f"{method} {url} refused a good token"

"""Signed links (core/tokens.py, read by web/tokens.py): every route that reads a token
from its address, found in the url_map, answers a bad one with the friendly link-problem
page (never a 500) and changes nothing. Bad means: a character changed in the uid, the
time or the signature; cut short; signed with another key; made for another purpose;
out of date (confirmation links only: the others last as long as the key). Links that act
once stay safe when used again, and one reader's link acts only on that reader.

tests/integration/test_web.py and test_preferences.py try a few of these on one page
each; here every case meets every route.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.routing import Rule

from core.clock import utcnow
from core.config import Settings
from core.db import get_engine, session_scope
from core.models import Base, Subscriber
from core.tokens import Purpose, Signer
from courses.model import Catalog
from tests.support.attacks import database_state
from tests.support.readers import active_reader
from tests.support.web import csrf_token

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
PURPOSES = {"confirm": Purpose.CONFIRM, "u": Purpose.UNSUBSCRIBE}
LINK_PROBLEM = ("This link doesn’t work", "This link has expired")
# What a form on these pages might carry: with a good link most of these posts would act.
FIELDS = {
    "course": "softening-sessions",
    "action": "pause",
    "weeks": "2",
    "list_name": "remember-and-reclaim",
    "turn": "off",
    "first_name": "Mallory",
    "timezone": "UTC",
    "List-Unsubscribe": "One-Click",
}


def token_routes(app: Flask) -> list[tuple[str, Rule]]:
    """(method, rule) for every route whose address carries a signed token."""
    found = [
        (method, rule)
        for rule in app.url_map.iter_rules()
        if "token" in rule.arguments
        for method in sorted((rule.methods or set()) & {"GET", "POST", "PUT", "PATCH", "DELETE"})
    ]
    assert len(found) >= 16, "the walk found the link routes"
    return found


def purpose_of(rule: Rule) -> Purpose:
    return PURPOSES.get(rule.rule.strip("/").split("/")[0], Purpose.PREFERENCES)


def address(rule: Rule, token: str) -> str:
    extra = {"publication": "softening-sessions", "letter": "welcome"}
    return rule.build({"token": token, **{k: extra[k] for k in rule.arguments - {"token"}}})[1]


def flipped(text: str, at: int) -> str:
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]


def bad_tokens(signer: Signer, purpose: Purpose, uid: str) -> dict[str, str]:
    good = signer.sign(purpose, uid)
    payload, stamp, signature = good.split(".")
    others = [p for p in Purpose if p is not purpose]
    return {
        "a changed uid": f"{flipped(payload, 0)}.{stamp}.{signature}",
        "a changed time": f"{payload}.{flipped(stamp, len(stamp) - 1)}.{signature}",
        "a changed signature": f"{payload}.{stamp}.{flipped(signature, 3)}",
        "the last character cut": good[:-1],
        "no signature": f"{payload}.{stamp}",
        "the uid alone": payload,
        "another key": Signer(["some other key that is long enough 0123456"]).sign(purpose, uid),
        **{f"made for {other}": signer.sign(other, uid) for other in others},
    }


def send(client: FlaskClient, method: str, url: str) -> object:
    if method == "GET":
        return client.get(url)
    return client.open(url, method=method, data={**FIELDS, "csrf_token": csrf_token(client, "/")})


def pending_reader(email: str) -> str:
    with session_scope() as session:
        reader = Subscriber(email=email, timezone="UTC")
        session.add(reader)
        session.flush()
        return reader.uid


def rows_of(subscriber_id: int) -> dict[str, list[tuple[object, ...]]]:
    """One reader's rows in every table."""
    found = {}
    with get_engine().connect() as connection:
        for table in Base.metadata.sorted_tables:
            column = table.c.get("subscriber_id") if table.name != "subscribers" else table.c.id
            if column is not None:
                rows = connection.execute(select(table).where(column == subscriber_id))
                found[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return found


@pytest.fixture
def signer(settings: Settings) -> Signer:
    return Signer(settings.require_secret_key())


@pytest.fixture
def uid(catalog: Catalog) -> str:
    return active_reader(catalog, NOW)[1]


def test_every_bad_link_on_every_route_gets_the_link_page_and_changes_nothing(
    app: Flask, client: FlaskClient, signer: Signer, uid: str
) -> None:
    for method, rule in token_routes(app):
        for case, token in bad_tokens(signer, purpose_of(rule), uid).items():
            before = database_state()
            answer = send(client, method, address(rule, token))
            where = f"{method} {rule.rule} with {case}"
            assert answer.status_code == 400, where  # type: ignore[attr-defined]
            assert any(t in answer.text for t in LINK_PROBLEM), where  # type: ignore[attr-defined]
            assert database_state() == before, f"{where} changed something"


def test_an_expired_confirmation_link_says_so_on_both_its_routes_and_confirms_no_one(
    app: Flask, client: FlaskClient, signer: Signer
) -> None:
    uid = pending_reader("late@example.org")
    with time_machine.travel(utcnow() - timedelta(days=8), tick=False):
        old = signer.sign(Purpose.CONFIRM, uid)
    with time_machine.travel(utcnow() - timedelta(days=6), tick=False):
        recent = signer.sign(Purpose.CONFIRM, uid)
    assert client.get(f"/confirm/{recent}").status_code == 200, "six days old is still good"
    for method, rule in token_routes(app):
        if purpose_of(rule) is not Purpose.CONFIRM:
            continue
        before = database_state()
        answer = send(client, method, address(rule, old))
        assert answer.status_code == 410, rule.rule  # type: ignore[attr-defined]
        assert "This link has expired" in answer.text, rule.rule  # type: ignore[attr-defined]
        assert database_state() == before


def test_confirming_twice_changes_nothing_the_second_time(
    client: FlaskClient, signer: Signer
) -> None:
    link = "/confirm/" + signer.sign(Purpose.CONFIRM, pending_reader("twice@example.org"))
    first = client.post(link, data={"csrf_token": csrf_token(client, link)})
    assert first.status_code == 200
    after_first = database_state()
    again = client.post(link, data={"csrf_token": csrf_token(client, link)})
    assert again.status_code == 200, "the same friendly page"
    assert database_state() == after_first, "no second enrollment, no second welcome"


def test_one_click_twice_changes_nothing_the_second_time(
    client: FlaskClient, signer: Signer, uid: str
) -> None:
    link = "/u/" + signer.sign(Purpose.UNSUBSCRIBE, uid)
    assert client.post(link, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    after_first = database_state()
    assert client.post(link, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert database_state() == after_first


def test_erasing_twice_is_safe_and_the_link_then_tells_nothing(
    app: Flask, client: FlaskClient, signer: Signer, uid: str
) -> None:
    token = signer.sign(Purpose.PREFERENCES, uid)
    erase = f"/p/{token}/erase"
    assert client.post(erase, data={"csrf_token": csrf_token(client, erase)}).status_code == 200
    after_first = database_state()
    for method, rule in token_routes(app):
        if purpose_of(rule) is not Purpose.PREFERENCES:
            continue
        answer = send(client, method, address(rule, token))
        where = f"{method} {rule.rule} after erasing"
        assert answer.status_code in (400, 404), where  # type: ignore[attr-defined]
        assert "reader@example.org" not in answer.text, where  # type: ignore[attr-defined]
        assert database_state() == after_first, where


def test_one_readers_link_acts_on_no_other_reader(
    app: Flask, client: FlaskClient, signer: Signer, catalog: Catalog, uid: str
) -> None:
    other_id, _ = active_reader(catalog, NOW, email="other@example.org")
    other = rows_of(other_id)
    for method, rule in token_routes(app):
        if method != "GET":
            send(client, method, address(rule, signer.sign(purpose_of(rule), uid)))
    assert rows_of(other_id) == other, "the other reader's rows are as they were"
    with session_scope() as session:
        mine = session.scalars(select(Subscriber).where(Subscriber.uid == uid)).one_or_none()
        assert mine is None, "the posts acted: one of them erased the link’s own reader"

"""SQL metacharacters, NUL and broken Unicode in every query-string field of every page
an operator reads, and in every field of every form: each answer is a page or a plain
4xx, never a 500, and a LIKE wildcard in a search matches only itself (searching "%"
finds no one whose address lacks one).

The fields are found on the pages themselves (every GET form's inputs, every query in a
link), and each page is also sent every field name known to any page at once, so a page
that starts reading a new field meets the probes too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.routing import Rule

from core.config import Settings
from core.db import session_scope
from core.models import Subscriber, Suppression
from core.tokens import Purpose, Signer
from courses.model import Catalog
from tests.support.attacks import SQL_PROBES
from tests.support.readers import active_reader
from tests.support.web import csrf_token

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
PURPOSES = {"confirm": Purpose.CONFIRM, "u": Purpose.UNSUBSCRIBE}
# Fields read only once there is more than a page of rows (the paging links).
PAGING = {"after", "before", "page"}


class Fields(HTMLParser):
    """Where a page's GET forms and links send query fields: {path: field names}."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.page = page
        self.found: dict[str, set[str]] = {}
        self._form: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form" and (values.get("method") or "get").lower() == "get":
            self._form = urlsplit(values.get("action") or self.page).path
            self.found.setdefault(self._form, set())
        elif tag in {"input", "select", "textarea"} and self._form and values.get("name"):
            self.found[self._form].add(values["name"] or "")
        elif tag == "a" and "?" in (values.get("href") or ""):
            parts = urlsplit(values["href"] or "")
            if not parts.netloc:
                names = {name for name, _ in parse_qsl(parts.query, keep_blank_values=True)}
                self.found.setdefault(parts.path or self.page, set()).update(names)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None


def pages(app: Flask, reader_id: int) -> list[str]:
    """Every page of the dashboard and the author previews, with real values."""
    values = {
        "reader_id": reader_id,
        "slug": "softening-sessions",
        "broadcast_id": 1,
        "name": "missing.eml",
        "upload_id": "0" * 32,
        "publication": "softening-sessions",
        "letter": "welcome",
    }
    found = []
    for rule in app.url_map.iter_rules():
        if "GET" in (rule.methods or set()) and rule.rule.startswith(("/dashboard", "/author")):
            found.append(build(rule, values))
    assert len(found) > 20, "the walk found the pages"
    return found


def build(rule: Rule, values: dict[str, object]) -> str:
    unknown = set(rule.arguments) - set(values)
    assert not unknown, f"{rule.rule}: give the walk a value for {unknown}"
    return rule.build({name: values[name] for name in rule.arguments})[1]


def discovered(admin: FlaskClient, paths: list[str]) -> dict[str, set[str]]:
    fields: dict[str, set[str]] = {path: set() for path in paths}
    for path in paths:
        answer = admin.get(path)
        if answer.mimetype == "text/html":
            parser = Fields(path)
            parser.feed(answer.text)
            for target, names in parser.found.items():
                fields.setdefault(target, set()).update(names - {"csrf_token"})
    return fields


def query(fields: dict[str, str]) -> str:
    # A lone surrogate goes as the bytes it would be (not UTF-8): what a robot may send.
    pairs = (f"{quote(k)}={quote(v, safe='', errors='surrogatepass')}" for k, v in fields.items())
    return "&".join(pairs)


@pytest.fixture
def reader_id(catalog: Catalog) -> int:
    return active_reader(catalog, NOW)[0]


def test_every_field_of_every_page_takes_every_probe_without_a_500(
    app: Flask, admin: FlaskClient, reader_id: int
) -> None:
    fields = discovered(admin, pages(app, reader_id))
    every_name = set().union(*fields.values()) | PAGING
    assert {"q", "status", "list", "course", "since", "timezone"} <= every_name, every_name
    for path, names in fields.items():
        for probe in SQL_PROBES:
            asks = [{name: probe} for name in sorted(names)]
            asks.append(dict.fromkeys(sorted(every_name), probe))
            for ask in asks:
                answer = admin.get(f"{path}?{query(ask)}")
                assert answer.status_code < 500, f"{path}?{ask!r}: {answer.status_code}"


def test_a_wildcard_in_a_search_matches_only_itself(admin: FlaskClient, catalog: Catalog) -> None:
    active_reader(catalog, NOW, email="reader@example.org")
    with session_scope() as session:
        session.add(Suppression(email="blocked@example.org", reason="bounce", source="test"))
    for wildcard in ("%", "_", "\\", "%%", "_%"):
        readers = admin.get("/dashboard/readers", query_string={"q": wildcard})
        suppressions = admin.get("/dashboard/suppressions", query_string={"q": wildcard})
        assert readers.status_code == suppressions.status_code == 200
        assert "reader@example.org" not in readers.text, f"{wildcard!r} was a wildcard"
        assert "blocked@example.org" not in suppressions.text, f"{wildcard!r} was a wildcard"
    # The control: the same pages do show them when the search is their start.
    assert "reader@example.org" in admin.get("/dashboard/readers?q=rea").text
    assert "blocked@example.org" in admin.get("/dashboard/suppressions?q=blo").text


# The fields any form of ours posts, each sent every probe at once with a good form token.
POSTED = ("email", "first_name", "timezone", "course", "action", "weeks", "list_name", "turn",
          "name", "confirm", "source", "mode", "chosen", "password", "status")  # fmt: skip
# Fewer than in a query: a login with each costs a password hash's time.
FORM_PROBES = ("\x00", "'", "%", "\\", "' OR '1'='1", "é€😀")


def test_every_form_takes_every_probe_in_every_field_without_a_500(
    app: Flask, client: FlaskClient, admin: FlaskClient, reader_id: int, settings: Settings
) -> None:
    signer = Signer(settings.require_secret_key())
    with session_scope() as session:
        uid = session.scalars(select(Subscriber.uid).where(Subscriber.id == reader_id)).one()
    values = {"reader_id": reader_id, "delivery_id": 1, "broadcast_id": 1, "upload_id": "0" * 32}
    for rule in app.url_map.iter_rules():
        if "POST" not in (rule.methods or set()) or rule.endpoint == "hooks.sendgrid_events":
            continue
        purpose = PURPOSES.get(rule.rule.strip("/").split("/")[0], Purpose.PREFERENCES)
        path = build(rule, {**values, "token": signer.sign(purpose, uid)})
        visitor = admin if path.startswith("/dashboard") else client
        for probe in FORM_PROBES:
            form = dict.fromkeys(POSTED, probe)
            form["csrf_token"] = csrf_token(visitor, "/dashboard/login")
            answer = visitor.post(path, data=form)
            assert answer.status_code < 500, f"POST {path} with {probe!r}: {answer.status_code}"

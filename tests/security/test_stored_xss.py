"""Stored XSS: names carrying a script, a broken-out attribute with a handler, or a
script URL come in through the signup form and through a CSV import, and are then shown
as text, never as markup, on every page that shows them (the readers list, each reader's
page, failures, suppressions, the outbox and its letters, the import report, the reader's
own page) and in the HTML part of the letters sent to them.

Each page is parsed: the check is for elements and attributes that would run, and for the
payload among the page's text, not for a string in the source.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update

from core.clock import utcnow
from core.config import Settings
from core.db import session_scope
from core.models import Delivery, DeliveryStatus, Subscriber, Suppression
from core.tokens import Purpose, Signer
from courses.model import Catalog
from emails.transports import OutboxTransport
from tasks.sending import Sender
from tests.support.attacks import XSS, import_readers, markup_of, shown_as_text
from tests.support.broker import queued_sends
from tests.support.outbox import messages, parts
from tests.support.web import sign_up

GREETING = "/author/remember-and-reclaim/2026-12-01-naming-the-weather"
CSV_NAMES = tuple(f"{payload} (imported)" for payload in XSS)


def import_names(admin: FlaskClient) -> str:
    """A CSV file of readers with the payloads as names, checked and imported: its id."""
    rows = "".join(f'"imported{n}@example.org","{name.replace(chr(34), chr(34) * 2)}"\n'
                   for n, name in enumerate(CSV_NAMES))  # fmt: skip
    return import_readers(admin, f"email,first_name\n{rows}", XSS[1])


def send_what_is_queued(settings: Settings, catalog: Catalog) -> None:
    ids = [delivery_id for batch in queued_sends(settings) for delivery_id in batch]
    assert ids, "confirmations were queued"
    Sender(settings, catalog, OutboxTransport(settings.outbox_dir)).send(ids, utcnow())


def fail_one_with(payload: str) -> None:
    """A provider's error message is outside text too: the first delivery failed with it."""
    with session_scope() as session:
        first = session.scalars(select(Delivery.id).order_by(Delivery.id)).first()
        session.execute(
            update(Delivery)
            .where(Delivery.id == first)
            .values(status=DeliveryStatus.FAILED, last_error=payload, attempts=3)
        )
        later = utcnow() + timedelta(seconds=1)
        session.add(Suppression(email="gone@example.org", reason="bounce", source=payload,
                                created_at=later))  # fmt: skip


@pytest.fixture
def stored(
    client: FlaskClient, admin: FlaskClient, settings: Settings, catalog: Catalog
) -> dict[str, list[str]]:
    """The payloads stored every way in: {page: the payloads it must show as text}."""
    for n, payload in enumerate(XSS):
        assert sign_up(client, f"signup{n}@example.org", first_name=payload).status_code == 303
    upload_id = import_names(admin)
    send_what_is_queued(settings, catalog)
    fail_one_with(XSS[0])
    names = [*XSS, *CSV_NAMES]
    signer = Signer(settings.require_secret_key())
    with session_scope() as session:
        readers = session.execute(select(Subscriber.id, Subscriber.uid)).all()
    letters = sorted(path.name for path in settings.outbox_dir.glob("*.eml"))
    return {
        "/dashboard/readers": names,
        **{f"/dashboard/readers/{reader_id}": [] for reader_id, _ in readers},
        **{f"/p/{signer.sign(Purpose.PREFERENCES, uid)}": [] for _, uid in readers},
        "/dashboard/failures": [XSS[0]],
        "/dashboard/suppressions": [XSS[0]],
        "/dashboard/outbox": [],
        **{f"/dashboard/outbox/{name}": [] for name in letters},
        f"/dashboard/import/{upload_id}": [XSS[1]],
        "/dashboard/import-export": [],
        "/dashboard/": [],
    }


def test_every_page_shows_the_payloads_as_text_and_nothing_of_them_runs(
    admin: FlaskClient, client: FlaskClient, stored: dict[str, list[str]]
) -> None:
    for path, expected in stored.items():
        visitor = admin if path.startswith("/dashboard") else client
        answer = visitor.get(path)
        assert answer.status_code == 200, path
        for payload in expected:
            assert shown_as_text(answer.text, payload), f"{path}: {payload!r} is not shown"
        assert markup_of(answer.text).running == [], path


def test_each_reader_page_shows_that_readers_name_as_text(
    admin: FlaskClient, stored: dict[str, list[str]]
) -> None:
    shown = set()
    for path in stored:
        if re.fullmatch(r"/dashboard/readers/\d+", path):
            page = admin.get(path).text
            shown.update(name for name in (*XSS, *CSV_NAMES) if shown_as_text(page, name))
    assert shown == {*XSS, *CSV_NAMES}


def test_the_confirmations_html_has_nothing_of_the_names_that_runs(
    settings: Settings, stored: dict[str, list[str]]
) -> None:
    letters = messages(settings.outbox_dir)
    assert len(letters) == len(XSS) + len(CSV_NAMES), "a confirmation to every reader"
    for letter in letters:
        assert markup_of(parts(letter)[1]).running == [], letter["To"]


@pytest.mark.parametrize("payload", XSS)
def test_a_letter_greeting_its_reader_by_name_shows_the_name_as_text(
    admin: FlaskClient, payload: str
) -> None:
    """An issue says "Dear {{ reader.first_name }}": rendered as for a reader, through
    the author's preview of the letter's HTML, which fills in the name it is given."""
    html = admin.get(f"{GREETING}/html", query_string={"first_name": payload})
    assert html.status_code == 200
    assert shown_as_text(html.text, payload)
    preview = admin.get(GREETING, query_string={"first_name": payload})
    assert markup_of(preview.text).running == []

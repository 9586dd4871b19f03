"""Header injection: every line break (CR, LF, CRLF, NEL, LINE and PARAGRAPH SEPARATOR)
in every reader field that reaches a mail header. The signup refuses an address with one
and stores a name without it; the preferences page and a CSV import do the same; and
neither the .eml the outbox writes nor the request sent to SendGrid carries a header the
reader wrote.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from core.clock import utcnow
from core.config import Settings, get_settings
from core.db import session_scope
from core.models import Subscriber
from core.tokens import Purpose, Signer
from courses.model import Catalog
from emails.transports import OutboxTransport
from tasks.sending import Sender
from tests.support.attacks import (
    INJECTED_HEADER,
    LINE_BREAKS,
    CapturingSendGrid,
    database_state,
    import_readers,
)
from tests.support.broker import queued_sends
from tests.support.outbox import messages
from tests.support.readers import active_reader
from tests.support.web import csrf_token, sign_up

NAMES = {brk: f"Sam{brk}{INJECTED_HEADER}" for brk in LINE_BREAKS}


def has_break(text: str) -> bool:
    return any(brk in text for brk in LINE_BREAKS) or text != " ".join(text.split())


def stored_names() -> dict[str, str | None]:
    with session_scope() as session:
        return dict(session.execute(select(Subscriber.email, Subscriber.first_name)).all())


def signed_up_with_broken_names(client: FlaskClient) -> None:
    for n, name in enumerate(NAMES.values()):
        assert sign_up(client, f"reader{n}@example.org", first_name=name).status_code == 303
    names = stored_names()
    assert len(names) == len(NAMES)
    for name in names.values():
        assert name == f"Sam {INJECTED_HEADER}", "the break became a space; the text stays"


def queued() -> list[int]:
    return [delivery_id for batch in queued_sends(get_settings()) for delivery_id in batch]


@pytest.mark.parametrize("brk", LINE_BREAKS, ids=repr)
def test_an_address_with_a_line_break_is_refused_and_nothing_stored(
    client: FlaskClient, brk: str
) -> None:
    before = database_state()
    answer = sign_up(client, f"reader@example.org{brk}{INJECTED_HEADER}")
    assert answer.status_code == 400
    assert database_state() == before


def test_the_letters_written_have_no_header_a_reader_wrote(
    client: FlaskClient, settings: Settings, catalog: Catalog
) -> None:
    signed_up_with_broken_names(client)
    Sender(settings, catalog, OutboxTransport(settings.outbox_dir)).send(queued(), utcnow())
    letters = sorted(settings.outbox_dir.glob("*.eml"))
    assert len(letters) == len(NAMES)
    for path in letters:
        head = path.read_bytes().split(b"\r\n\r\n", 1)[0].decode("ascii")
        lines = head.split("\r\n")
        assert not [line for line in lines if line.lower().startswith("bcc")], head
        assert "victim" not in "".join(line for line in lines if not line.startswith("To:"))
    for letter in messages(settings.outbox_dir):
        assert letter["Bcc"] is None
        assert not has_break(str(letter["To"])), letter["To"]


def strings_outside_content(value: Any, path: str = "") -> list[tuple[str, str]]:
    """Every string in a request body, with where it is, but for the letter's parts."""
    if isinstance(value, dict):
        return [
            found
            for key, item in value.items()
            if key != "content"
            for found in strings_outside_content(item, f"{path}.{key}")
        ]
    if isinstance(value, list):
        return [found for item in value for found in strings_outside_content(item, path)]
    return [(path, value)] if isinstance(value, str) else []


def test_the_sendgrid_request_has_no_header_or_name_a_reader_broke(
    client: FlaskClient, settings: Settings, catalog: Catalog
) -> None:
    signed_up_with_broken_names(client)
    sendgrid = CapturingSendGrid()
    assert Sender(settings, catalog, sendgrid).send(queued(), utcnow()).sent
    strings = [found for body in sendgrid.bodies for found in strings_outside_content(body)]
    names = [text for where, text in strings if where.endswith(".to.name")]
    assert len(names) == len(NAMES), "every reader's name went in the request"
    for where, text in strings:
        assert not any(brk in text for brk in LINE_BREAKS), f"{where}: {text!r}"
    for body in sendgrid.bodies:
        for personalization in body["personalizations"]:
            assert "bcc" not in personalization
            assert "Bcc" not in personalization.get("headers", {})


@pytest.mark.parametrize("brk", LINE_BREAKS, ids=repr)
def test_a_name_changed_on_the_readers_page_loses_its_line_break(
    client: FlaskClient, settings: Settings, catalog: Catalog, brk: str
) -> None:
    _, uid = active_reader(catalog, utcnow())
    page = "/p/" + Signer(settings.require_secret_key()).sign(Purpose.PREFERENCES, uid)
    form = {"csrf_token": csrf_token(client, page), "first_name": NAMES[brk], "timezone": "UTC"}
    assert client.post(f"{page}/details", data=form).status_code == 303
    assert stored_names()["reader@example.org"] == f"Sam {INJECTED_HEADER}"


def test_names_imported_from_a_file_lose_their_line_breaks(admin: FlaskClient) -> None:
    rows = "".join(f'"reader{n}@example.org","{name}"\r\n' for n, name in enumerate(NAMES.values()))
    import_readers(admin, f"email,first_name\r\n{rows}", f"a list{LINE_BREAKS[2]}Bcc: x")
    names = stored_names()
    assert len(names) == len(NAMES), "every row came in"
    for name in names.values():
        assert name == f"Sam {INJECTED_HEADER}", repr(name)
    with session_scope() as session:
        sources = set(session.scalars(select(Subscriber.consent_source)))
    assert not any(has_break(source or "") for source in sources), sources

"""What the security suite attacks with, and how it looks at what came back.

Payloads are grouped by the protection they try; the helpers read a database's whole
state (to say an attack changed nothing) and find markup an attacker's text became in a
page (parsed, never grepped).
"""

from __future__ import annotations

import io
from html.parser import HTMLParser
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from core.db import get_engine
from core.models import Base
from emails.batch import Batch
from emails.transports.base import Outcome
from emails.transports.sendgrid import request_body
from tasks import imports
from tests.support.operators import form_token

# Everything a header line may be broken with: CR, LF, both, and what Python's str
# methods also take for line ends (NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR).
LINE_BREAKS = ("\r", "\n", "\r\n", "\u0085", "\u2028", "\u2029")
INJECTED_HEADER = "Bcc: victim@example.net"

# Stored XSS: a script element, a broken-out attribute with a handler, a script URL.
XSS = (
    "<script>alert('xss')</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(1)",
)

# What a search box receives from someone probing for SQL injection.
SQL_PROBES = (
    "'",
    '"',
    ";",
    "--",
    "%",
    "_",
    "\\",
    "\x00",
    "' OR '1'='1",
    "'; DROP TABLE subscribers; --",
    "%' OR 1=1 --",
    "é€😀",
    "\ud800",  # a lone surrogate: not even encodable as UTF-8
)

# A spreadsheet reads a cell starting with any of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def database_state() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order: equal before and after an attack
    means it changed nothing."""
    with get_engine().connect() as connection:
        return {
            table.name: sorted((tuple(row) for row in connection.execute(select(table))), key=repr)
            for table in Base.metadata.sorted_tables
        }


class Markup(HTMLParser):
    """The elements and attributes of a page that run code, and all of its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.running: list[str] = []  # what would run or navigate to script
        self.text: list[str] = []  # text nodes and attribute values, unescaped
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            self.text.append(value or "")
            if name.startswith("on"):
                self.running.append(f"<{tag} {name}={value!r}>")
            if name in {"href", "src", "action", "formaction"} and _scripted(value or ""):
                self.running.append(f"<{tag} {name}={value!r}>")
        if tag == "img" and dict(attrs).get("src") == "x":
            self.running.append("<img src=x>")
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and "xss" in data:
            self.running.append(f"<script>{data}</script>")
        self.text.append(data)


def _scripted(url: str) -> bool:
    return "".join(url.split()).lower().startswith(("javascript:", "vbscript:", "data:text"))


def markup_of(html: str) -> Markup:
    parser = Markup()
    parser.feed(html)
    parser.close()
    return parser


def shown_as_text(html: str, payload: str) -> bool:
    """Whether the page shows `payload` as text and nothing in it runs."""
    page = markup_of(html)
    assert page.running == [], f"the payload became markup: {page.running}"
    return any(payload in text for text in page.text)


class CapturingSendGrid:
    """A transport that builds SendGrid's request body exactly as the real one does and
    keeps it, accepting every message: to read what would go over the wire."""

    name = "sendgrid"
    batch_size = 1000

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def send(self, batch: Batch) -> list[Outcome]:
        self.bodies.append(request_body(batch))
        return [Outcome(key=r.key, provider_id=f"sg-{r.key}") for r in batch.recipients]

    def close(self) -> None:
        pass


def import_readers(admin: FlaskClient, csv_text: str, source: str) -> str:
    """Readers from a CSV file, through the dashboard's import (pending, to the demo
    course, with `source` as their consent source), checked and run: the upload's id."""
    file = FileStorage(io.BytesIO(csv_text.encode()), "readers.csv")
    form = MultiDict(
        [("csrf_token", form_token(admin)), ("source", source), ("mode", "pending"),
         ("chosen", "softening-sessions"), ("file", file)]
    )  # fmt: skip
    boundary, body = encode_multipart(form)
    answer = admin.post(
        "/dashboard/import", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert answer.status_code == 303, answer.text
    upload_id = answer.headers["Location"].rsplit("/", 1)[1]
    imports.check(upload_id)
    assert imports.request_run(upload_id)
    imports.import_file(upload_id)
    return upload_id

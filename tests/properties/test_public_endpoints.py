"""Whatever anyone posts to the public pages (text with CR, LF, NUL and other control
characters, very long strings, unicode of every category, HTML, SQL, header-looking
strings, random bytes, the wrong content type, JSON of any shape, random or tampered
tokens in the path, random signatures on the webhook): no answer is ever a 5xx, nothing
is stored that should not be, a reader's name never reaches a mail header as more than
their name, and it shows escaped on their page and in their letters.

Each example starts from empty tables, an empty outbox and an empty Redis (so the rate
limits start afresh too), and posts from its own IP.

The bugs these properties found, since fixed, are pinned at the end of the file by
their smallest examples, one test each, so that they stay fixed.
"""

from __future__ import annotations

import base64
import email
import email.policy
import html
import itertools
import json
import re
import shutil
import time
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import hypothesis
import pytest
import time_machine
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from email_validator import EmailNotValidError, validate_email
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, example, given
from hypothesis import strategies as st
from sqlalchemy import select, update
from werkzeug.test import TestResponse

from core.clock import utcnow
from core.config import Settings
from core.db import session_scope
from core.models import Delivery, DeliveryKind, Membership, Subscriber
from core.tokens import Purpose, Signer
from courses.model import Catalog
from emails.render import render_issue
from emails.transports import OutboxTransport
from tasks import schedule
from tasks.sending import Sender
from tests.support import outbox
from tests.support.readers import active_reader
from tests.support.state import start_afresh
from tests.support.web import csrf_token, press_button
from web import create_app
from web.preference_forms import COURSE_ACTIONS

ORIGIN = "https://friend.example.org"
SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"

PROPERTY = hypothesis.settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# Starting afresh for each example


def reset(settings: Settings) -> None:
    """What the `db` fixture does before a test, for each example of a property."""
    start_afresh(settings)


_ips = itertools.count(1)


def fresh_client(app: Flask) -> FlaskClient:
    """A client with no cookies, posting from an IP no example has used."""
    client = app.test_client()
    n = next(_ips)
    client.environ_base["REMOTE_ADDR"] = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
    return client


def ask(client: FlaskClient, method: str, path: str, **request: Any) -> TestResponse:
    """One request; never a 5xx, and no answer header split over lines."""
    response = client.open(path, method=method, **request)
    shown = {name: repr(value)[:300] for name, value in request.items()}
    assert response.status_code < 500, f"{method} {path!r} {shown} -> {response.status_code}"
    for name, value in response.headers.items():
        assert not re.search(r"[\r\n]", value), f"{method} {path!r}: header {name}"
    return response


# Hostile input

HOSTILE = [
    "x\r\nBcc: victim@example.com",
    "x\nBcc: victim@example.com",
    "x\rCc: victim@example.com",
    "\r\n\r\n<h1>a new body</h1>",
    "Ann\x00Bo",
    "\x00",
    "<script>alert(1)</script>",
    '"><script>alert(document.cookie)</script>',
    "<img src=x onerror=alert(1)>",
    "</textarea><svg/onload=alert(1)>",
    "'; DROP TABLE subscribers; --",
    "' OR '1'='1",
    '" OR ""="',
    "%00",
    "%0d%0aBcc:%20victim@example.com",
    "{{ 7 * 7 }}",
    "{% raw %}",
    "%%f1%%",
    "%%unsubscribe_url%%",
    "${jndi:ldap://example.com/a}",
    "\u202eevil\u202c",
    "\ufeff",
    "\u2028\u2029",
    "\x85",
    "\x1b[31mred",
    "\x7f",
    "\x80\x9b",  # C1 controls
    "=?utf-8?q?=0D=0ABcc:_victim@example.com?=",  # RFC 2047 encoded words of CR LF
    "=?utf-8?b?DQpCY2M6IHZpY3RpbUBleGFtcGxlLmNvbQ==?=",
    "=?x?q?a?=",
    "../../etc/passwd",
    "a" * 5000,
    "é" * 101,
    "😀" * 60,
    "\U0010ffff",
    "null",
    "None",
    " ",
]

# An RFC 2047 encoded word: Python's email package decodes one in a display name, then
# writes out what it hid. See test_an_encoded_word_in_a_first_name_never_becomes_a_header.
ENCODED_WORD = re.compile(r"=\?[^?]*\?[bBqQ]\?[^?]*\?=")


controls = st.text(st.characters(categories=["Cc", "Cf", "Zl", "Zp", "Zs"]), max_size=20)
short_hostile = [value for value in HOSTILE if len(value) <= 60]
# Text up to about 100 characters: what a name field takes.
short_text = st.one_of(
    st.text(max_size=100),  # any unicode but lone surrogates (no form body can carry one)
    st.sampled_from(short_hostile),
    st.builds(
        lambda a, b, c: a + b + c, st.text(max_size=10), st.sampled_from(short_hostile), controls
    ),
    controls,
)
hostile_text = st.one_of(
    short_text,
    st.sampled_from(HOSTILE),
    st.builds(lambda piece, n: piece * n, st.text(min_size=1, max_size=4), st.integers(50, 3000)),
)
# Only JSON can carry a lone surrogate ("\ud800"); a form or a header cannot.
surrogates = st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3)
json_text = hostile_text | st.builds(lambda a, b: a + b, short_text, surrogates)

header_text = st.text(  # what a header value can carry at all: Latin-1, no line break
    st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=80
)

ODD_ADDRESSES = [
    "Reader@Example.ORG",
    "reader@EXAMPLE.org",
    " reader@example.org ",
    "reader@example.org\r\nBcc: victim@example.com",
    "reader@example.org\nBcc: victim@example.com",
    "reader@example.org%0d%0abcc:victim@example.com",
    "reader+tag@example.org",
    '"quoted local"@example.org',
    "ü@example.org",
    "Äb@example.org",  # a capital lower() does not fold on SQLite
    "ÄB@EXAMPLE.ORG",
    "reader@bücher.example",
    "reader@BÜCHER.example",
    "reader@xn--bcher-kva.example",
    "a@b",
    "@example.org",
    "reader@",
    "reader@@example.org",
    "reader@example.org,victim@example.com",
    "reader@example.org\x00",
    "<reader@example.org>",
    "Reader <reader@example.org>",
    "reader@localhost",
    "reader@[127.0.0.1]",
    "reader@example.org'; DROP TABLE subscribers; --",
    "x" * 64 + "@example.org",
    "x" * 65 + "@example.org",
    "reader@" + "a" * 250 + ".org",
]


# Addresses people type: some capitals, a tag, an internationalised domain or local part.
typed_addresses = st.builds(
    "{}@{}".format,
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,15}", fullmatch=True).filter(
        lambda local: ".." not in local and not local.endswith(".")
    )
    | st.sampled_from(["ünïcødé", "Ünïcødé", "reader", "Reader.Name", "日本", "a+tag"]),
    st.sampled_from(["example.org", "Example.COM", "bücher.example", "xn--bcher-kva.example"]),
)
addresses = st.one_of(
    typed_addresses,
    st.emails(),
    st.sampled_from(ODD_ADDRESSES),
    st.builds(
        lambda address, tail: address + tail,
        st.emails(),
        st.sampled_from(["\r\nBcc: victim@example.com", "\x00", ",victim@example.com", "\n"]),
    ),
    hostile_text,
)

ZONES = ["UTC", "Europe/Paris", "Asia/Kolkata", "Pacific/Kiritimati", "America/New_York"]
zones = (
    st.sampled_from(ZONES) | st.sampled_from(["utc", "Mars/Olympus", "", "../UTC"]) | hostile_text
)
consents = st.sampled_from(["y", "", "n", "on", "off", "true", "false", "0", "1"]) | hostile_text

OFFERED = ["softening-sessions", "remember-and-reclaim"]
wanted = st.lists(st.sampled_from(OFFERED) | hostile_text, max_size=3)
signup_fields = st.fixed_dictionaries(
    {},
    optional={
        "email": addresses,
        "first_name": hostile_text,
        "timezone": zones,
        "consent": consents,
        "wanted": wanted,
        "chosen": st.sampled_from(["", "y"]) | hostile_text,
        "website": st.just("") | hostile_text,
    },
)
extra_fields = st.dictionaries(hostile_text, hostile_text | st.lists(hostile_text), max_size=3)
forms = st.builds(lambda known, extra: {**extra, **known}, signup_fields, extra_fields)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | json_text
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(json_text, inner, max_size=4),
    max_leaves=12,
)
json_signups = st.fixed_dictionaries(
    {},
    optional={
        "email": addresses | json_text | json_values,
        "first_name": json_text | json_values,
        "timezone": zones | json_values,
        "consent": st.booleans() | json_values,
        "wanted": wanted | json_values,
        "website": json_values,
    },
)
json_bodies = json_signups | json_values


def json_bytes(value: Any, ascii_only: bool = True) -> bytes:
    """The value as a JSON body. Lone surrogates stand as `\\ud800` escapes, or, when not
    ASCII-only, as the bytes no UTF-8 decoder takes."""
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-16",
    "application/json; charset=latin-1",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "multipart/form-data; boundary=x",
    "text/plain",
    "text/html",
    "application/xml",
    "",
]
content_types = st.sampled_from(CONTENT_TYPES) | header_text


# A request to the signup pages: (method, path, arguments of client.open)


@st.composite
def signup_requests(draw: st.DrawFn, csrf: str) -> tuple[str, str, dict[str, Any]]:
    headers: dict[str, str] = {}
    if draw(st.booleans()):
        headers["Origin"] = draw(st.sampled_from([ORIGIN, ORIGIN + "/", "null"]) | header_text)
    if draw(st.booleans()):
        headers["User-Agent"] = draw(header_text | st.just("a" * 2000))
    kind = draw(st.sampled_from(["hosted", "embedded", "json", "raw", "options", "get"]))
    if kind == "hosted":
        form = draw(forms)
        token = draw(st.sampled_from(["real", "garbage", "none"]))
        if token == "real":
            form["csrf_token"] = csrf
        elif token == "garbage":
            form["csrf_token"] = draw(hostile_text)
        return "POST", "/", {"data": form, "headers": headers}
    if kind == "embedded":
        return "POST", "/subscribe", {"data": draw(forms), "headers": headers}
    if kind == "json":
        data = json_bytes(draw(json_bodies), draw(st.booleans()))
        return (
            "POST",
            "/subscribe",
            {
                "data": data,
                "content_type": "application/json",
                "headers": headers,
            },
        )
    if kind == "raw":
        path = draw(st.sampled_from(["/", "/subscribe"]))
        body = draw(st.binary(max_size=3000))
        return "POST", path, {"data": body, "content_type": draw(content_types), "headers": headers}
    if kind == "options":
        return "OPTIONS", "/subscribe", {"headers": headers}
    path = draw(st.sampled_from(["/", "/check-your-inbox", "/subscribe"]))
    query = draw(st.dictionaries(hostile_text, hostile_text, max_size=3))
    return (
        draw(st.sampled_from(["GET", "HEAD", "PUT", "DELETE"])),
        path,
        {
            "query_string": urlencode(query),
            "headers": headers,
        },
    )


@pytest.fixture
def cors_app(db: None, settings: Settings) -> Flask:
    app = create_app(settings.model_copy(update={"signup_origins": [ORIGIN]}))
    app.config["TESTING"] = True
    return app


# 1. No public endpoint ever answers 5xx


@hypothesis.settings(PROPERTY, max_examples=80)
@given(data=st.data())
def test_the_signup_pages_never_answer_5xx(
    cors_app: Flask, settings: Settings, data: st.DataObject
) -> None:
    reset(settings)
    client = fresh_client(cors_app)
    csrf = csrf_token(client, "/")
    for _ in range(data.draw(st.integers(1, 3), label="requests")):
        method, path, request = data.draw(signup_requests(csrf), label="request")
        response = ask(client, method, path, **request)
        hypothesis.event(f"{method} {path} -> {response.status_code}")
        # Only a site from TEND_SIGNUP_ORIGINS is ever named (as its Origin header spelt it).
        allowed = response.headers.get("Access-Control-Allow-Origin")
        assert allowed is None or allowed.rstrip("/") == ORIGIN


READ_ANYWHERE = ["softening-sessions", "remember-and-reclaim"]
LETTERS = ["welcome", "acknowledge", "closing", "naming-the-weather", "the-longer-table"]
publications = st.sampled_from(READ_ANYWHERE) | hostile_text
letters = st.sampled_from(LETTERS) | hostile_text

# (method, path, the purpose of the token in it)
TOKEN_ROUTES: list[tuple[str, str, Purpose | None]] = [
    ("GET", "/confirm/{t}", Purpose.CONFIRM),
    ("POST", "/confirm/{t}", Purpose.CONFIRM),
    ("GET", "/u/{t}", Purpose.UNSUBSCRIBE),
    ("POST", "/u/{t}", Purpose.UNSUBSCRIBE),
    ("POST", "/u/{t}/pause", Purpose.UNSUBSCRIBE),
    ("GET", "/p/{t}", Purpose.PREFERENCES),
    ("POST", "/p/{t}/details", Purpose.PREFERENCES),
    ("POST", "/p/{t}/course", Purpose.PREFERENCES),
    ("POST", "/p/{t}/list", Purpose.PREFERENCES),
    ("POST", "/p/{t}/unsubscribe", Purpose.PREFERENCES),
    ("GET", "/p/{t}/data", Purpose.PREFERENCES),
    ("POST", "/p/{t}/data", Purpose.PREFERENCES),
    ("GET", "/p/{t}/erase", Purpose.PREFERENCES),
    ("POST", "/p/{t}/erase", Purpose.PREFERENCES),
    ("GET", "/library/{t}", Purpose.PREFERENCES),
    ("GET", "/library/{t}/{pub}/{letter}", Purpose.PREFERENCES),
    ("GET", "/read/{pub}/{letter}", None),
    ("GET", "/check-your-inbox", None),
    ("GET", "/author/", None),
    ("GET", "/author/{pub}/{letter}", None),
]

button_fields = st.fixed_dictionaries(
    {},
    optional={
        "course": st.sampled_from(["softening-sessions", "no-such-course"]) | hostile_text,
        "action": st.sampled_from(COURSE_ACTIONS) | hostile_text,
        "weeks": st.sampled_from(["", "2", "4", "0", "-1", "9" * 30]) | hostile_text,
        "list_name": st.sampled_from(["remember-and-reclaim", "softening-sessions"]) | hostile_text,
        "turn": st.sampled_from(["on", "off"]) | hostile_text,
        "first_name": hostile_text,
        "timezone": zones,
        "List-Unsubscribe": st.just("One-Click") | hostile_text,
    },
)


def draw_token(data: st.DataObject, signer: Signer, uids: list[str], purpose: Purpose) -> str:
    """A token for the path: good, for another purpose or reader, expired, cut short,
    tampered with, or just text."""
    uid = data.draw(st.sampled_from(uids), label="uid")
    odd = ["other purpose", "unknown uid", "bad uid", "expired", "cut", "altered", "text"]
    kind = data.draw(st.sampled_from(["good"] * len(odd) + odd), label="token")  # half good
    if kind == "other purpose":
        return signer.sign(data.draw(st.sampled_from(list(Purpose))), uid)
    if kind == "unknown uid":
        return signer.sign(
            purpose, data.draw(st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True))
        )
    if kind == "bad uid":
        return signer.sign(purpose, data.draw(hostile_text))
    if kind == "expired":
        with time_machine.travel(datetime(2020, 1, 1, tzinfo=UTC), tick=False):
            return signer.sign(purpose, uid)
    good = signer.sign(purpose, uid)
    if kind == "cut":
        return good[: data.draw(st.integers(0, len(good) - 1))]
    if kind == "altered":
        at = data.draw(st.integers(0, len(good) - 1))
        return good[:at] + data.draw(st.characters(codec="utf-8")) + good[at + 1 :]
    if kind == "text":
        return data.draw(hostile_text)
    return good


def reader_with_a_letter(catalog: Catalog, settings: Settings) -> str:
    """An active reader whose first lesson has been sent (so their library has a letter)."""
    now = utcnow()
    _, uid = active_reader(catalog, now)
    ids = [i for batch in schedule.tick(catalog, now).batches.values() for i in batch]
    Sender(settings, catalog, OutboxTransport(settings.outbox_dir)).send(ids, now)
    return uid


@hypothesis.settings(PROPERTY, max_examples=100)
@given(data=st.data())
def test_the_pages_reached_by_a_link_never_answer_5xx(
    app: Flask, settings: Settings, catalog: Catalog, data: st.DataObject
) -> None:
    reset(settings)
    uids = [reader_with_a_letter(catalog, settings)]
    with session_scope() as session:
        pending = Subscriber(email="pending@example.org", timezone="UTC")
        session.add(pending)
        session.flush()
        uids.append(pending.uid)
    signer = Signer(settings.require_secret_key())
    client = fresh_client(app)
    csrf = csrf_token(client, "/")
    for _ in range(data.draw(st.integers(1, 4), label="requests")):
        method, route, purpose = data.draw(st.sampled_from(TOKEN_ROUTES), label="route")
        if data.draw(st.integers(0, 9), label="odd method") == 0:
            method = data.draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"]))
        token = draw_token(data, signer, uids, purpose) if purpose else ""
        pub, letter = data.draw(publications, label="pub"), data.draw(letters, label="letter")
        path = route.format(
            t=quote(token, safe=""), pub=quote(pub, safe=""), letter=quote(letter, safe="")
        )
        request: dict[str, Any] = {}
        if method == "POST":
            body = data.draw(st.sampled_from(["form"] * 3 + ["bytes", "json"]), label="body")
            if body == "form":
                form = data.draw(button_fields, label="form")
                kinds = ["real", "real", "real", "garbage", "none"]
                token_kind = data.draw(st.sampled_from(kinds), label="csrf")
                if token_kind != "none":
                    form["csrf_token"] = csrf if token_kind == "real" else data.draw(hostile_text)
                request["data"] = form
            elif body == "bytes":
                request["data"] = data.draw(st.binary(max_size=2000), label="bytes")
                request["content_type"] = data.draw(content_types, label="content type")
            else:
                request["data"] = json_bytes(data.draw(json_values, label="json"))
                request["content_type"] = "application/json"
        elif data.draw(st.booleans(), label="query"):
            query = data.draw(st.dictionaries(hostile_text, hostile_text, max_size=3))
            request["query_string"] = urlencode(query)
        response = ask(client, method, path, **request)
        hypothesis.event(f"{method} {route} -> {response.status_code}")


# 2, 3 and 4. What a signup stores, what its letters carry, how its name shows


def stored_readers() -> list[Subscriber]:
    with session_scope() as session:
        return list(session.scalars(select(Subscriber).order_by(Subscriber.id)))


def confirmations_of(subscriber_id: int) -> list[int]:
    with session_scope() as session:
        query = select(Delivery.id).where(
            Delivery.subscriber_id == subscriber_id, Delivery.kind == DeliveryKind.CONFIRMATION
        )
        return list(session.scalars(query))


def normalized(address: Any) -> str | None:
    """The address as the form stores it (email_validator's normalised form, in lower
    case so that SQLite finds it again), or None if the form refuses it."""
    if not isinstance(address, str) or not address.strip():
        return None
    try:
        return validate_email(address, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


def post_signup(
    client: FlaskClient, channel: str, fields: Mapping[str, Any], allowed_origin: bool = True
) -> TestResponse:
    """A signup by the hosted page (with its CSRF token), an embedded form or JSON."""
    if channel == "hosted":
        return ask(client, "POST", "/", data={"csrf_token": csrf_token(client, "/"), **fields})
    if channel == "embedded":
        return ask(client, "POST", "/subscribe", data=dict(fields))
    headers = {"Origin": ORIGIN} if allowed_origin else {}
    return ask(client, "POST", "/subscribe", json=dict(fields), headers=headers)


def signup(address: str, name: str, channel: str) -> dict[str, Any]:
    """The fields of a good signup, as the channel sends them."""
    consent = True if channel == "json" else "y"
    return {"email": address, "first_name": name, "timezone": "UTC", "consent": consent}


channels = st.sampled_from(["hosted", "embedded", "json"])
# Names the form takes: at most 100 characters (cleaning never makes a name longer).
short_names = short_text.filter(lambda name: len(name) <= 100)
# Every way a signup is refused, and what the form fields are then.
FLAWS = ["none", "no consent", "robot", "bad zone", "nothing chosen"]
attempts = st.tuples(
    st.integers(0, 2),  # which of the example's addresses
    st.sampled_from(["as is", "as is", "upper", "lower", "spaces"]),  # ASCII case, padding
    channels,
    st.sampled_from(["none", "none", *FLAWS]),
    short_names,
)
VARIANTS = {
    "as is": lambda a: a,
    "upper": lambda a: "".join(c.upper() if c.isascii() else c for c in a),
    "lower": lambda a: "".join(c.lower() if c.isascii() else c for c in a),
    "spaces": lambda a: f"  {a}\t",
}


@hypothesis.settings(PROPERTY, max_examples=60)
@given(
    pool=st.lists(st.one_of(typed_addresses, st.emails(), addresses), min_size=1, max_size=3),
    tries=st.lists(attempts, min_size=1, max_size=5),
    robot=short_text.filter(str.strip),
)
@example(
    pool=["Reader@Example.org", "reader@example.org\r\nBcc: victim@example.com", "no"],
    tries=[
        (0, "as is", "hosted", "none", "Ann"),
        (0, "upper", "json", "none", "Bo"),
        (0, "lower", "embedded", "none", ""),
        (1, "as is", "hosted", "none", "x"),
        (2, "as is", "json", "none", "x"),
    ],
    robot="https://spam.example",
)
@example(
    pool=["robot@example.org", "late@example.org"],
    tries=[
        (0, "as is", "hosted", "robot", "Ann"),
        (0, "as is", "embedded", "no consent", "Ann"),
        (0, "as is", "json", "bad zone", "Ann"),
        (0, "as is", "hosted", "nothing chosen", "Ann"),
        (1, "as is", "json", "robot", ""),
    ],
    robot="https://spam.example",
)
@example(
    pool=["Äb@Example.org"],
    tries=[(0, "as is", "hosted", "none", "Ann"), (0, "upper", "json", "none", "Ann")],
    robot="x",
)
def test_only_accepted_signups_are_stored_once_per_address_and_normalised(
    cors_app: Flask,
    settings: Settings,
    pool: list[str],
    tries: list[tuple[int, str, str, str, str]],
    robot: str,
) -> None:
    reset(settings)
    client = fresh_client(cors_app)
    accepted: set[str] = set()  # addresses as stored
    for index, variant, channel, flaw, name in tries:
        posted = VARIANTS[variant](pool[index % len(pool)])
        fields = signup(posted, name, channel)
        if flaw == "no consent":
            fields["consent"] = False if channel == "json" else ""
        elif flaw == "robot":
            fields["website"] = robot
        elif flaw == "bad zone":
            fields["timezone"] = "Mars/Olympus"
        elif flaw == "nothing chosen":  # a form that offered a choice, none ticked
            fields.update({"wanted": []} if channel == "json" else {"chosen": "y"})
        response = post_signup(client, channel, fields)
        address = normalized(posted)
        valid = address is not None and flaw in ("none", "robot")
        hypothesis.event(f"{channel}, {flaw}, valid={valid} -> {response.status_code}")
        if response.status_code in (413, 429):  # over 64 KB, or over a rate limit
            continue
        if not valid:
            assert response.status_code == 400, (posted, flaw, response.status_code)
            continue
        assert response.status_code == (202 if channel == "json" else 303)
        if flaw == "none" and address is not None:
            accepted.add(address)

    stored = stored_readers()
    assert sorted(reader.email for reader in stored) == sorted(accepted), (
        "one reader per accepted address, as the form normalised it; none for a refused one"
    )
    for reader in stored:
        assert len(confirmations_of(reader.id)) <= 1, "at most one confirmation per address"


LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def check_stored_name(stored: str | None) -> None:
    """A name as stored: no control character or lone surrogate, no line break, no
    encoded word, no padding; at most 100 characters."""
    if stored is None:
        return
    assert not LINE_BREAKS.search(stored), repr(stored)
    assert not any(unicodedata.category(c) in {"Cc", "Cs"} for c in stored), repr(stored)
    assert not ENCODED_WORD.search(stored), repr(stored)
    assert stored == stored.strip(), repr(stored)
    assert 0 < len(stored) <= 100, repr(stored)


def header_lines(raw: bytes) -> list[bytes]:
    head, blank, _ = raw.partition(b"\r\n\r\n")
    assert blank, "no end of headers"
    return head.split(b"\r\n")


def check_headers(raw: bytes, address: str, name: str | None) -> EmailMessage:
    """The message parses, has one To (the reader, by their name) and no Cc or Bcc, and
    no header line is anything but a header or its folded continuation."""
    names = []
    for line in header_lines(raw):
        assert not re.search(rb"[\r\n]", line), f"a bare line break in {line!r}"
        if line[:1] in (b" ", b"\t"):
            continue  # a folded header goes on
        field, colon, _ = line.partition(b":")
        assert colon, f"not a header: {line!r}"
        assert re.fullmatch(rb"[!-9;-~]+", field), f"not a header name: {line!r}"
        names.append(field.decode().lower())
    assert names.count("to") == 1, names
    assert "cc" not in names, names
    assert "bcc" not in names, names
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    for field, value in message.items():
        assert not re.search(r"[\r\n]", str(value)), f"{field} holds a line break: {value!r}"
    [to] = message.get_all("To")
    assert not to.defects, to.defects
    [recipient] = to.addresses
    assert recipient.addr_spec == address
    assert recipient.display_name == (name or "")
    return message


class Page(HTMLParser):
    """The tags of a page, its text, and the values of its inputs, as a browser reads them."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.text: list[str] = []
        self.inputs: dict[str, str | None] = {}
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        fields = dict(attrs)
        if tag == "input" and fields.get("name"):
            self.inputs.setdefault(fields["name"] or "", fields.get("value"))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


ISSUE_MORNING = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # the first issue, 08:00 in UTC


def sent_issue(catalog: Catalog, settings: Settings, uid: str) -> tuple[bytes, str]:
    """The first newsletter issue as the sender writes it to this reader: the .eml, and
    the issue's HTML as rendered for every reader (with its placeholders)."""
    letters = Catalog(newsletters=catalog.newsletters)
    with session_scope() as session:
        reader = session.scalars(select(Subscriber).where(Subscriber.uid == uid)).one()
        joined = datetime(2026, 11, 20, tzinfo=UTC)
        session.execute(
            update(Membership).where(Membership.subscriber_id == reader.id).values(joined_at=joined)
        )
    shutil.rmtree(settings.outbox_dir, ignore_errors=True)
    ids = [i for batch in schedule.tick(letters, ISSUE_MORNING).batches.values() for i in batch]
    assert ids, "the issue is due for the reader"
    report = Sender(settings, letters, OutboxTransport(settings.outbox_dir)).send(
        ids, ISSUE_MORNING
    )
    assert report.sent == ids
    [path] = sorted(Path(settings.outbox_dir).glob("*.eml"))
    newsletter = next(iter(catalog.newsletters.values()))
    template = render_issue(newsletter, newsletter.issues[0], settings.base_url).html
    return path.read_bytes(), template


@hypothesis.settings(PROPERTY, max_examples=25)
@given(name=hostile_text | json_text, channel=channels, rename=hostile_text)
@example(name="x\r\nBcc: victim@example.com", channel="hosted", rename="")
@example(name="Ann", channel="hosted", rename="=?utf-8?q?=0D=0ABcc:_victim@example.com?=")
@example(name="=?utf-8?q?=0D=0ABcc:_victim@example.com?=", channel="hosted", rename="")
@example(name="Ann\ud800", channel="json", rename="Bo\x9b\r\nBcc: victim@example.com")
@example(name="Ann\x9b31m", channel="embedded", rename="")
@example(name="Ann\x00\r\n\r\n<h1>body</h1>", channel="json", rename="")
@example(name="<script>alert(1)</script>", channel="hosted", rename="")
@example(name="Ann", channel="embedded", rename='"><img src=x onerror=alert(1)> & Bo')
@example(name="%%f1%% {{ reader.first_name }}", channel="hosted", rename="")
def test_a_first_name_never_reaches_a_header_and_always_shows_escaped(
    cors_app: Flask, settings: Settings, catalog: Catalog, name: str, channel: str, rename: str
) -> None:
    reset(settings)
    client = fresh_client(cors_app)
    address = "reader@example.org"
    if channel != "json":  # a form carries bytes: a lone surrogate arrives as U+FFFD
        name = name.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    signed_up = post_signup(client, channel, signup(address, name, channel))
    if signed_up.status_code in (400, 413):  # a name over 100 characters, or over 64 KB
        assert stored_readers() == []
        return
    assert signed_up.status_code in (202, 303)

    [reader] = stored_readers()
    stored = reader.first_name
    check_stored_name(stored)

    # The confirmation, through the sender into the outbox.
    ids = confirmations_of(reader.id)
    assert len(ids) == 1
    report = Sender(settings, catalog, OutboxTransport(settings.outbox_dir)).send(ids, utcnow())
    assert report.sent == ids
    [path] = sorted(Path(settings.outbox_dir).glob("*.eml"))
    message = check_headers(path.read_bytes(), address, stored)
    _, confirmation_html = outbox.parts(message)
    assert "<script" not in confirmation_html.lower()

    # Confirmed, the reader's page shows the name as text, never as markup.
    press_button(client, outbox.link_to(message, "/confirm/"))
    token = Signer(settings.require_secret_key()).sign(Purpose.PREFERENCES, reader.uid)
    # The other way in for a name: the reader's own page.
    details = {"csrf_token": csrf_token(client, f"/p/{token}"), "first_name": rename}
    renamed = ask(client, "POST", f"/p/{token}/details", data={**details, "timezone": "UTC"})
    assert renamed.status_code in (303, 400, 413)
    [reader] = stored_readers()
    if renamed.status_code == 303:
        stored = reader.first_name
    assert reader.first_name == stored, "a refused change changes nothing"
    check_stored_name(stored)
    client.get(f"/p/{token}")  # shows, and so clears, the note about the change
    page = client.get(f"/p/{token}")
    assert page.status_code == 200
    shown = Page(page.text)
    assert shown.inputs["first_name"] == (stored or "")
    with session_scope() as session:
        session.execute(update(Subscriber).values(first_name="Friend"))
    plain = Page(client.get(f"/p/{token}").text)
    assert shown.tags == plain.tags, "the name added or removed a tag"

    # And a letter that greets the reader by name greets them in text, not markup.
    with session_scope() as session:
        session.execute(update(Subscriber).values(first_name=stored))
    raw, template = sent_issue(catalog, settings, reader.uid)
    issue = check_headers(raw, address, stored)
    _, letter_html = outbox.parts(issue)
    letter = Page(letter_html)
    assert letter.tags == Page(template).tags, "the name added or removed a tag"
    assert f"Dear {stored or 'friend'}," in "".join(letter.text)
    if stored:
        assert html.escape(stored) in letter_html


# 5. The SendGrid webhook


def public_key_of(private: ec.EllipticCurvePrivateKey) -> str:
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


PRIVATE_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())


def signed(body: bytes, stamp: str, key: ec.EllipticCurvePrivateKey = PRIVATE_KEY) -> str:
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(signature).decode()


@pytest.fixture
def hooked_app(db: None, settings: Settings) -> Flask:
    key = {"sendgrid_webhook_public_key": public_key_of(PRIVATE_KEY)}
    app = create_app(settings.model_copy(update=key))
    app.config["TESTING"] = True
    return app


event_fields = st.fixed_dictionaries(
    {},
    optional={
        "sg_event_id": st.text(max_size=210) | json_values,
        "event": st.sampled_from(["delivered", "bounce", "spamreport", "open", "unsubscribe"])
        | json_values,
        "email": st.emails() | json_values,
        "timestamp": st.integers() | st.floats() | json_values,
        "sg_message_id": json_values,
        "delivery_id": st.integers() | json_values,
        "type": st.sampled_from(["bounce", "blocked"]) | json_values,
    },
)
# Events as SendGrid sends them, with now and then a field of any shape.
good_events = st.fixed_dictionaries(
    {
        "sg_event_id": st.text(min_size=1, max_size=60),
        "event": st.sampled_from(
            ["processed", "delivered", "bounce", "dropped", "spamreport", "open", "unsubscribe"]
        ),
        "email": st.emails() | typed_addresses,
    },
    optional={
        "timestamp": st.integers(0, 2**32) | st.floats(0, 2**32),
        "sg_message_id": st.text(max_size=60),
        "delivery_id": st.integers(0, 10) | st.text(max_size=10),
        "type": st.sampled_from(["bounce", "blocked"]),
        "reason": hostile_text,
        "extra": json_values,
    },
)
event_bodies = st.one_of(
    st.lists(good_events, max_size=5),
    st.lists(good_events | event_fields, max_size=5),
    json_values,
)
webhook_bodies = st.one_of(
    event_bodies.map(json_bytes),
    event_bodies.map(lambda body: json_bytes(body, ascii_only=False)),
    st.binary(max_size=3000),
)


def utf8(body: bytes) -> bool:
    """Whether the body can be what SendGrid signs (its helper checks the text)."""
    try:
        body.decode()
    except UnicodeDecodeError:
        return False
    return True


def stamps() -> st.SearchStrategy[str]:
    now = int(time.time())
    near = st.integers(now - 1200, now + 1200).map(str)
    far = st.integers(-(10**20), 10**20).map(str)
    odd = st.sampled_from(["²", "١٢٣", "9" * 309, "1" * 4301, " 1", "1.5", "-1", "0x10"])
    return near | far | odd | header_text


@hypothesis.settings(PROPERTY, max_examples=30)
@given(
    body=webhook_bodies,
    headers=st.dictionaries(st.sampled_from([SIGNATURE, TIMESTAMP]), header_text),
)
def test_the_webhook_is_off_without_its_key(
    app: Flask, body: bytes, headers: dict[str, str]
) -> None:
    response = ask(fresh_client(app), "POST", "/hooks/sendgrid", data=body, headers=headers)
    assert response.status_code == 404


@hypothesis.settings(PROPERTY, max_examples=120)
@given(
    body=webhook_bodies,
    signature=st.none()
    | header_text
    | st.binary(max_size=80).map(lambda b: base64.b64encode(b).decode()),
    stamp=st.none() | stamps(),
    content_type=st.none() | content_types,
)
@example(body=b"[]", signature="", stamp=str(int(time.time())), content_type=None)
@example(body=b"[]", signature="abc", stamp="", content_type=None)
@example(body=b"\xff\xfe", signature="abc", stamp=str(int(time.time())), content_type=None)
@example(body=b"[]", signature="abc", stamp="-1", content_type=None)
@example(body=b"[]", signature="abc", stamp="9" * 308, content_type=None)
def test_an_unsigned_webhook_post_is_refused_never_failed(
    hooked_app: Flask,
    settings: Settings,
    body: bytes,
    signature: str | None,
    stamp: str | None,
    content_type: str | None,
) -> None:
    reset(settings)
    headers = {
        name: value
        for name, value in ((SIGNATURE, signature), (TIMESTAMP, stamp))
        if value is not None
    }
    request: dict[str, Any] = {"data": body, "headers": headers}
    if content_type is not None:
        request["content_type"] = content_type
    response = ask(fresh_client(hooked_app), "POST", "/hooks/sendgrid", **request)
    hypothesis.event(f"unsigned -> {response.status_code}")
    assert response.status_code in (400, 403, 404, 413)


@hypothesis.settings(PROPERTY, max_examples=80)
@given(
    body=webhook_bodies,
    age=st.integers(-5000, 5000),
    signer=st.sampled_from(["ours", "another key", "another body"]),
)
@example(body=b"x" * (4 * 1024 * 1024 + 1), age=0, signer="ours")
@example(body=b"[" * 20000 + b"]" * 20000, age=0, signer="ours")
@example(
    body=b'[{"sg_event_id": "a\\ud800", "event": "open", "email": "a@b.c"}]', age=0, signer="ours"
)
@example(body=b'[{"sg_event_id": "a", "event": "bounce", "email": "a@b.c", "timestamp": 1e999}]',
         age=0, signer="ours")  # fmt: skip
def test_a_signed_webhook_post_of_any_shape_is_taken_or_refused_never_failed(
    hooked_app: Flask, settings: Settings, body: bytes, age: int, signer: str
) -> None:
    reset(settings)
    stamp = str(int(time.time()) - age)
    if signer == "ours":
        signature = signed(body, stamp)
    elif signer == "another key":
        signature = signed(body, stamp, OTHER_KEY)
    else:
        signature = signed(body + b" ", stamp)
    headers = {SIGNATURE: signature, TIMESTAMP: stamp}
    response = ask(fresh_client(hooked_app), "POST", "/hooks/sendgrid", data=body, headers=headers)
    believed = signer == "ours" and abs(age) <= settings.webhook_max_age and utf8(body)
    hypothesis.event(f"believed={believed} -> {response.status_code}")
    if len(body) > 4 * 1024 * 1024:
        assert response.status_code == 413
    elif believed:
        assert response.status_code in (200, 400)
    else:
        assert response.status_code == 403


# What the properties above found (fixed in 8857015), each by its smallest example.


def test_a_lone_surrogate_in_a_json_first_name_is_not_stored(cors_app: Flask) -> None:
    # Was a 500: the name went to the INSERT as it was, and UTF-8 cannot encode it.
    body = b'{"email": "reader@example.org", "consent": true, "first_name": "Ann\\ud800"}'
    client = fresh_client(cors_app)
    response = ask(client, "POST", "/subscribe", data=body, content_type="application/json")
    assert response.status_code == 202
    [reader] = stored_readers()
    assert reader.first_name == "Ann"


def test_json_nested_deeper_than_the_recursion_limit_is_refused(cors_app: Flask) -> None:
    # Was a 500: RecursionError out of request.get_json(silent=True), which silences only
    # ValueError (in the view and in the per-address limit's key).
    body = b'{"email": ' + b"[" * 30000 + b"]" * 30000 + b"}"
    client = fresh_client(cors_app)
    response = ask(client, "POST", "/subscribe", data=body, content_type="application/json")
    assert response.status_code == 400
    assert stored_readers() == []


def test_a_signed_event_post_nested_deeper_than_the_recursion_limit_is_refused(
    hooked_app: Flask,
) -> None:
    # Was a 500: RecursionError from json.loads, where the view caught only ValueError.
    body = b"[" * 20000 + b"]" * 20000
    stamp = str(int(time.time()))
    headers = {SIGNATURE: signed(body, stamp), TIMESTAMP: stamp}
    client = fresh_client(hooked_app)
    assert ask(client, "POST", "/hooks/sendgrid", data=body, headers=headers).status_code == 400


def test_the_same_address_with_a_non_ascii_capital_twice_is_one_reader(
    client: FlaskClient,
) -> None:
    # Was a 500 on SQLite, whose lower() folds ASCII only: find_by_email missed the reader,
    # the INSERT met uq_subscribers_email_lower, and readers.subscribe failed its assert.
    for n, address in enumerate(["Äb@example.org", "Äb@example.org", "äB@Example.org"]):
        client.environ_base["REMOTE_ADDR"] = f"10.250.0.{n}"
        response = post_signup(client, "hosted", signup(address, "", "hosted"))
        assert response.status_code == 303
    assert [reader.email for reader in stored_readers()] == ["äb@example.org"]


@pytest.mark.parametrize("stamp", ["²", "9" * 309, "1" * 4301])
def test_a_timestamp_of_digits_no_clock_reads_is_refused(hooked_app: Flask, stamp: str) -> None:
    # Was a 500: str.isdigit() takes '²' (a digit, not a decimal), which int() cannot read,
    # as it cannot read 4,301 digits; and 309 digits are more than a float holds.
    headers = {SIGNATURE: "abc", TIMESTAMP: stamp}
    client = fresh_client(hooked_app)
    assert ask(client, "POST", "/hooks/sendgrid", data=b"[]", headers=headers).status_code == 403


@pytest.mark.parametrize("text", [b"a\\ud800", b"\\u0000"])
def test_a_signed_event_with_text_no_database_stores_is_refused(
    hooked_app: Flask, text: bytes
) -> None:
    # Were 500s: a lone surrogate failed to encode in events.store on both databases, and
    # a NUL failed in PostgreSQL, whose text cannot hold one.
    body = b'[{"sg_event_id": "' + text + b'", "event": "open", "email": "a@example.org"}]'
    stamp = str(int(time.time()))
    headers = {SIGNATURE: signed(body, stamp), TIMESTAMP: stamp}
    client = fresh_client(hooked_app)
    assert ask(client, "POST", "/hooks/sendgrid", data=body, headers=headers).status_code == 400


@pytest.mark.parametrize(
    "name",
    [
        "=?utf-8?q?=0D=0ABcc:_victim@example.com?=",
        "=?utf-8?b?DQpCY2M6IHZpY3RpbUBleGFtcGxlLmNvbQ==?=",
        "=?utf-8?q?=0D=0A=0D=0A<h1>a_new_body</h1>?=",
    ],
)
def test_an_encoded_word_in_a_first_name_never_becomes_a_header(
    client: FlaskClient, settings: Settings, catalog: Catalog, name: str
) -> None:
    # Was a header injection: the name is printable ASCII, so it passed the old cleaning;
    # email.headerregistry decoded it in Message.to_mime and wrote "Bcc: victim@..." (or a
    # blank line and a new body) into the message as lines of their own.
    post_signup(client, "hosted", signup("reader@example.org", name, "hosted"))
    [reader] = stored_readers()
    assert reader.first_name is not None
    assert not ENCODED_WORD.search(reader.first_name)
    ids = confirmations_of(reader.id)
    Sender(settings, catalog, OutboxTransport(settings.outbox_dir)).send(ids, utcnow())
    [path] = sorted(Path(settings.outbox_dir).glob("*.eml"))
    check_headers(path.read_bytes(), "reader@example.org", reader.first_name)


def test_c1_controls_in_a_first_name_are_not_stored(client: FlaskClient) -> None:
    # Were stored: the old cleaning removed C0 controls and DEL, not U+0080-U+009F.
    post_signup(client, "hosted", signup("reader@example.org", "Ann\x9b31m\x80", "hosted"))
    [reader] = stored_readers()
    assert reader.first_name is not None
    assert not any(unicodedata.category(c) == "Cc" for c in reader.first_name)


def test_a_signed_event_with_nan_is_refused(hooked_app: Flask) -> None:
    # NaN parses in Python but is not JSON: PostgreSQL's json type refuses to store it.
    body = b'[{"sg_event_id": "a", "event": "open", "email": "a@example.org", "x": NaN}]'
    stamp = str(int(time.time()))
    headers = {SIGNATURE: signed(body, stamp), TIMESTAMP: stamp}
    client = fresh_client(hooked_app)
    assert ask(client, "POST", "/hooks/sendgrid", data=body, headers=headers).status_code == 400


def test_a_user_agent_with_a_nul_is_kept_without_it(client: FlaskClient) -> None:
    # The consent record keeps the User-Agent; PostgreSQL's text cannot hold a NUL.
    client.environ_base["HTTP_USER_AGENT"] = "Mozilla\x00/5.0\r\nX-Evil: 1"
    form = {"csrf_token": csrf_token(client, "/"), "email": "ua@example.org",
            "timezone": "UTC", "consent": "y"}  # fmt: skip
    assert ask(client, "POST", "/", data=form).status_code == 303
    [reader] = stored_readers()
    assert reader.consent_user_agent == "Mozilla /5.0 X-Evil: 1"

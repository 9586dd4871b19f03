"""Security headers on every answer: each case fails if its protection is taken away.

Pages run under a strict Content-Security-Policy with a fresh nonce per request; a
letter's HTML has a policy of its own (inline styles, nothing that runs, framed only by
our own previews); HSTS is sent only when the base URL is https.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask, render_template_string
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from core.config import Settings
from core.tokens import Purpose, Signer
from courses.model import Catalog
from emails.transports import OutboxTransport
from tasks import schedule
from tasks.sending import Sender
from tests.support.readers import active_reader
from web import create_app

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
LETTER = "20260504T090001000000-1.1.2.eml"
HSTS = "max-age=31536000; includeSubDomains"
PAGE_DIRECTIVES = (
    "default-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)
LETTER_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data: https: http:; "
    "font-src https: data:; frame-ancestors 'self'; sandbox"
)


def policy(response: TestResponse) -> dict[str, str]:
    """The Content-Security-Policy as {directive: its sources}."""
    header = response.headers.get("Content-Security-Policy", "")
    directives = (part.strip().split(" ", 1) for part in header.split(";") if part.strip())
    return {words[0]: words[1] if len(words) > 1 else "" for words in directives}


def nonce_of(response: TestResponse) -> str:
    sources = policy(response).get("script-src", "")
    found = re.fullmatch(r"'self' 'nonce-([A-Za-z0-9_-]{22,})'", sources)
    assert found, f"script-src is 'self' and a nonce: {sources!r}"
    assert policy(response).get("style-src") == sources, "styles: the same as scripts"
    return found.group(1)


def write_letter(outbox: Path) -> None:
    """A sent letter in the outbox whose HTML has what MJML writes: inline styles."""
    message = EmailMessage()
    message["From"] = "Tend <letters@example.org>"
    message["To"] = "reader@example.org"
    message["Subject"] = "A letter with styles"
    message.set_content("Plain words.\n")
    html = (
        "<html><head><style>p { color: teal; }</style></head>"
        '<body><p style="margin:0">Hi</p></body></html>'
    )
    message.add_alternative(html, subtype="html")
    outbox.mkdir(parents=True, exist_ok=True)
    (outbox / LETTER).write_bytes(message.as_bytes())


@pytest.fixture
def pages(
    client: FlaskClient, admin: FlaskClient, catalog: Catalog, settings: Settings
) -> dict[str, TestResponse]:
    """A representative answer of each kind of page, by name."""
    _, uid = active_reader(catalog, NOW)
    signer = Signer(settings.require_secret_key())
    return {
        "signup": client.get("/"),
        "confirm": client.get("/confirm/" + signer.sign(Purpose.CONFIRM, uid)),
        "preferences": client.get("/p/" + signer.sign(Purpose.PREFERENCES, uid)),
        "dashboard login": client.get("/dashboard/login"),
        "dashboard overview": admin.get("/dashboard/"),
        "not found": client.get("/no-such-page"),
        "stylesheet": client.get("/static/tend.css", buffered=True),
    }


def library_of_a_reader_welcomed(catalog: Catalog, settings: Settings) -> str:
    """The library address of a reader whose welcome was sent."""
    _, uid = active_reader(catalog, NOW)
    report = schedule.tick(catalog, NOW)
    ids = [delivery_id for batch in report.batches.values() for delivery_id in batch]
    assert Sender(settings, catalog, OutboxTransport(settings.outbox_dir)).send(ids, NOW).sent
    return "/library/" + Signer(settings.require_secret_key()).sign(Purpose.PREFERENCES, uid)


def letters(
    client: FlaskClient, admin: FlaskClient, catalog: Catalog, settings: Settings
) -> dict[str, TestResponse]:
    """Every kind of answer that is a letter's HTML."""
    library = library_of_a_reader_welcomed(catalog, settings)
    write_letter(settings.outbox_dir)
    author = create_app(settings.model_copy(update={"dev": True})).test_client()
    return {
        "author preview": author.get("/author/softening-sessions/acknowledge/html"),
        "outbox letter": admin.get(f"/dashboard/outbox/{LETTER}/html"),
        "web page of a lesson": client.get("/read/softening-sessions/not-alone"),
        "a letter in the library": client.get(f"{library}/softening-sessions/welcome"),
    }


def test_every_page_has_the_strict_policy_and_the_other_headers(
    pages: dict[str, TestResponse],
) -> None:
    for name, response in pages.items():
        assert response.status_code == (404 if name == "not found" else 200), name
        directives = policy(response)
        for directive in PAGE_DIRECTIVES:
            key, sources = directive.split(" ", 1)
            assert directives.get(key) == sources, f"{name}: {directive}"
        nonce_of(response)
        assert "unsafe-inline" not in response.headers["Content-Security-Policy"], name
        assert response.headers.get("X-Content-Type-Options") == "nosniff", name
        assert response.headers.get("X-Frame-Options") == "DENY", name
        assert response.headers.get("Referrer-Policy") == "same-origin", name
        assert "Strict-Transport-Security" not in response.headers, f"{name}: http in dev"


def test_the_nonce_is_new_for_each_request(client: FlaskClient) -> None:
    assert nonce_of(client.get("/")) != nonce_of(client.get("/"))
    assert nonce_of(client.get("/")) != nonce_of(client.get("/dashboard/login"))


def test_a_template_gets_the_nonce_of_its_own_request(app: Flask) -> None:
    """`csp_nonce()` in a template is the nonce the policy names, however often it is used."""
    with app.test_request_context("/"):
        page = render_template_string(
            '<script nonce="{{ csp_nonce() }}">1</script><style nonce="{{ csp_nonce() }}"></style>'
        )
        response = app.process_response(app.make_response(page))
    nonce = nonce_of(response)
    assert page.count(f'nonce="{nonce}"') == 2


class InlineCode(HTMLParser):
    """What a strict policy would block in a page: inline scripts and styles without the
    page's nonce, style= attributes and on* handlers."""

    def __init__(self, nonce: str) -> None:
        super().__init__()
        self.nonce = nonce
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in values:
            if name == "style" or name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
        inline_script = tag == "script" and "src" not in values
        if (inline_script or tag == "style") and values.get("nonce") != self.nonce:
            self.found.append(f"<{tag}> without this request's nonce")


def test_no_page_has_inline_code_the_policy_would_block(pages: dict[str, TestResponse]) -> None:
    for name, response in pages.items():
        if response.mimetype != "text/html":
            continue
        parser = InlineCode(nonce_of(response))
        parser.feed(response.text)
        assert parser.found == [], name


def test_the_inline_code_check_finds_what_it_looks_for() -> None:
    parser = InlineCode("good")
    parser.feed(
        '<script>1</script><script nonce="good">2</script><script src="/a.js"></script>'
        '<style nonce="bad"></style><p style="color: red" onclick="x()">'
    )
    assert parser.found == [
        "<script> without this request's nonce",
        "<style> without this request's nonce",
        "<p style=...>",
        "<p onclick=...>",
    ]


def test_a_letters_html_has_its_own_policy_and_may_be_framed_only_by_us(
    client: FlaskClient, admin: FlaskClient, catalog: Catalog, settings: Settings
) -> None:
    for name, response in letters(client, admin, catalog, settings).items():
        assert response.status_code == 200, name
        assert response.mimetype == "text/html", name
        assert response.headers.get("Content-Security-Policy") == LETTER_POLICY, name
        assert response.headers.get("X-Frame-Options") == "SAMEORIGIN", name
        assert response.headers.get("X-Content-Type-Options") == "nosniff", name
        # The library's own answer keeps its stricter policy: its address holds a token.
        expected = "no-referrer" if name == "a letter in the library" else "same-origin"
        assert response.headers.get("Referrer-Policy") == expected, name
        assert "<style" in response.text, f"{name}: the letter's own styles are there"


def test_the_outbox_shows_a_letter_in_a_sandboxed_frame_from_its_own_address(
    admin: FlaskClient, settings: Settings
) -> None:
    write_letter(settings.outbox_dir)
    page = admin.get(f"/dashboard/outbox/{LETTER}")
    frame = re.search(r"<iframe ([^>]*)>", page.text)
    assert frame, "the HTML part is shown in a frame"
    assert re.search(r"(^| )sandbox( |$)", frame.group(1)), "a sandbox with no permissions"
    assert f'src="/dashboard/outbox/{LETTER}/html"' in frame.group(1)
    assert "srcdoc" not in frame.group(1), "srcdoc would put the letter under the page's policy"
    letter = admin.get(f"/dashboard/outbox/{LETTER}/html")
    assert '<p style="margin:0">Hi</p>' in letter.text


def test_the_outbox_letter_html_is_only_for_operators_and_only_outbox_files(
    client: FlaskClient, admin: FlaskClient, settings: Settings
) -> None:
    write_letter(settings.outbox_dir)
    write_letter(settings.outbox_dir.parent)
    assert client.get(f"/dashboard/outbox/{LETTER}/html").status_code in (302, 401)
    for path in (f"..%2F{LETTER}", "%2E%2E%2Fx.eml", "draft.part", "missing.eml"):
        assert admin.get(f"/dashboard/outbox/{path}/html").status_code == 404, path


def test_the_library_keeps_its_stricter_referrer_policy(
    client: FlaskClient, catalog: Catalog, settings: Settings
) -> None:
    _, uid = active_reader(catalog, NOW)
    page = client.get(
        "/library/" + Signer(settings.require_secret_key()).sign(Purpose.PREFERENCES, uid)
    )
    assert page.status_code == 200
    assert page.headers.get("Referrer-Policy") == "no-referrer"
    assert policy(page).get("frame-ancestors") == "'none'"


def test_hsts_is_sent_only_when_the_base_url_is_https(db: None, settings: Settings) -> None:
    local = create_app(settings).test_client()
    assert "Strict-Transport-Security" not in local.get("/").headers
    public = create_app(settings.model_copy(update={"base_url": "https://mail.example.org"}))
    client = public.test_client()
    for path in ("/", "/no-such-page", "/static/tend.css", "/healthz"):
        assert client.get(path, buffered=True).headers.get("Strict-Transport-Security") == HSTS, (
            path
        )


def test_the_json_and_webhook_endpoints_answer_as_before_with_the_headers(
    client: FlaskClient,
) -> None:
    """The signup API for other sites still works: the policy governs pages, not fetches."""
    answer = client.options(
        "/subscribe",
        headers={"Origin": "https://example.com", "Access-Control-Request-Method": "POST"},
    )
    assert answer.status_code == 204
    assert answer.headers.get("X-Content-Type-Options") == "nosniff"
    hook = client.post("/hooks/sendgrid", json=[])
    assert hook.headers.get("X-Content-Type-Options") == "nosniff"

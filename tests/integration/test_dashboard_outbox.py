"""The outbox viewer: the .eml files of the outbox transport, listed and shown safely."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from flask.testing import FlaskClient

from core.config import Settings
from core.models import OperatorRole
from courses.model import Catalog
from emails.transports import OutboxTransport
from tasks import schedule
from tasks.sending import Sender
from tests.support.operators import log_in, make_operator
from tests.support.readers import active_reader
from web import create_app
from web.dashboard.outbox import PAGE_SIZE

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def send_welcome(catalog: Catalog, settings: Settings, email: str) -> None:
    active_reader(catalog, NOW, email=email)
    report = schedule.tick(catalog, NOW)
    ids = [delivery_id for batch in report.batches.values() for delivery_id in batch]
    assert Sender(settings, catalog, OutboxTransport(settings.outbox_dir)).send(ids, NOW).sent


def write_letter(outbox: Path, name: str, subject: str, html_part: str = "<p>hi</p>") -> None:
    message = EmailMessage()
    message["From"] = "Tend <letters@example.org>"
    message["To"] = "reader@example.org"
    message["Subject"] = subject
    message["Date"] = "Mon, 04 May 2026 09:00:00 +0000"
    message.set_content("Plain words.\n")
    message.add_alternative(html_part, subtype="html")
    outbox.mkdir(parents=True, exist_ok=True)
    (outbox / name).write_bytes(message.as_bytes())


def name_at(second: int) -> str:
    return f"20260504T0900{second // 60:02}{second % 60:02}000000-{second}.1.2.eml"


def test_sent_letters_are_listed_and_one_is_shown_with_headers_text_and_html(
    admin: FlaskClient, catalog: Catalog, settings: Settings
) -> None:
    send_welcome(catalog, settings, "ann@example.org")
    listing = admin.get("/dashboard/outbox")
    assert listing.status_code == 200
    assert "ann@example.org" in listing.text
    [name] = [path.name for path in settings.outbox_dir.glob("*.eml")]
    assert f'href="/dashboard/outbox/{name}"' in listing.text

    page = admin.get(f"/dashboard/outbox/{name}")
    assert page.status_code == 200
    assert "List-Unsubscribe" in page.text
    assert "List-Unsubscribe-Post" in page.text
    assert '<pre class="letter-text">' in page.text
    frame = re.search(r"<iframe ([^>]*)>", page.text)
    assert frame, "the HTML part is shown in a frame"
    attributes = frame.group(1)
    assert re.search(r"(^| )sandbox( |$)", attributes), "a sandbox with no permissions"
    assert "allow-" not in attributes
    assert f'src="/dashboard/outbox/{name}/html"' in attributes, "the HTML from its own address"
    assert "srcdoc" not in attributes, "a srcdoc frame would run under the page's policy"
    assert "<html" in admin.get(f"/dashboard/outbox/{name}/html").text.lower()


def test_a_letters_html_cannot_break_out_of_its_frame(
    admin: FlaskClient, settings: Settings
) -> None:
    hostile = '"></iframe><script>alert(1)</script><img src=x onerror="alert(2)">'
    write_letter(settings.outbox_dir, name_at(1), "Hostile <b>subject</b>", hostile)
    listing = admin.get("/dashboard/outbox").text
    assert "Hostile &lt;b&gt;subject&lt;/b&gt;" in listing
    page = admin.get(f"/dashboard/outbox/{name_at(1)}").text
    assert "<script>alert(1)" not in page
    assert 'onerror="alert' not in page
    assert page.count("</iframe>") == 1
    letter = admin.get(f"/dashboard/outbox/{name_at(1)}/html")
    assert "<script>alert(1)</script>" in letter.text, "the letter as it was written"
    policy = letter.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy, "no script may run"
    assert policy.endswith("; sandbox"), "nor any form, popup or plugin"


def test_the_newest_come_first_a_page_at_a_time(admin: FlaskClient, settings: Settings) -> None:
    count = PAGE_SIZE + 5
    for second in range(count):
        write_letter(settings.outbox_dir, name_at(second), f"Letter number {second}.")
    (settings.outbox_dir / "half-written.part").write_bytes(b"Subject: Not yet.\r\n")
    first = admin.get("/dashboard/outbox").text
    subjects = re.findall(r"Letter number (\d+)\.", first)
    assert subjects == [str(n) for n in reversed(range(5, count))]
    assert "Not yet." not in first
    assert f"{count:,} messages" in first
    older = re.search(r'href="(/dashboard/outbox\?before=[^"]+)"', first)
    assert older, "a link to the older messages"
    second = admin.get(html.unescape(older.group(1))).text
    assert re.findall(r"Letter number (\d+)\.", second) == ["4", "3", "2", "1", "0"]
    assert "?before=" not in second


def test_an_empty_outbox_says_so(admin: FlaskClient) -> None:
    page = admin.get("/dashboard/outbox")
    assert page.status_code == 200
    assert "The outbox is empty." in page.text


def test_no_path_outside_the_outbox_can_be_read(admin: FlaskClient, settings: Settings) -> None:
    write_letter(settings.outbox_dir, name_at(1), "Inside")
    write_letter(settings.outbox_dir.parent, "secret.eml", "The secret next door")
    (settings.outbox_dir / "draft.part").write_bytes(b"Subject: The half-written secret\r\n")
    for path in (
        "/dashboard/outbox/..%2Fsecret.eml",
        "/dashboard/outbox/%2E%2E%2Fsecret.eml",
        "/dashboard/outbox/..%5Csecret.eml",
        "/dashboard/outbox/..",
        "/dashboard/outbox/...eml",
        "/dashboard/outbox/%2Fetc%2Fpasswd",
        "/dashboard/outbox/draft.part",
        "/dashboard/outbox/missing.eml",
    ):
        answer = admin.get(path)
        assert answer.status_code == 404, path
        assert "secret" not in answer.text, path
    assert admin.get(f"/dashboard/outbox/{name_at(1)}").status_code == 200


def test_without_the_outbox_transport_there_is_nothing_to_see(db: None, settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"transport": "smtp"}))
    client = app.test_client()
    log_in(client, make_operator("admin@example.org", OperatorRole.ADMIN))
    page = client.get("/dashboard/outbox")
    assert page.status_code == 404
    assert "No outbox here" in page.text
    assert 'href="/dashboard/outbox"' not in page.text, "the navigation leaves it out"
    assert client.get(f"/dashboard/outbox/{name_at(1)}").status_code == 404


def test_a_viewer_may_read_the_outbox(viewer: FlaskClient, settings: Settings) -> None:
    write_letter(settings.outbox_dir, name_at(1), "For viewers too")
    assert "For viewers too" in viewer.get("/dashboard/outbox").text

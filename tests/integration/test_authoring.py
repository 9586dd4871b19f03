"""Author tools: previews at /author/, letters on the web, test sends and the calendar."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from core.clock import utcnow
from core.config import Settings
from core.links import link
from core.tokens import Purpose, Signer
from courses.model import Catalog
from emails.render import resolve_link
from tasks.catalog import get_catalog
from tests.support import outbox
from tests.support.readers import active_reader
from web import create_app
from web.cli import cli


def author_client(settings: Settings) -> FlaskClient:
    app: Flask = create_app(settings.model_copy(update={"dev": True}))
    return app.test_client()


def test_author_previews_need_an_operator_outside_tend_dev(
    client: FlaskClient, viewer: FlaskClient
) -> None:
    response = client.get("/author/")
    assert response.status_code == 302
    assert "/dashboard/login" in response.headers["Location"]
    assert viewer.get("/author/").status_code == 200


def test_the_author_index_lists_every_course_and_newsletter(db: None, settings: Settings) -> None:
    page = author_client(settings).get("/author/")
    assert page.status_code == 200
    assert "Softening Sessions" in page.text
    assert "every 14 days" in page.text
    assert "2026-12-15: <a" in page.text
    assert "to look at" not in page.text, "the shipped content has no problems"


def test_a_lesson_preview_shows_both_widths_the_text_headers_and_calendar(
    db: None, settings: Settings
) -> None:
    client = author_client(settings)
    page = client.get("/author/softening-sessions/acknowledge?first_name=Ann&timezone=Asia/Tokyo")
    assert page.status_code == 200
    assert 'class="desktop"' in page.text
    assert 'class="phone"' in page.text
    assert "Session 2 of 5" in page.text  # the text part
    assert "List-Unsubscribe-Post" in page.text
    assert "at noon in Asia/Tokyo" in page.text
    assert "08:00 JST" in page.text
    dated = client.get("/author/softening-sessions/welcome?timezone=Etc/GMT%2B12&start=2026-03-08")
    assert "Calendar for a reader who joins on 08 Mar 2026 at noon in Etc/GMT+12" in dated.text
    assert "Sun 22 Mar 2026 08:00 -12" in dated.text
    html = client.get("/author/softening-sessions/acknowledge/html?first_name=Ann")
    assert html.mimetype == "text/html"
    assert "<mj-" not in html.text
    assert "The step everyone skips" in html.text


def test_a_preview_escapes_the_sample_readers_name(db: None, settings: Settings) -> None:
    client = author_client(settings)
    html = client.get(
        "/author/remember-and-reclaim/naming-the-weather/html?first_name=<script>x</script>"
    ).text
    assert "Dear &lt;script&gt;x&lt;/script&gt;," in html
    assert "<script>x" not in html


def test_a_changed_file_shows_on_the_next_page_without_a_restart(
    db: None, settings: Settings, tmp_path: Path
) -> None:
    courses = tmp_path / "courses"
    shutil.copytree(settings.courses_path, courses)
    client = author_client(settings.model_copy(update={"courses_dir": courses}))
    assert "Naming the weather" in client.get("/author/").text
    issue = courses / "remember-and-reclaim" / "issues" / "2026-12-01-naming-the-weather.md"
    issue.write_text(issue.read_text().replace("Naming the weather", "Weather, named"))
    assert "Weather, named" in client.get("/author/").text


def test_an_unknown_letter_preview_is_a_friendly_404(db: None, settings: Settings) -> None:
    response = author_client(settings).get("/author/softening-sessions/nope")
    assert response.status_code == 404
    assert "This page isn’t here" in response.text


def test_a_lesson_can_be_read_on_the_web_without_anyones_links(client: FlaskClient) -> None:
    page = client.get("/read/softening-sessions/not-alone")
    assert page.status_code == 200
    assert "You are not the only one" in page.text
    assert "%%" not in page.text
    assert client.get("/read/softening-sessions/nope").status_code == 404


def test_the_preferences_page_opens_from_its_signed_link(
    client: FlaskClient, settings: Settings, catalog: Catalog
) -> None:
    _, uid = active_reader(catalog, utcnow())
    url = link(settings.base_url, Signer(settings.require_secret_key()), Purpose.PREFERENCES, uid)
    page = client.get(url.removeprefix(settings.base_url))
    assert page.status_code == 200
    assert "Softening Sessions" in page.text
    assert "Unsubscribe from everything" in page.text
    assert client.get("/p/forged-token").status_code == 400


def test_send_test_writes_one_marked_letter_through_the_transport(
    db: None, settings: Settings
) -> None:
    result = CliRunner().invoke(
        cli, ["send-test", "softening-sessions/kindness", "--to", "author@example.org"]
    )
    assert result.exit_code == 0, result.output
    (message,) = outbox.messages(settings.outbox_dir)
    assert message["Subject"] == "[Test] Speak to yourself like someone you love"
    assert message["To"] == "author@example.org"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, _ = outbox.parts(message)
    assert "Session 4 of 5" in text


def test_send_test_names_what_exists_when_the_letter_does_not(db: None) -> None:
    result = CliRunner().invoke(cli, ["send-test", "softening-sessions/nope", "--to", "a@b.org"])
    assert result.exit_code == 1
    assert "softening-sessions has no letter 'nope' (there is welcome, acknowledge" in result.output


def test_the_calendar_shows_local_and_utc_times_for_a_reader(db: None) -> None:
    result = CliRunner().invoke(
        cli,
        ["calendar", "softening-sessions", "--start", "2026-10-20", "--tz", "Pacific/Kiritimati"],
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (
        "Softening Sessions: every 14 days, for a reader in Pacific/Kiritimati "
        "who joins Tue 20 Oct 2026 12:00"
    )
    assert (
        lines[1]
        == "  1  Tue 20 Oct 2026 12:00 +14  2026-10-19 22:00 UTC  Welcome to Softening Sessions"
    )
    assert (
        lines[2] == "  2  Tue 03 Nov 2026 08:00 +14  2026-11-02 18:00 UTC  The step everyone skips"
    )
    assert len(lines) == 6


def test_relative_links_between_letters_become_their_web_pages(settings: Settings) -> None:
    course = get_catalog()["softening-sessions"]
    assert resolve_link("https://x.org", course, "01-acknowledge.md") == (
        "https://x.org/read/softening-sessions/acknowledge"
    )
    assert (
        resolve_link(
            "https://x.org",
            course,
            "../remember-and-reclaim/issues/2026-12-01-naming-the-weather.md",
        )
        == "https://x.org/read/remember-and-reclaim/naming-the-weather"
    )
    assert resolve_link("https://x.org", course, "https://example.org/") == "https://example.org/"

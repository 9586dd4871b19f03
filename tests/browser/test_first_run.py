"""Starting fresh: `tend dev`, a browser signup, the link in the .eml, and lesson 1 arrives."""

from __future__ import annotations

from pathlib import Path

import pytest

from courses.loader import load_catalog
from tests.conftest import EMBEDDED
from tests.support import outbox
from tests.support.dev_server import running_tend_dev

pytestmark = pytest.mark.browser

DEMO = load_catalog(Path(__file__).resolve().parents[2] / "courses")["softening-sessions"]


def test_a_new_reader_signs_up_in_a_browser_and_gets_the_first_lesson(
    tmp_path: Path, db: None, browser_page
) -> None:
    page = browser_page
    data_dir = tmp_path / "var"
    with running_tend_dev(data_dir, EMBEDDED) as server:
        base_url = server.base_url
        page.goto(base_url + "/")
        assert page.locator("h1").first.inner_text() == "Softening Sessions"
        assert page.locator("select#timezone").input_value() == "America/Chicago"
        page.get_by_label("Your email").fill("not an address")
        page.get_by_role("button", name="Send me the first letter").click()
        assert "doesn’t look like an email address" in page.content()

        page.get_by_label("Your email").fill("browser.reader@example.org")
        page.get_by_label("First name (optional)").fill("Robin")
        page.get_by_label("Yes, send me these letters by email").check()
        page.get_by_role("button", name="Send me the first letter").click()
        page.wait_for_url("**/check-your-inbox")
        page.screenshot(path=str(tmp_path / "check-inbox.png"))

        box = data_dir / "outbox"
        confirmation = outbox.wait_for(
            lambda: outbox.with_subject(box, "Please confirm: Softening Sessions"),
            30,
            "the confirmation email in the outbox",
        )[0]
        page.goto(outbox.link_to(confirmation, "/confirm/"))
        page.get_by_role("button", name="Yes, confirm my address").click()
        assert "You’re in" in page.locator("h1").inner_text()

        welcome = DEMO.lessons[0]
        lesson = outbox.wait_for(
            lambda: outbox.with_subject(box, welcome.subject), 60, "lesson 1 in the outbox"
        )[0]
        text, _ = outbox.parts(lesson)
        assert "Session 1 of 5" in text
        assert lesson["To"] == "Robin <browser.reader@example.org>"

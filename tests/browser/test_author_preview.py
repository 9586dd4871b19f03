"""An author opens /author/ under `tend dev` and reads a lesson at phone width."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import EMBEDDED
from tests.support.dev_server import running_tend_dev

pytestmark = pytest.mark.browser


def test_a_lesson_reads_at_375px_with_no_horizontal_scrolling(
    tmp_path: Path, db: None, browser_page
) -> None:
    page = browser_page
    # Chromium enforces the Content-Security-Policy: anything it blocks is reported here.
    blocked: list[str] = []
    page.on(
        "console",
        lambda message: (
            blocked.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.set_viewport_size({"width": 1280, "height": 900})
    with running_tend_dev(tmp_path / "var", EMBEDDED) as server:
        page.goto(server.base_url + "/author/")
        page.get_by_role("link", name="The step everyone skips").click()
        page.get_by_label("Sample reader's first name").fill("Robin")
        page.get_by_role("button", name="Show").click()
        page.wait_for_load_state("load")

        phone = page.locator("iframe.phone")
        assert phone.evaluate("frame => frame.getBoundingClientRect().width") == 375
        # Measured inside the frame: the letter's policy sandboxes it into an origin of its
        # own, so the preview page cannot reach its document (contentDocument is null).
        widths = (
            page.frame_locator("iframe.phone")
            .locator("html")
            .evaluate("html => [html.scrollWidth, html.clientWidth]")
        )
        assert widths[0] <= widths[1], f"the letter scrolls sideways at 375 px: {widths}"
        body = page.frame_locator("iframe.phone").locator("body")
        assert "Session 2 of 5" in body.inner_text()
        assert "Session 2 of 5" in page.locator("pre.text").inner_text()

        shot = tmp_path / "author-preview-375.png"
        phone.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000
        page.screenshot(path=str(tmp_path / "author-preview.png"), full_page=True)
    assert blocked == [], "nothing on the pages was blocked by the policy"

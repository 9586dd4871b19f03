"""A reader's whole journey in a browser, against a real `tend dev` (web, worker and beat).

Sign up at `/`, confirm from the email, get lesson 1, pause and resume the course from the
preferences link in its footer, then leave from its unsubscribe link. The signup and
preferences pages are opened at a phone's width and must not scroll sideways there.
"""

from __future__ import annotations

import re
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlalchemy import select

from core.models import Enrollment, EnrollmentState, Subscriber, SubscriberStatus
from courses.loader import load_catalog
from tests.conftest import EMBEDDED
from tests.support import outbox
from tests.support.dev_server import dev_session, running_tend_dev

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.browser

DEMO = load_catalog(Path(__file__).resolve().parents[2] / "courses")["softening-sessions"]
READER = "journey.reader@example.org"
ZONE = "America/Chicago"  # the browser's zone (tests/browser/conftest.py)
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}
LESSONS = f"1 of {len(DEMO.lessons)} letters"  # had, of the course
PAGE_WAIT_MS = 15_000  # for the page a button leads to (Playwright's bounded wait)


def test_a_reader_signs_up_confirms_pauses_resumes_and_leaves(
    tmp_path: Path, db: None, browser_page
) -> None:
    page = browser_page
    data_dir = tmp_path / "var"
    box = data_dir / "outbox"

    def shot(name: str) -> None:
        page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)

    def heading() -> str:
        return page.locator("h1").first.inner_text()

    def arrive(title: str) -> None:
        """Wait (bounded) for the page whose heading is `title`: a form posts back to the
        same address, so the heading is what tells the new page from the old."""
        playwright.expect(page.locator("h1")).to_have_text(title, timeout=PAGE_WAIT_MS)

    def noted(words: str) -> None:
        """Wait (bounded) for the preferences page's word about what just changed."""
        note = page.get_by_role("status")
        playwright.expect(note).to_contain_text(words, timeout=PAGE_WAIT_MS)

    with running_tend_dev(data_dir, EMBEDDED) as server:
        # 1. The signup page, at a phone's width.
        page.set_viewport_size(PHONE)
        page.goto(server.base_url + "/")
        assert heading() == DEMO.title
        assert_no_sideways_scroll(page, "the signup page")
        assert page.get_by_label("Your time zone").input_value() == ZONE, "zone not detected"
        page.get_by_label("Your email").fill(READER)
        page.get_by_label("First name (optional)").fill("Robin")
        page.get_by_label("Yes, send me these letters by email").check()
        shot("01-signup")
        page.get_by_role("button", name="Send me the first letter").click()
        page.wait_for_url("**/check-your-inbox", timeout=PAGE_WAIT_MS)
        arrive("Check your inbox")
        assert_no_sideways_scroll(page, "the check-your-inbox page")
        shot("02-check-your-inbox")

        # 2. The confirmation email, its link and its button.
        page.set_viewport_size(DESKTOP)
        confirmation = outbox.wait_for(
            lambda: outbox.with_subject(box, f"Please confirm: {DEMO.title}"),
            30,
            f"the confirmation email in {box}",
            message=lambda: subjects(box),
        )[0]
        assert confirmation["To"] == f"Robin <{READER}>"
        page.goto(outbox.link_to(confirmation, "/confirm/"))
        assert heading() == "One last step"
        shot("03-confirm")
        page.get_by_role("button", name="Yes, confirm my address").click()
        arrive("You’re in. Welcome.")
        shot("04-confirmed")

        # 3. Lesson 1 arrives; its footer carries the reader's two links.
        welcome = DEMO.lessons[0]
        lesson = outbox.wait_for(
            lambda: outbox.with_subject(box, welcome.subject),
            60,
            f"lesson 1 ({welcome.subject!r}) in {box}",
            message=lambda: subjects(box),
        )[0]
        assert lesson["To"] == f"Robin <{READER}>"
        preferences_url, unsubscribe_url = footer_links(lesson)

        # 4. The preferences page, at a phone's width: pause, then resume.
        page.set_viewport_size(PHONE)
        page.goto(preferences_url)
        assert heading() == "Your letters"
        course = page.locator("section.choice", has=page.locator(f"#course-{DEMO.slug}"))
        assert f"Going on at its usual pace. {LESSONS}." in course.inner_text()
        assert_no_sideways_scroll(page, "the preferences page")
        shot("05-preferences")

        course.get_by_role("button", name="Pause until I resume").click()
        noted(f"{DEMO.title} is paused until you resume it.")
        assert f"Paused until you resume it. {LESSONS}." in course.inner_text()
        assert course.get_by_role("button", name="Pause for 4 weeks").count() == 0
        assert_no_sideways_scroll(page, "the preferences page, paused")
        shot("06-paused")
        assert enrollment_state(data_dir) is EnrollmentState.PAUSED

        course.get_by_role("button", name="Resume where I left off").click()
        noted(f"Welcome back. {DEMO.title} goes on")
        assert f"Going on at its usual pace. {LESSONS}." in course.inner_text()
        assert_no_sideways_scroll(page, "the preferences page, resumed")
        shot("07-resumed")
        assert enrollment_state(data_dir) is EnrollmentState.ACTIVE

        # 5. Leaving, from the lesson's unsubscribe link.
        page.set_viewport_size(DESKTOP)
        page.goto(unsubscribe_url)
        assert heading() == "Leave these letters?"
        shot("08-unsubscribe")
        page.get_by_role("button", name="Unsubscribe me").click()
        arrive("You won’t hear from us again")
        shot("09-goodbye")

        # 6. The reader has left: in the database and on their preferences page.
        with dev_session(data_dir) as session:
            reader = session.scalars(select(Subscriber).where(Subscriber.email == READER)).one()
            assert reader.status is SubscriberStatus.UNSUBSCRIBED
            assert reader.unsubscribed_at is not None
            assert reader.unsubscribe_channel == "unsubscribe page"
            assert reader.timezone == ZONE
            assert [e.state for e in reader.enrollments] == [EnrollmentState.CANCELLED]
        page.goto(preferences_url)
        assert "You unsubscribed on " in page.locator("p.lead").inner_text()
        assert page.get_by_role("button", name="Pause until I resume").count() == 0
        shot("10-preferences-after-leaving")

        # One confirmation and lesson 1, once: resuming sent nothing early or twice. (A
        # newsletter issue falling due during the run would be no fault, so it is not
        # counted.)
        sent = subjects(box)
        assert sent.count(f"Please confirm: {DEMO.title}") == 1, sent
        assert [s for s in sent if s in {letter.subject for letter in DEMO.lessons}] == [
            welcome.subject
        ], sent


def assert_no_sideways_scroll(page, what: str) -> None:
    scroll, client = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert scroll <= client, f"{what} scrolls sideways at {client} px: {scroll} px wide"


def subjects(box: Path) -> list[str]:
    return [message["Subject"] for message in outbox.messages(box)]


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: dict[str, str] = {}
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href, self._text = dict(attrs).get("href"), []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links[" ".join("".join(self._text).split())] = self._href
            self._href = None


def footer_links(lesson: EmailMessage) -> tuple[str, str]:
    """The preferences and unsubscribe links of a letter's footer, the same in both parts."""
    text, html = outbox.parts(lesson)
    found = {
        label: re.findall(rf"^{label}: (https?://\S+)$", text, re.MULTILINE)
        for label in ("Your preferences", "Unsubscribe")
    }
    assert all(len(urls) == 1 for urls in found.values()), f"footer links in the text: {found}"
    preferences_url, unsubscribe_url = found["Your preferences"][0], found["Unsubscribe"][0]
    assert "/p/" in preferences_url, found
    assert "/u/" in unsubscribe_url, found

    parser = _Links()
    parser.feed(html)
    parser.close()
    assert parser.links.get("Your preferences") == preferences_url, parser.links
    assert parser.links.get("Unsubscribe") == unsubscribe_url, parser.links
    return preferences_url, unsubscribe_url


def enrollment_state(data_dir: Path) -> EnrollmentState:
    with dev_session(data_dir) as session:
        query = (
            select(Enrollment.state)
            .join(Subscriber)
            .where(Subscriber.email == READER, Enrollment.course == DEMO.slug)
        )
        return session.scalars(query).one()

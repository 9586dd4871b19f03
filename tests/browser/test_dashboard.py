"""An operator's round of the dashboard in a browser, against a real `tend dev`.

Log in, see the overview with its chart, find a reader and open their timeline, retry
their failed lesson and see it arrive, then stop all sending and see a retried letter
held back by the worker, and resume.
"""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from core.clock import utcnow
from core.models import (
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Enrollment,
    EnrollmentState,
    Subscriber,
    SubscriberStatus,
)
from courses.loader import load_catalog
from tests.conftest import EMBEDDED
from tests.support import outbox
from tests.support.dev_server import dev_environment, dev_session, running_tend_dev, tend_command
from tests.support.processes import wait_for

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.browser

DEMO = load_catalog(Path(__file__).resolve().parents[2] / "courses")["softening-sessions"]
WELCOME = DEMO.lessons[0]
OPERATOR = "ops@example.org"
PASSWORD = "a password for the browser test"
ERROR = "550 5.1.1 mailbox unavailable"
PAGE_WAIT_MS = 15_000  # for the page a button leads to (Playwright's bounded wait)


def test_an_operator_finds_a_reader_retries_their_letter_and_stops_sending(
    tmp_path: Path, db: None, browser_page
) -> None:
    page = browser_page
    data_dir = tmp_path / "var"
    box = data_dir / "outbox"
    expect = playwright.expect

    def shot(name: str) -> None:
        page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)

    def flashed(words: str) -> None:
        note = page.locator("p.flash", has_text=words).first
        expect(note).to_be_visible(timeout=PAGE_WAIT_MS)

    with running_tend_dev(data_dir, EMBEDDED) as server:
        create_operator(data_dir)
        noor = failed_welcome(data_dir, "noor.failing@example.org", "Noor")

        # 1. Logging in leads on to the page asked for: the overview, with its chart.
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(server.base_url + "/dashboard/")
        page.get_by_label("Email").fill(OPERATOR)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("h1")).to_have_text("Overview", timeout=PAGE_WAIT_MS)
        expect(page.locator("svg.chart").first).to_be_visible()
        expect(page.locator("main")).to_contain_text("Last tick", timeout=PAGE_WAIT_MS)
        shot("01-overview")

        # 2. Finding the reader by name and reading their timeline.
        page.get_by_role("link", name="Readers", exact=True).click()
        page.get_by_label("Address or first name").fill("noor")
        page.get_by_role("button", name="Search").click()
        page.get_by_role("link", name="noor.failing@example.org").click()
        expect(page.locator("h1")).to_have_text("noor.failing@example.org")
        timeline = page.get_by_role("table", name="Timeline")
        expect(timeline).to_contain_text(ERROR)
        shot("02-reader-timeline")

        # 3. Retrying the failed letter from the failures page: the worker sends it.
        page.get_by_role("link", name="Failures", exact=True).click()
        row = page.locator("tr", has_text="noor.failing@example.org")
        expect(row).to_contain_text(ERROR)
        shot("03-failures")
        row.get_by_role("button", name="Retry").click()
        flashed("queued to be sent again")
        arrived = wait_for(
            lambda: letters_to(box, "noor.failing@example.org"),
            60,
            "the retried welcome in the outbox",
            message=lambda: [m["To"] for m in outbox.messages(box)],
        )
        assert [m["Subject"] for m in arrived] == [WELCOME.subject]
        assert status_of(data_dir, noor) is DeliveryStatus.SENT

        # 4. Stopping all sending: a letter retried now is held by the worker, unsent.
        page.get_by_role("link", name="Overview", exact=True).click()
        page.get_by_label("Reason").fill("checking a complaint")
        page.get_by_role("button", name="Stop all sending").click()
        flashed("Sending is stopped")
        expect(page.locator("main")).to_contain_text("checking a complaint")
        shot("04-sending-stopped")

        sam = failed_welcome(data_dir, "sam.held@example.org", "Sam")
        page.get_by_role("link", name="Failures", exact=True).click()
        page.locator("tr", has_text="sam.held@example.org").get_by_role(
            "button", name="Retry"
        ).click()
        flashed("queued to be sent again")
        wait_for(
            lambda: b"1 held" in server.log.read_bytes(),
            60,
            "the worker to hold the retried letter back",
            message=lambda: server.log.read_text()[-2000:],
        )
        assert status_of(data_dir, sam) is DeliveryStatus.QUEUED
        assert letters_to(box, "sam.held@example.org") == []

        # 5. Resuming: the held letter goes out at once.
        page.get_by_role("link", name="Overview", exact=True).click()
        page.get_by_role("button", name="Resume sending").click()
        flashed("held back while it was stopped, queued again: 1.")
        expect(page.get_by_role("button", name="Stop all sending")).to_be_visible()
        shot("05-sending-resumed")
        wait_for(
            lambda: letters_to(box, "sam.held@example.org"),
            60,
            "the held welcome in the outbox after resuming",
            message=lambda: [m["To"] for m in outbox.messages(box)],
        )


def create_operator(data_dir: Path) -> None:
    """`tend create-operator`, as an operator runs it beside `tend dev`."""
    command = [*tend_command()[:-1], "create-operator", OPERATOR, "--password-file", "-"]
    made = subprocess.run(
        command,
        input=PASSWORD + "\n",
        env=dev_environment(data_dir, EMBEDDED),
        cwd=data_dir.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert made.returncode == 0, made.stdout + made.stderr


def failed_welcome(data_dir: Path, email: str, name: str) -> int:
    """An active reader of the demo course whose welcome letter failed; its delivery id."""
    now = utcnow()
    with dev_session(data_dir) as session:
        reader = Subscriber(
            email=email,
            first_name=name,
            timezone="Europe/Paris",
            status=SubscriberStatus.ACTIVE,
            consent_at=now,
            consent_source="hosted form",
            confirmed_at=now,
        )
        session.add(reader)
        session.flush()
        enrollment = Enrollment(
            subscriber_id=reader.id,
            course=DEMO.slug,
            state=EnrollmentState.ACTIVE,
            started_at=now,
            position=1,
            next_due_at=now + timedelta(days=14),
        )
        session.add(enrollment)
        session.flush()
        delivery = Delivery(
            kind=DeliveryKind.LESSON,
            subscriber_id=reader.id,
            enrollment_id=enrollment.id,
            lesson=WELCOME.slug,
            status=DeliveryStatus.FAILED,
            attempts=8,
            last_error=ERROR,
        )
        session.add(delivery)
        session.flush()
        return delivery.id


def status_of(data_dir: Path, delivery_id: int) -> DeliveryStatus:
    with dev_session(data_dir) as session:
        return session.scalars(select(Delivery.status).where(Delivery.id == delivery_id)).one()


def letters_to(box: Path, address: str) -> list:
    return [message for message in outbox.messages(box) if address in message["To"]]

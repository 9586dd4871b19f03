"""The whole path: sign up over HTTP, confirm from the email, receive lessons from a real
worker, move the clock, and leave with one click."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from core.clock import utcnow
from core.config import Settings
from core.db import session_scope
from core.models import Delivery, DeliveryStatus, Enrollment
from courses.model import Catalog
from emails import markdown
from tasks import jobs, schedule
from tests.support import outbox
from tests.support.web import path_of, press_button, sign_up
from tests.support.worker import celery_worker

pytestmark = pytest.mark.worker
WAIT = 30.0  # seconds a worker may take to send what is queued


@pytest.fixture
def worker(db: None) -> Iterator[Path]:
    with celery_worker() as log:
        yield log


def one_with_subject(settings: Settings, subject: str, log: Path) -> EmailMessage:
    found = outbox.wait_for(
        lambda: outbox.with_subject(settings.outbox_dir, subject),
        WAIT,
        f"a message “{subject}” in the outbox (worker log: {log})",
    )
    return found[0]


def wait_until_settled(log: Path) -> None:
    """Wait until no delivery is queued or being sent."""

    def settled() -> bool:
        with session_scope() as session:
            busy = [DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.IN_FLIGHT]
            return (
                session.scalars(select(Delivery.id).where(Delivery.status.in_(busy))).first()
                is None
            )

    outbox.wait_for(settled, WAIT, f"every delivery to be sent (worker log: {log})")


def tick_at(catalog: Catalog, when: datetime) -> schedule.TickReport:
    """What beat does each minute, at a chosen time: claim, then queue for the worker.

    Only the courses: the shipped newsletter's dated issues would join in on some days."""
    report = schedule.tick(Catalog(catalog.courses), when)
    jobs.queue_batches(report.batches.values())
    return report


def test_a_reader_signs_up_confirms_gets_each_lesson_once_and_leaves(
    client: FlaskClient, worker: Path, settings: Settings, catalog: Catalog
) -> None:
    course = catalog["softening-sessions"]
    welcome, second, third = course.lessons[:3]

    assert sign_up(client, "reader@example.org", first_name="Ann").status_code == 303
    confirmation = one_with_subject(settings, "Please confirm: Softening Sessions", worker)
    confirm_url = outbox.link_to(confirmation, "/confirm/")
    assert client.get(path_of(confirm_url)).status_code == 200
    assert press_button(client, confirm_url).status_code == 200

    # Confirming queues a tick, and the worker sends the welcome at once.
    lesson = one_with_subject(settings, welcome.subject, worker)
    text, html = outbox.parts(lesson)
    assert markdown.to_text(welcome.body).strip() in text
    assert "Session 1 of 5" in text
    assert "<html" in html
    assert 'lang="en"' in html
    unsubscribe_url = lesson["List-Unsubscribe"].strip("<>")
    assert unsubscribe_url.startswith(f"{settings.base_url}/u/")
    assert lesson["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe_url in text
    assert unsubscribe_url in html
    assert lesson["List-Id"] == '"Softening Sessions" <softening-sessions.127.0.0.1>'
    assert lesson["Message-ID"]
    assert lesson["To"] == "Ann <reader@example.org>"
    assert "reader@example.org" not in unsubscribe_url

    # When lesson 2 falls due (two weeks on, in the course's send window), however many
    # ticks run, it is sent once.
    with session_scope() as session:
        started, due = session.execute(select(Enrollment.started_at, Enrollment.next_due_at)).one()
    assert due is not None
    assert timedelta(days=13) < due - started < timedelta(days=15)
    assert tick_at(catalog, due + timedelta(minutes=1)).claimed == 1
    one_with_subject(settings, second.subject, worker)
    wait_until_settled(worker)
    # (Ticking in the future while the worker holds the send would take its lease for
    # expired: these ticks run once it is recorded.)
    again = [tick_at(catalog, due + timedelta(minutes=1)) for _ in range(3)]
    assert [report.claimed for report in again] == [0, 0, 0]
    wait_until_settled(worker)
    assert len(outbox.with_subject(settings.outbox_dir, second.subject)) == 1
    assert len(outbox.messages(settings.outbox_dir)) == 3

    # One click in the mail client, and nothing more is sent.
    mail_provider = client.application.test_client(use_cookies=False)
    response = mail_provider.post(path_of(unsubscribe_url), data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    for days in (29, 43, 57, 90):
        assert tick_at(catalog, started + timedelta(days=days)).claimed == 0
    wait_until_settled(worker)
    assert len(outbox.messages(settings.outbox_dir)) == 3
    assert outbox.with_subject(settings.outbox_dir, third.subject) == []
    with session_scope() as session:
        statuses = session.scalars(select(Delivery.status)).all()
    assert statuses == [DeliveryStatus.SENT] * 3
    assert utcnow() < due, "the clock was moved only for the ticks"

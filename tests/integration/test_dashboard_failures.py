"""The failures page, retrying from it, and the suppressions list."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update

from core.config import Settings
from core.db import session_scope
from core.models import (
    Delivery,
    DeliveryStatus,
    Enrollment,
    EnrollmentState,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from courses.model import Catalog
from emails.transports import OutboxTransport, TransportError
from tasks import readers, retry, schedule
from tasks.reports import failures as failures_report
from tasks.reports import suppressions as suppressions_report
from tasks.sending import Sender
from tests.integration.test_sending import FailingTransport
from tests.support import outbox
from tests.support.broker import queued_sends
from tests.support.operators import form_token
from tests.support.readers import active_reader, many_due
from tests.support.worker import celery_worker

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
WAIT = 30.0


def failed_by_the_provider(catalog: Catalog, settings: Settings, count: int = 1) -> list[int]:
    """`count` readers whose welcome lesson the provider refused for good."""
    for number in range(count):
        active_reader(catalog, NOW, email=f"reader{number}@example.org")
    report = schedule.tick(catalog, NOW)
    ids = sorted(delivery_id for batch in report.batches.values() for delivery_id in batch)
    refusal = TransportError("550 mailbox unavailable", permanent=True)
    assert Sender(settings, catalog, FailingTransport(refusal)).send(ids, NOW).failed == ids
    return ids


def set_status(
    ids: list[int], status: DeliveryStatus, at: datetime = NOW, error: str | None = "refused"
) -> None:
    with session_scope() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids))
            .values(status=status, updated_at=at, last_error=error, attempts=2)
        )


def status_of(delivery_id: int) -> DeliveryStatus:
    with session_scope() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        return delivery.status


def retry_button(client: FlaskClient, delivery_id: int, status: str = "failed") -> int:
    form = {"csrf_token": form_token(client), "status": status}
    answer = client.post(f"/dashboard/failures/{delivery_id}/retry", data=form)
    return answer.status_code


# The page


def test_the_page_lists_failures_with_the_providers_message_and_a_link_to_the_reader(
    admin: FlaskClient, catalog: Catalog, settings: Settings
) -> None:
    [delivery_id] = failed_by_the_provider(catalog, settings)
    with session_scope() as session:
        reader_id = session.scalars(select(Subscriber.id)).one()
    page = admin.get("/dashboard/failures")
    assert page.status_code == 200
    assert "550 mailbox unavailable" in page.text
    assert "reader0@example.org" in page.text
    assert f'href="/dashboard/readers/{reader_id}"' in page.text
    assert "softening-sessions / welcome" in page.text
    assert f'action="/dashboard/failures/{delivery_id}/retry"' in page.text


def test_the_counts_show_each_status_and_bounces_come_without_a_retry_button(
    admin: FlaskClient,
) -> None:
    ids = many_due(6, "welcome", NOW)
    set_status(ids[:3], DeliveryStatus.FAILED)
    set_status(ids[3:5], DeliveryStatus.UNKNOWN)
    set_status(ids[5:], DeliveryStatus.BOUNCED, error="550 no such user")
    with session_scope() as session:
        counts = failures_report.status_counts(session)
    assert counts == {
        DeliveryStatus.FAILED: 3,
        DeliveryStatus.UNKNOWN: 2,
        DeliveryStatus.BOUNCED: 1,
    }
    fragment = admin.get("/dashboard/failures/counts?status=bounced").text
    assert 'hx-trigger="every 10s"' in fragment
    bounced = admin.get("/dashboard/failures?status=bounced").text
    assert "550 no such user" in bounced
    assert "/retry" not in bounced, "bounces are information, never retried"


def test_counts_stop_at_the_cap_and_say_so(
    admin: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(failures_report, "COUNT_CAP", 3)
    ids = many_due(5, "welcome", NOW)
    set_status(ids, DeliveryStatus.FAILED)
    with session_scope() as session:
        assert failures_report.status_counts(session)[DeliveryStatus.FAILED] == 4
    page = admin.get("/dashboard/failures").text
    assert ">3+</span>" in page
    assert "Retry all failed" in page, "no number on the button when it is not known"


def test_an_empty_page_says_so(admin: FlaskClient) -> None:
    page = admin.get("/dashboard/failures")
    assert page.status_code == 200
    assert "No failed deliveries." in page.text
    assert "Retry all" not in page.text


def test_pages_follow_on_newest_first_without_repeating_or_skipping_a_row(db: None) -> None:
    ids = many_due(23, "welcome", NOW)
    # Several rows share a time: the id breaks the tie, so no row falls between pages.
    for index, delivery_id in enumerate(ids):
        set_status([delivery_id], DeliveryStatus.FAILED, at=NOW + timedelta(minutes=index // 4))
    seen: list[int] = []
    after = None
    with session_scope() as session:
        while True:
            page = failures_report.failures(session, DeliveryStatus.FAILED, after, size=5)
            seen.extend(row.id for row in page.rows)
            if page.next is None:
                break
            after = failures_report.Cursor.parse(str(page.next))
    expected = sorted(ids, key=lambda i: (NOW + timedelta(minutes=ids.index(i) // 4), i))
    assert seen == list(reversed(expected))


def test_the_older_link_leads_to_the_next_page(admin: FlaskClient) -> None:
    ids = many_due(failures_report.PAGE_SIZE + 3, "welcome", NOW)
    for index, delivery_id in enumerate(ids):
        set_status([delivery_id], DeliveryStatus.FAILED, at=NOW + timedelta(seconds=index))
    first = admin.get("/dashboard/failures").text
    assert "reader52@example.org" in first
    assert "reader2@example.org<" not in first
    cursor = str(failures_report.Cursor(NOW + timedelta(seconds=3), ids[3]))
    assert f"after={cursor}" in first
    second = admin.get(f"/dashboard/failures?after={cursor}").text
    assert [f"reader{n}@example.org<" in second for n in range(4)] == [True, True, True, False]
    assert admin.get("/dashboard/failures?after=not-a-cursor").status_code == 200


# Retrying


def test_a_failed_delivery_retried_goes_out_once_and_keeps_its_attempts(
    admin: FlaskClient, catalog: Catalog, settings: Settings
) -> None:
    [delivery_id] = failed_by_the_provider(catalog, settings)
    answer = admin.post(
        f"/dashboard/failures/{delivery_id}/retry",
        data={"csrf_token": form_token(admin), "status": "failed"},
        follow_redirects=True,
    )
    assert "queued to be sent again" in answer.text
    with session_scope() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        assert delivery.status is DeliveryStatus.QUEUED
        assert delivery.attempts == 1, "a retry keeps the count of attempts"
        assert delivery.last_error == "550 mailbox unavailable", "kept until the next attempt"
    assert queued_sends(settings) == [[delivery_id]]
    # What the worker does with the queued task:
    sender = Sender(settings, catalog, OutboxTransport(settings.outbox_dir))
    assert sender.send([delivery_id], NOW).sent == [delivery_id]
    assert sender.send([delivery_id], NOW).sent == [], "a duplicated task sends nothing"
    assert len(outbox.messages(settings.outbox_dir)) == 1
    assert retry_button(admin, delivery_id) == 302
    assert status_of(delivery_id) is DeliveryStatus.SENT, "a sent delivery is not retried"


def test_two_operators_retrying_at_once_send_it_once(
    db: None, catalog: Catalog, settings: Settings
) -> None:
    [delivery_id] = failed_by_the_provider(catalog, settings)
    start = threading.Barrier(2)
    results: list[bool] = []

    def press() -> None:
        start.wait()
        results.append(retry.retry_one(delivery_id, DeliveryStatus.FAILED, NOW))

    threads = [threading.Thread(target=press) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, True]
    assert queued_sends(settings) == [[delivery_id]]
    sender = Sender(settings, catalog, OutboxTransport(settings.outbox_dir))
    sender.send([delivery_id], NOW)
    sender.send([delivery_id], NOW)
    assert len(outbox.messages(settings.outbox_dir)) == 1


def test_a_reader_who_left_or_whose_address_is_suppressed_is_never_retried(
    admin: FlaskClient, catalog: Catalog, settings: Settings
) -> None:
    left, suppressed, kept = failed_by_the_provider(catalog, settings, count=3)
    with session_scope() as session:
        delivery = session.get(Delivery, left)
        assert delivery is not None
        readers.unsubscribe(session, delivery.subscriber.uid, "test", NOW)
        session.add(Suppression(email="READER1@example.org", reason="bounce"))
    assert retry_button(admin, left) == 302
    assert retry_button(admin, suppressed) == 302
    assert status_of(left) is DeliveryStatus.FAILED
    assert status_of(suppressed) is DeliveryStatus.FAILED
    form = {"csrf_token": form_token(admin), "status": "failed"}
    answer = admin.post("/dashboard/failures/retry-all", data=form, follow_redirects=True)
    assert "1 delivery is queued to be sent again." in answer.text
    assert [status_of(i) for i in (left, suppressed, kept)] == [
        DeliveryStatus.FAILED,
        DeliveryStatus.FAILED,
        DeliveryStatus.QUEUED,
    ]
    assert queued_sends(settings) == [[kept]]


def test_retrying_all_works_in_chunks_and_leaves_other_statuses_alone(
    db: None, settings: Settings
) -> None:
    ids = many_due(2_600, "kindness", NOW)
    set_status(ids[:2_500], DeliveryStatus.FAILED)
    set_status(ids[2_500:], DeliveryStatus.UNKNOWN)
    later = NOW + timedelta(minutes=5)
    assert retry.retry_all(DeliveryStatus.FAILED, later) == 2_500
    sends = queued_sends(settings)
    assert [len(send) for send in sends] == [1_000, 1_000, 500]
    assert sorted(i for send in sends for i in send) == ids[:2_500]
    with session_scope() as session:
        rows = session.execute(select(Delivery.id, Delivery.status))
        statuses = {row.id: row.status for row in rows}
    assert {statuses[i] for i in ids[:2_500]} == {DeliveryStatus.QUEUED}
    assert {statuses[i] for i in ids[2_500:]} == {DeliveryStatus.UNKNOWN}
    assert retry.retry_all(DeliveryStatus.FAILED, later) == 0, "nothing is left to retry"


def test_retrying_all_leaves_what_failed_after_the_button_was_pressed(db: None) -> None:
    ids = many_due(3, "welcome", NOW)
    set_status(ids[:2], DeliveryStatus.FAILED, at=NOW)
    # As if a worker failed this one again while the others were being retried.
    set_status(ids[2:], DeliveryStatus.FAILED, at=NOW + timedelta(minutes=1))
    assert retry.retry_all(DeliveryStatus.FAILED, NOW, size=1) == 2
    assert status_of(ids[2]) is DeliveryStatus.FAILED


def test_in_doubt_deliveries_carry_a_warning_and_need_the_box_ticked(
    admin: FlaskClient, settings: Settings
) -> None:
    ids = many_due(2, "welcome", NOW)
    set_status(ids, DeliveryStatus.UNKNOWN, error="the request timed out")
    page = admin.get("/dashboard/failures?status=unknown").text
    assert "These may already have arrived" in page
    assert "second copy" in page
    form = {"csrf_token": form_token(admin), "status": "unknown"}
    refused = admin.post("/dashboard/failures/retry-all", data=form, follow_redirects=True)
    assert "Nothing was queued" in refused.text
    assert {status_of(i) for i in ids} == {DeliveryStatus.UNKNOWN}
    answer = admin.post("/dashboard/failures/retry-all", data={**form, "understood": "yes"})
    assert answer.status_code == 302
    assert {status_of(i) for i in ids} == {DeliveryStatus.QUEUED}
    assert queued_sends(settings) == [ids]


def test_a_retry_names_the_status_it_expects(admin: FlaskClient) -> None:
    [delivery_id] = many_due(1, "welcome", NOW)
    set_status([delivery_id], DeliveryStatus.UNKNOWN)
    # The page showed it failed; it has become unknown since: nothing moves.
    assert retry_button(admin, delivery_id, status="failed") == 302
    assert status_of(delivery_id) is DeliveryStatus.UNKNOWN
    set_status([delivery_id], DeliveryStatus.BOUNCED)
    assert retry_button(admin, delivery_id, status="bounced") == 302
    assert status_of(delivery_id) is DeliveryStatus.BOUNCED
    with pytest.raises(ValueError, match="not sent again"), session_scope() as session:
        retry.requeue(session, [delivery_id], DeliveryStatus.BOUNCED, NOW)


def test_a_viewer_sees_failures_but_no_retry_buttons_and_cannot_retry(
    viewer: FlaskClient,
) -> None:
    [delivery_id] = many_due(1, "welcome", NOW)
    set_status([delivery_id], DeliveryStatus.FAILED)
    page = viewer.get("/dashboard/failures")
    assert page.status_code == 200
    assert "refused" in page.text
    assert "Retry" not in page.text
    assert retry_button(viewer, delivery_id) == 403
    assert status_of(delivery_id) is DeliveryStatus.FAILED


@pytest.fixture
def worker(db: None) -> Iterator[Path]:
    with celery_worker("retry") as log:
        yield log


@pytest.mark.worker
def test_a_real_worker_sends_a_retried_delivery_once(
    admin: FlaskClient, worker: Path, catalog: Catalog, settings: Settings
) -> None:
    [delivery_id] = failed_by_the_provider(catalog, settings)
    form = {"csrf_token": form_token(admin), "status": "failed"}
    admin.post("/dashboard/failures/retry-all", data=form)
    admin.post("/dashboard/failures/retry-all", data=form)
    outbox.wait_for(
        lambda: status_of(delivery_id) is DeliveryStatus.SENT,
        WAIT,
        f"the retried delivery to be sent (worker log: {worker})",
    )
    assert len(outbox.messages(settings.outbox_dir)) == 1


# Suppressions


def suppress(*rows: tuple[str | None, str, datetime]) -> None:
    with session_scope() as session:
        for number, (email, reason, at) in enumerate(rows):
            address_hash = None if email else f"{number:064x}"
            session.add(
                Suppression(
                    email=email,
                    email_hash=address_hash,
                    reason=reason,
                    source="sendgrid",
                    created_at=at,
                )
            )


def test_suppressions_are_listed_newest_first_with_counts_by_reason(admin: FlaskClient) -> None:
    suppress(
        ("ann@example.org", "bounce", NOW),
        ("bob@example.org", "complaint", NOW + timedelta(minutes=1)),
        (None, "erased", NOW + timedelta(minutes=2)),
        ("cy@example.org", "bounce", NOW + timedelta(minutes=3)),
    )
    page = admin.get("/dashboard/suppressions")
    assert page.status_code == 200
    text = page.text
    assert text.index("cy@example.org") < text.index("erased reader (hash only)")
    assert text.index("erased reader (hash only)") < text.index("bob@example.org")
    assert text.index("bob@example.org") < text.index("ann@example.org")
    with session_scope() as session:
        counts = suppressions_report.reason_counts(session)
    assert counts == [("bounce", 2), ("complaint", 1), ("erased", 1)]


def test_an_empty_suppressions_list_says_so(admin: FlaskClient) -> None:
    assert "No address is suppressed." in admin.get("/dashboard/suppressions").text


def test_a_search_finds_addresses_by_their_start_in_any_case_and_takes_wildcards_literally(
    admin: FlaskClient,
) -> None:
    suppress(
        ("ann_lee@example.org", "bounce", NOW),
        ("annxlee@example.org", "bounce", NOW),
        ("Anna@example.org", "complaint", NOW),
        ("bob@example.org", "bounce", NOW),
        (None, "erased", NOW),
    )
    found = admin.get("/dashboard/suppressions?q=ANN").text
    assert all(address in found for address in ("ann_lee@", "annxlee@", "Anna@"))
    assert not any(other in found for other in ("bob@", "erased reader"))
    literal = admin.get("/dashboard/suppressions?q=ann_").text
    assert "ann_lee@" in literal
    assert "annxlee@" not in literal, "an underscore is not a wildcard"
    assert "No suppressed address starts with" in admin.get("/dashboard/suppressions?q=%25").text


def test_suppression_pages_follow_on_without_repeats(db: None) -> None:
    suppress(
        *[(f"r{n:02}@example.org", "bounce", NOW + timedelta(minutes=n // 3)) for n in range(17)]
    )
    seen: list[str | None] = []
    after = None
    with session_scope() as session:
        while True:
            page = suppressions_report.suppressions(session, "r", after, size=4)
            seen.extend(row.email for row in page.rows)
            if page.next is None:
                break
            after = page.next
    assert seen == [f"r{n:02}@example.org" for n in reversed(range(17))]


def test_a_reader_who_left_the_course_is_not_retried(db: None) -> None:
    ids = many_due(2, "welcome", NOW)
    set_status(ids, DeliveryStatus.FAILED)
    with session_scope() as session:
        session.execute(
            update(Enrollment)
            .where(
                Enrollment.subscriber_id
                == select(Delivery.subscriber_id).where(Delivery.id == ids[0]).scalar_subquery()
            )
            .values(state=EnrollmentState.CANCELLED)
        )
    assert retry.retry_all(DeliveryStatus.FAILED, NOW) == 1
    assert [status_of(i) for i in ids] == [DeliveryStatus.FAILED, DeliveryStatus.QUEUED]


def test_retrying_all_skips_readers_whose_address_bounced(db: None) -> None:
    [delivery_id] = many_due(1, "welcome", NOW)
    set_status([delivery_id], DeliveryStatus.FAILED)
    with session_scope() as session:
        session.execute(update(Subscriber).values(status=SubscriberStatus.BOUNCED))
    assert retry.retry_all(DeliveryStatus.FAILED, NOW) == 0

"""Readers and deliveries as CSV files: streamed a page at a time, filtered, and safe to
open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update
from werkzeug.test import TestResponse

from core.clock import utcnow
from core.db import session_scope
from core.models import Delivery, DeliveryStatus, Subscriber, SubscriberStatus
from courses.model import Catalog
from tasks import exports
from tests.support.readers import active_reader, many_due

READERS = "/dashboard/export/readers.csv"
DELIVERIES = "/dashboard/export/deliveries.csv"


def table(answer: TestResponse) -> list[dict[str, str]]:
    assert answer.status_code == 200, answer.text
    text = answer.get_data(as_text=True)
    assert text.startswith("\ufeff")  # so that spreadsheets read the file as UTF-8
    return list(csv.DictReader(io.StringIO(text[1:])))


def add_pending(email: str, **fields: object) -> int:
    with session_scope() as session:
        reader = Subscriber(email=email, status=SubscriberStatus.PENDING, **fields)
        session.add(reader)
        session.flush()
        return reader.id


def test_readers_come_as_an_attachment_with_their_courses(
    admin: FlaskClient, catalog: Catalog
) -> None:
    active_reader(catalog, utcnow(), email="ann@example.org", timezone="Europe/Paris")
    add_pending("bo@example.org", first_name="Bo", consent_source="hosted form")
    answer = admin.get(READERS)
    assert answer.mimetype == "text/csv"
    assert answer.is_streamed
    today = f"{utcnow():%Y-%m-%d}"
    assert answer.headers["Content-Disposition"] == (
        f'attachment; filename="tend-readers-{today}.csv"'
    )
    assert answer.headers["Cache-Control"] == "no-store"
    rows = table(answer)
    assert list(rows[0]) == list(exports.READER_COLUMNS)
    ann, bo = rows
    assert (ann["email"], ann["timezone"], ann["status"]) == (
        "ann@example.org",
        "Europe/Paris",
        "active",
    )
    assert ann["courses"] == "softening-sessions (active)"
    assert ann["confirmed_at"].startswith(today)
    assert (bo["first_name"], bo["status"], bo["consent_source"], bo["courses"]) == (
        "Bo",
        "pending",
        "hosted form",
        "",
    )


def test_cells_that_look_like_formulas_are_exported_as_text(admin: FlaskClient) -> None:
    add_pending(
        "eve@example.org",
        first_name='=HYPERLINK("https://evil.example","x")',
        consent_source="+import: @list",
    )
    (eve,) = table(admin.get(READERS))
    assert eve["first_name"] == '\'=HYPERLINK("https://evil.example","x")'
    assert eve["consent_source"] == "'+import: @list"
    assert eve["email"] == "eve@example.org"


def test_readers_filtered_by_status_and_by_the_day_they_came(admin: FlaskClient) -> None:
    old = datetime(2025, 1, 1, 12, tzinfo=UTC)
    add_pending("old@example.org", created_at=old)
    add_pending("new@example.org", created_at=old + timedelta(days=40))
    with session_scope() as session:
        session.add(Subscriber(email="gone@example.org", status=SubscriberStatus.UNSUBSCRIBED))
    emails = lambda answer: [row["email"] for row in table(answer)]  # noqa: E731
    assert emails(admin.get(READERS + "?status=pending")) == ["old@example.org", "new@example.org"]
    assert emails(admin.get(READERS + "?status=unsubscribed")) == ["gone@example.org"]
    assert emails(admin.get(READERS + "?since=2025-02-01&status=pending")) == ["new@example.org"]
    assert emails(admin.get(READERS + "?status=&since=")) == [
        "old@example.org",
        "new@example.org",
        "gone@example.org",
    ]


def test_deliveries_name_their_reader_lesson_and_error(admin: FlaskClient) -> None:
    now = utcnow()
    first, second = many_due(2, "00-welcome", now)
    with session_scope() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id == second)
            .values(status=DeliveryStatus.FAILED, attempts=3, last_error="-ERR mailbox full")
        )
    rows = table(admin.get(DELIVERIES))
    assert list(rows[0]) == list(exports.DELIVERY_COLUMNS)
    assert [
        (row["id"], row["email"], row["kind"], row["lesson"], row["status"]) for row in rows
    ] == [
        (str(first), "reader0@example.org", "lesson", "softening-sessions/00-welcome", "queued"),
        (str(second), "reader1@example.org", "lesson", "softening-sessions/00-welcome", "failed"),
    ]
    (failed,) = table(admin.get(DELIVERIES + "?status=failed"))
    assert (failed["attempts"], failed["last_error"]) == ("3", "'-ERR mailbox full")
    tomorrow = (now + timedelta(days=1)).date().isoformat()
    assert table(admin.get(DELIVERIES + f"?since={tomorrow}")) == []


def test_an_export_longer_than_a_page_has_every_row_once_in_order(admin: FlaskClient) -> None:
    count = exports.PAGE * 2 + 7
    many_due(count, "00-welcome", utcnow())
    readers = [row["email"] for row in table(admin.get(READERS))]
    assert readers == [f"reader{n}@example.org" for n in range(count)]
    deliveries = [int(row["id"]) for row in table(admin.get(DELIVERIES))]
    assert deliveries == sorted(set(deliveries))
    assert len(deliveries) == count


@pytest.mark.parametrize(
    "query",
    ["?status=everyone", "?since=yesterday", "?since=2025-13-01", "?status=<script>"],
)
def test_unknown_filters_are_refused_plainly(admin: FlaskClient, query: str) -> None:
    for path in (READERS, DELIVERIES):
        answer = admin.get(path + query)
        assert answer.status_code == 400
        assert answer.mimetype == "text/html"
        assert "<script>" not in answer.text


def test_a_viewer_may_export_and_no_one_else(viewer: FlaskClient, client: FlaskClient) -> None:
    assert table(viewer.get(READERS)) == []
    assert viewer.get(DELIVERIES).status_code == 200
    assert client.get(READERS).status_code == 302

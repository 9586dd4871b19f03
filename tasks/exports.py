"""CSV exports of readers and deliveries, for operators, streamed page by page.

Each page is read in its own short transaction, by keyset (`id > last`), and written out
before the next is read: an export of a million readers never holds them all in memory,
nor keeps a transaction open for the minutes a download can take (on SQLite every
transaction takes the write lock, see core/db.py, and the worker must not wait on it).

A cell that starts like a spreadsheet formula gets a leading apostrophe (CSV injection):
a name such as `=HYPERLINK(...)` then shows as text instead of running when the file is
opened in a spreadsheet.
"""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from core.db import among, session_scope
from core.models import Broadcast, Delivery, Enrollment, Subscriber

PAGE = 2000
# What a spreadsheet may read as the start of a formula (OWASP's list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Spreadsheets read a file without it as the local code page and garble non-ASCII names.
BOM = "\ufeff"

READER_COLUMNS = (
    "email",
    "first_name",
    "timezone",
    "status",
    "created_at",
    "confirmed_at",
    "unsubscribed_at",
    "consent_source",
    "courses",
)
DELIVERY_COLUMNS = (
    "id",
    "email",
    "kind",
    "lesson",
    "issue",
    "status",
    "attempts",
    "sent_at",
    "last_error",
)


@dataclass(frozen=True)
class Filters:
    """What to export: rows with this status (None: any), created on or after `since`."""

    status: str | None = None
    since: datetime | None = None


def safe_cell(value: object) -> str:
    """A value as CSV text that no spreadsheet will run as a formula."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        text = value.isoformat()
    elif isinstance(value, enum.Enum):
        text = str(value.value)
    else:
        text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(rows: Iterable[Sequence[object]]) -> str:
    """Rows as CSV lines (RFC 4180: quoted where needed, CRLF), every cell made safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows([safe_cell(cell) for cell in row] for row in rows)
    return buffer.getvalue()


def readers_csv(filters: Filters) -> Iterator[str]:
    """The readers as CSV, a page at a time, oldest first."""
    yield BOM + csv_text([READER_COLUMNS])
    after = 0
    while True:
        with session_scope() as session:
            rows = session.execute(_readers_page(filters, after)).all()
            courses = _courses_of(session, [row.id for row in rows])
        if not rows:
            return
        yield csv_text([*row[1:], courses.get(row.id, "")] for row in rows)
        after = rows[-1].id


def _readers_page(filters: Filters, after: int) -> Select[Any]:
    query = select(
        Subscriber.id,
        Subscriber.email,
        Subscriber.first_name,
        Subscriber.timezone,
        Subscriber.status,
        Subscriber.created_at,
        Subscriber.confirmed_at,
        Subscriber.unsubscribed_at,
        Subscriber.consent_source,
    )
    if filters.status:
        query = query.where(Subscriber.status == filters.status)
    if filters.since:
        query = query.where(Subscriber.created_at >= filters.since)
    return query.where(Subscriber.id > after).order_by(Subscriber.id).limit(PAGE)


def _courses_of(session: Session, reader_ids: list[int]) -> dict[int, str]:
    """Each reader's courses with their state, such as `softening-sessions (active)`: one
    query a page, on the (subscriber_id, course) unique index."""
    if not reader_ids:
        return {}
    query = (
        select(Enrollment.subscriber_id, Enrollment.course, Enrollment.state)
        .where(among(session, Enrollment.subscriber_id, reader_ids))
        .order_by(Enrollment.subscriber_id, Enrollment.course)
    )
    courses: dict[int, list[str]] = {}
    for reader_id, course, state in session.execute(query):
        courses.setdefault(reader_id, []).append(f"{course} ({state.value})")
    return {reader_id: "; ".join(names) for reader_id, names in courses.items()}


def deliveries_csv(filters: Filters) -> Iterator[str]:
    """Every delivery (lessons, issues, confirmations) as CSV, a page at a time."""
    yield BOM + csv_text([DELIVERY_COLUMNS])
    after = 0
    while True:
        with session_scope() as session:
            rows = session.execute(_deliveries_page(filters, after)).all()
        if not rows:
            return
        yield csv_text(_delivery_cells(row) for row in rows)
        after = rows[-1].id


def _deliveries_page(filters: Filters, after: int) -> Select[Any]:
    query = (
        select(
            Delivery.id,
            Subscriber.email,
            Delivery.kind,
            Enrollment.course,
            Delivery.lesson,
            Broadcast.issue,
            Delivery.status,
            Delivery.attempts,
            Delivery.sent_at,
            Delivery.last_error,
        )
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .outerjoin(Enrollment, Enrollment.id == Delivery.enrollment_id)
        .outerjoin(Broadcast, Broadcast.id == Delivery.broadcast_id)
    )
    if filters.status:
        query = query.where(Delivery.status == filters.status)
    if filters.since:
        query = query.where(Delivery.created_at >= filters.since)
    return query.where(Delivery.id > after).order_by(Delivery.id).limit(PAGE)


def _delivery_cells(row: Any) -> tuple[object, ...]:
    # A lesson is named with its course, as authors name it: `softening-sessions/01-...`.
    lesson = f"{row.course}/{row.lesson}" if row.course and row.lesson else row.lesson
    return (row.id, row.email, row.kind, lesson, row.issue, row.status, row.attempts,
            row.sent_at, row.last_error)  # fmt: skip

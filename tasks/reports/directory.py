"""The dashboard's list of readers: search by address or first name, filter by status,
list and course, a page at a time.

Pages are keyset-paginated on the reader's id, newest first: a page far down the list
costs what the first one does, with a million readers. Filters by list and course are
joins on their unique (reader, list) and (reader, course) rows, so they never repeat a
reader, and PostgreSQL may walk them in id order from an index and stop at a page.
Nothing here counts the whole filtered set: the count stops at COUNT_CAP.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select, true
from sqlalchemy.orm import Session

from core.models import Enrollment, Membership, Subscriber, SubscriberStatus

PAGE_SIZE = 50
COUNT_CAP = 1000
LIKE_ESCAPE = "\\"


@dataclass(frozen=True)
class ReaderFilter:
    """What the operator asked for; empty fields filter nothing."""

    query: str = ""
    status: SubscriberStatus | None = None
    list: str | None = None
    course: str | None = None


@dataclass(frozen=True)
class ReaderRow:
    id: int
    email: str
    first_name: str | None
    status: SubscriberStatus
    created_at: datetime
    confirmed_at: datetime | None


@dataclass(frozen=True)
class ReaderPage:
    rows: list[ReaderRow]
    # Keyset cursors: the id to pass as `after` (newer) or `before` (older), or None.
    newer: int | None
    older: int | None
    # How many readers match, counted up to COUNT_CAP; `more` when there are more.
    matching: int
    more: bool


def escape_like(text: str) -> str:
    """`text` as a LIKE pattern that matches itself only: % _ and \\ lose their meaning."""
    for special in (LIKE_ESCAPE, "%", "_"):
        text = text.replace(special, LIKE_ESCAPE + special)
    return text


def search(
    session: Session,
    wanted: ReaderFilter,
    *,
    before: int | None = None,
    after: int | None = None,
    size: int = PAGE_SIZE,
) -> ReaderPage:
    """One page of matching readers, newest first: those older than `before`, or newer
    than `after`, or the newest of all."""
    matching, more = count_matching(session, wanted)
    forward = after is not None
    cursor = Cursor(after, forward=True) if forward else Cursor(before, forward=False)
    order = Subscriber.id.asc() if forward else Subscriber.id.desc()
    query = _matching(select(*_COLUMNS), wanted, cursor).order_by(order).limit(size + 1)
    found = [ReaderRow(*row) for row in session.execute(query)]
    rows = found[:size]
    if forward:
        rows.reverse()
        newer_left, older_left = len(found) > size, True
    else:
        newer_left, older_left = before is not None, len(found) > size
    return ReaderPage(
        rows=rows,
        newer=rows[0].id if rows and newer_left else None,
        older=rows[-1].id if rows and older_left else None,
        matching=matching,
        more=more,
    )


def count_matching(
    session: Session, wanted: ReaderFilter, cap: int = COUNT_CAP
) -> tuple[int, bool]:
    """How many readers match, up to `cap`; and whether there are more than that."""
    capped = _matching(select(Subscriber.id), wanted, Cursor()).limit(cap + 1).subquery()
    found = session.scalar(select(func.count()).select_from(capped)) or 0
    return min(found, cap), found > cap


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: after (forward) or before this reader id; None, the start."""

    id: int | None = None
    forward: bool = False

    def bound(self, column: ColumnElement[int]) -> ColumnElement[bool]:
        if self.id is None:
            return true()
        return column > self.id if self.forward else column < self.id


_COLUMNS = (
    Subscriber.id,
    Subscriber.email,
    Subscriber.first_name,
    Subscriber.status,
    Subscriber.created_at,
    Subscriber.confirmed_at,
)


def _matching(query: Select[Any], wanted: ReaderFilter, cursor: Cursor) -> Select[Any]:
    # The cursor bounds each joined table's reader id too: PostgreSQL carries equality
    # across a join but not an inequality, and without it would walk a million-row
    # index from its end down to the page.
    query = query.select_from(Subscriber).where(cursor.bound(Subscriber.id))
    text = wanted.query.strip().lower()
    if text:
        query = query.where(_text_matches(text))
    if wanted.status is not None:
        query = query.where(Subscriber.status == wanted.status)
    if wanted.list:
        # Readers on the list now; (reader, list) is unique, so the join adds no rows.
        query = query.join(
            Membership,
            (Membership.subscriber_id == Subscriber.id)
            & (Membership.list == wanted.list)
            & Membership.left_at.is_(None)
            & cursor.bound(Membership.subscriber_id),
        )
    if wanted.course:
        # Readers who ever started the course, in any state; (reader, course) is unique.
        query = query.join(
            Enrollment,
            (Enrollment.subscriber_id == Subscriber.id)
            & (Enrollment.course == wanted.course)
            & cursor.bound(Enrollment.subscriber_id),
        )
    return query


def _text_matches(text: str) -> ColumnElement[bool]:
    """Addresses that begin with the text, or first names that do (both ignoring case).
    With an @ the text can only be an address, and one index serves the whole search."""
    pattern = escape_like(text) + "%"
    address = func.lower(Subscriber.email).like(pattern, escape=LIKE_ESCAPE)
    if "@" in text:
        return address
    name = func.lower(Subscriber.first_name).like(pattern, escape=LIKE_ESCAPE)
    return or_(address, name)

"""Suppressed addresses, newest first, a page at a time, with counts by reason.

Rows of erased readers hold only a keyed hash of the address: they are listed, never
found by a search, and never shown as anything but "erased reader".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import Suppression
from tasks.reports.failures import Cursor, Page, older_than

PAGE_SIZE = 50
LIKE_ESCAPE = "\\"


@dataclass(frozen=True)
class SuppressionRow:
    id: int
    email: str | None  # None: an erased reader's, kept only as a hash
    reason: str
    source: str | None
    created_at: datetime


def reason_counts(session: Session) -> list[tuple[str, int]]:
    """(reason, how many), most common first."""
    count = func.count().label("count")
    query = (
        select(Suppression.reason, count)
        .group_by(Suppression.reason)
        .order_by(count.desc(), Suppression.reason)
    )
    return [(reason, number) for reason, number in session.execute(query)]


def suppressions(
    session: Session, prefix: str = "", after: Cursor | None = None, size: int = PAGE_SIZE
) -> Page[SuppressionRow]:
    """One page of suppressions, newest first; only addresses starting with `prefix`
    (any case) when it is given."""
    query = select(
        Suppression.id,
        Suppression.email,
        Suppression.reason,
        Suppression.source,
        Suppression.created_at,
    ).where(older_than(after, Suppression.created_at, Suppression.id))
    if prefix:
        pattern = like_escape(prefix.strip().lower()) + "%"
        query = query.where(func.lower(Suppression.email).like(pattern, escape=LIKE_ESCAPE))
    query = query.order_by(Suppression.created_at.desc(), Suppression.id.desc()).limit(size + 1)
    rows = [SuppressionRow(*values) for values in session.execute(query)]
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows, Cursor(rows[-1].created_at, rows[-1].id) if more else None)


def like_escape(text: str) -> str:
    """`text` matched literally by LIKE: its wildcards and the escape character escaped."""
    for special in (LIKE_ESCAPE, "%", "_"):
        text = text.replace(special, LIKE_ESCAPE + special)
    return text

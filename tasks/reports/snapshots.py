"""Report snapshots: the dashboard's heavy reports, computed in the background, read by the
pages as one row.

At a million readers and ten million deliveries the overview, the calendar, a course's
funnel and the issues aggregate millions of rows: seconds of database time, too slow for a
page and pointless to repeat for every operator who opens it. Beat runs `refresh_all`
every TEND_REPORTS_EVERY seconds (tasks.jobs.refresh_reports); a page reads the latest
snapshot with `read`, which computes on the spot only when there is none young enough (a
fresh install, a test, a beat that stopped): small data, or an honest slow page.

A snapshot is stored as JSON. The reports' results are dataclasses holding dates,
datetimes, enums and dicts keyed by them; `to_json` tags each of those and `from_json`
builds them back, for the classes named in SNAPSHOT_CLASSES only. Fields that hold
database rows or catalog objects (the overview's switch, a funnel's course) are left out
and filled in by the page, which has them at hand.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.db import is_postgresql
from core.models import (
    BroadcastWave,
    DeliveryStatus,
    ReportSnapshot,
    SubscriberStatus,
)
from courses.model import Catalog
from tasks.reports import forward, funnel, issues, overview

log = logging.getLogger(__name__)

Compute = Callable[[Session], Any]
SessionFactory = Callable[[], AbstractContextManager[Session]]

# Every class a snapshot may hold, by name: nothing else is built back from JSON.
SNAPSHOT_CLASSES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        overview.Overview,
        overview.Rate,
        overview.Threshold,
        overview.ReaderSeries,
        forward.Forward,
        forward.Grid,
        forward.IssuePlan,
        funnel.CourseCounts,
        funnel.Step,
        funnel.Funnel,
        issues.Counts,
        issues.IssueRow,
        issues.IssuePage,
        issues.Totals,
        DeliveryStatus,
        SubscriberStatus,
    )
}
# Fields left out of a snapshot: rows and catalog objects the page fills in itself.
LEFT_OUT: dict[type, frozenset[str]] = {
    overview.Overview: frozenset({"switch"}),
    funnel.Funnel: frozenset({"course"}),
}


# -- JSON ------------------------------------------------------------------------------


def to_json(value: Any) -> Any:
    """A report's result as plain JSON, each date, datetime, enum and dataclass tagged."""
    if isinstance(value, enum.Enum):  # before str: a StrEnum is a str too
        return {"~enum": type(value).__name__, "v": value.value}
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):  # before date: a datetime is a date too
        return {"~dt": value.isoformat()}
    if isinstance(value, date):
        return {"~d": value.isoformat()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        skip = LEFT_OUT.get(type(value), frozenset())
        fields = {
            f.name: to_json(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.name not in skip
        }
        return {"~dc": type(value).__name__, "f": fields}
    if isinstance(value, dict):
        return {"~map": [[to_json(key), to_json(item)] for key, item in value.items()]}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    raise TypeError(f"a report snapshot cannot hold {type(value).__name__}")


def from_json(value: Any) -> Any:
    """What `to_json` made, built back."""
    if isinstance(value, list):
        return [from_json(item) for item in value]
    if not isinstance(value, dict):
        return value
    if "~dt" in value:
        return datetime.fromisoformat(value["~dt"])
    if "~d" in value:
        return date.fromisoformat(value["~d"])
    if "~map" in value:
        return {_key(from_json(key)): from_json(item) for key, item in value["~map"]}
    if "~enum" in value:
        return _class(value["~enum"])(value["v"])
    if "~dc" in value:
        cls = _class(value["~dc"])
        fields = {name: from_json(item) for name, item in value["f"].items()}
        for name in LEFT_OUT.get(cls, ()):
            fields[name] = None
        return cls(**fields)
    raise ValueError("not a report snapshot's JSON")


def _key(key: Any) -> Any:
    # JSON has no tuples: a list key came from a tuple.
    return tuple(key) if isinstance(key, list) else key


def _class(name: str) -> Any:
    try:
        return SNAPSHOT_CLASSES[name]
    except KeyError:
        raise ValueError(f"a report snapshot names an unknown class {name!r}") from None


# -- reading and storing ---------------------------------------------------------------


def max_age(every_seconds: int) -> timedelta:
    """How old a snapshot a page takes: two refresh periods, so a page never computes
    while beat keeps up, even when a refresh itself takes a while."""
    return timedelta(seconds=2 * every_seconds)


def read(
    session: Session, name: str, compute: Compute, max_age: timedelta, now: datetime
) -> tuple[Any, datetime]:
    """The snapshot `name` and when it was computed; computed now and stored when there is
    none younger than `max_age`."""
    found = session.get(ReportSnapshot, name)
    if found is not None and now - found.computed_at <= max_age:
        return from_json(found.data), found.computed_at
    return refresh(session, name, compute, now)


def refresh(session: Session, name: str, compute: Compute, now: datetime) -> tuple[Any, datetime]:
    """Compute the report now and store it as the snapshot `name`."""
    started = time.perf_counter()
    data = to_json(compute(session))
    seconds = time.perf_counter() - started
    store(session, name, data, now, seconds)
    log.info(
        "report %s computed in %.3f s",
        name,
        seconds,
        extra={"report": name, "seconds": round(seconds, 3)},
    )
    # Built back from JSON, as a page reading the stored snapshot would see it.
    return from_json(data), now


def store(session: Session, name: str, data: Any, now: datetime, seconds: float) -> None:
    """Insert or replace the snapshot (two refreshes at once: the last one wins)."""
    dialect = postgresql if is_postgresql(session) else sqlite
    values = {"name": name, "computed_at": now, "seconds": seconds, "data": data}
    statement = dialect.insert(ReportSnapshot).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[ReportSnapshot.name],
        set_={key: statement.excluded[key] for key in ("computed_at", "seconds", "data")},
    )
    session.execute(statement)
    session.expire_all()  # a snapshot read earlier in this session is stale now


# -- the heavy reports -----------------------------------------------------------------


def compute_for(name: str, catalog: Catalog, now: datetime) -> Compute | None:
    """How to compute the report a snapshot name stands for; None for an unknown name."""
    kind, _, arg = name.partition(":")
    if name == "overview":
        return lambda session: overview.overview(session, now)
    if name == "calendar":
        return lambda session: forward.forward(session, catalog, now)
    if name == "courses":
        return lambda session: funnel.course_counts(session, catalog.courses)
    if kind == "funnel" and arg in catalog.courses:
        course = catalog.courses[arg]
        return lambda session: funnel.funnel(session, course)
    if name == "issues":
        return lambda session: issues.issues(session, 1)
    if kind == "issues" and arg.isdigit() and 0 < len(arg) < 7:
        return lambda session: issues.issues(session, int(arg))
    if kind == "issue" and arg.isdigit() and 0 < len(arg) < 19:
        return lambda session: issues.totals(session, int(arg))
    return None


def heavy_names(session: Session, catalog: Catalog) -> list[str]:
    """Every snapshot refresh_all keeps fresh: the overview, the calendar, the courses,
    each course's funnel, the first page of issues, and each issue still going out."""
    going_out = session.scalars(
        select(BroadcastWave.broadcast_id)
        .where(BroadcastWave.finished_at.is_(None))
        .distinct()
        .order_by(BroadcastWave.broadcast_id)
    )
    return [
        "overview",
        "calendar",
        "courses",
        *(f"funnel:{slug}" for slug in catalog.courses),
        "issues",
        *(f"issue:{broadcast_id}" for broadcast_id in going_out),
    ]


def refresh_all(
    session_factory: SessionFactory, catalog: Catalog, now: datetime
) -> dict[str, float]:
    """Recompute every heavy report, each in its own transaction (a long one would hold
    SQLite's write lock, and one failing report should not cost the others). Returns the
    seconds each took; a report that failed is logged and left out."""
    with session_factory() as session:
        names = heavy_names(session, catalog)
    took: dict[str, float] = {}
    for name in names:
        compute = compute_for(name, catalog, now)
        if compute is None:  # a course removed between the two reads
            continue
        started = time.perf_counter()
        try:
            with session_factory() as session:
                refresh(session, name, compute, now)
        except Exception:
            log.exception("report %s could not be refreshed; its page shows the last one", name)
            continue
        took[name] = time.perf_counter() - started
    return took

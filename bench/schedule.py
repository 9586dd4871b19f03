"""The tick against a large database: a million active enrollments.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test python bench/schedule.py

It empties Tend's tables in that database, fills them with `--readers` active readers
(1,000,000 by default), each enrolled in the demo course and due at some point in the
coming weeks, then times a tick with nothing due, and a tick with `--due` (10,000)
enrollments due: claim, write deliveries, advance. It prints the peak memory of the
process. Without DATABASE_URL it uses SQLite in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import TextClause, bindparam, text

from core.config import get_settings
from core.db import get_engine
from core.migrate import upgrade
from core.models import Base
from core.types import UTCDateTime
from tasks import schedule
from tasks.catalog import get_catalog

# An instant after the morning send time in each of ZONES, so every due lesson may go.
NOW = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)
ZONES = ["Europe/Paris", "America/New_York", "Asia/Tokyo", "UTC", "America/Chicago"]


def fill(readers: int, due: int) -> None:
    """Readers and enrollments made by the database itself, in a few statements."""
    engine = get_engine()
    upgrade(get_settings().database)
    postgres = engine.dialect.name == "postgresql"
    tables = [table.name for table in Base.metadata.sorted_tables]
    with engine.begin() as connection:
        if postgres:  # TRUNCATE leaves no dead rows behind to slow the next run
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())
    numbers = "generate_series(1, :n) AS n" if postgres else _sqlite_series()
    zone = (
        "(ARRAY[" + ",".join(f"'{z}'" for z in ZONES) + "])[1 + n % 5]"
        if postgres
        else _sqlite_zone()
    )
    started = NOW - timedelta(days=14)
    with engine.begin() as connection:
        connection.execute(
            stamped(
                "INSERT INTO subscribers (id, uid, email, timezone, status, created_at) "
                f"SELECT n, 'uid-' || n, 'r' || n || '@example.org', {zone}, 'active', :at "
                f"FROM {numbers}"
            ),
            {"n": readers, "at": started},
        )
        # The first `due` readers are due now (their second lesson); the rest over the
        # coming weeks.
        connection.execute(
            stamped(
                "INSERT INTO enrollments (subscriber_id, course, state, started_at, position, "
                "round, next_due_at) "
                "SELECT n, 'softening-sessions', 'active', :started, 1, 1, "
                f"CASE WHEN n <= :due THEN :now ELSE {_later('n', postgres)} END FROM {numbers}"
            ),
            {"n": readers, "due": due, "started": started, "now": NOW},
        )
    with engine.begin() as connection:
        # Each of them had the welcome: the tick reads what a reader has had.
        connection.execute(
            stamped(
                "INSERT INTO deliveries (kind, subscriber_id, enrollment_id, lesson, round, "
                "status, attempts, created_at, updated_at, sent_at) "
                "SELECT 'lesson', subscriber_id, id, 'welcome', 1, 'sent', 1, :started, "
                ":started, :started FROM enrollments"
            ),
            {"started": started},
        )
    if postgres:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))


def stamped(sql: str) -> TextClause:
    """A statement whose timestamps are stored as the models store them."""
    names = [name for name in ("at", "started", "now") if f":{name}" in sql]
    return text(sql).bindparams(*(bindparam(name, type_=UTCDateTime()) for name in names))


def _later(column: str, postgres: bool) -> str:
    if postgres:
        return f"(:now + ((1 + {column} % 40000) * interval '1 minute'))"
    # In the text form every other timestamp has (core.types.UTCDateTime's).
    return f"strftime('%Y-%m-%d %H:%M:%f000', :now, '+' || (1 + {column} % 40000) || ' minutes')"


def _sqlite_series() -> str:
    return (
        "(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < :n) "
        "SELECT n FROM s)"
    )


def _sqlite_zone() -> str:
    cases = " ".join(f"WHEN {i} THEN '{z}'" for i, z in enumerate(ZONES))
    return f"CASE n % 5 {cases} END"


def timed_tick(now: datetime) -> tuple[float, schedule.TickReport]:
    started = time.perf_counter()
    report = schedule.tick(get_catalog(), now, daily_cap=1)
    return time.perf_counter() - started, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readers", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=10_000)
    arguments = parser.parse_args()
    os.environ.setdefault("TEND_DATA_DIR", tempfile.mkdtemp(prefix="tend-bench-"))

    started = time.perf_counter()
    fill(arguments.readers, arguments.due)
    print(f"database: {get_engine().dialect.name}, {arguments.readers:,} active enrollments "
          f"(filled in {time.perf_counter() - started:.1f} s)")  # fmt: skip

    timed_tick(NOW - timedelta(minutes=2))  # loads the courses, opens connections
    idle, _ = timed_tick(NOW - timedelta(minutes=1))
    busy, report = timed_tick(NOW)
    claimed = (report.claimed, report.deferred, report.capped)
    assert report.claimed == arguments.due, f"claimed, deferred, capped: {claimed}"
    again, _ = timed_tick(NOW + timedelta(seconds=30))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"tick with nothing due:        {idle * 1e3:8.1f} ms")
    rate = arguments.due / busy
    print(f"tick with {arguments.due:,} due:        {busy:8.3f} s  ({rate:,.0f} claims/s)")
    print(f"the next tick (nothing due):  {again * 1e3:8.1f} ms")
    print(f"peak memory of this process:  {peak:8.0f} MB")


if __name__ == "__main__":
    main()

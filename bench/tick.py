"""How fast the tick claims due lessons.

    python bench/tick.py [readers]

Uses DATABASE_URL if set (it empties that database's Tend tables), else a fresh SQLite
file in a temporary folder. Prints enrollments claimed per second, and the ratio of a
tick with everything due to a tick with nothing due, measured in one run.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from core.config import get_settings
from core.db import get_engine
from core.migrate import upgrade
from core.models import Base, Delivery, Enrollment, Subscriber
from tasks import schedule
from tasks.catalog import get_catalog

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # 09:00 in Berlin, inside the send window


def prepare(readers: int) -> None:
    upgrade(get_settings().database)
    with get_engine().begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
        connection.execute(
            insert(Subscriber),
            [
                {
                    "id": n,
                    "uid": f"uid-{n}",
                    "email": f"r{n}@example.org",
                    "status": "active",
                    "timezone": "Europe/Berlin",
                    "created_at": START,
                }
                for n in range(1, readers + 1)
            ],
        )
        connection.execute(
            insert(Enrollment),
            [
                {
                    "id": n,
                    "subscriber_id": n,
                    "course": "softening-sessions",
                    "state": "active",
                    # Each had the welcome and is due the second lesson.
                    "position": 1,
                    "started_at": START - timedelta(days=14),
                    "next_due_at": START,
                }
                for n in range(1, readers + 1)
            ],
        )
        connection.execute(
            insert(Delivery),
            [
                {
                    "kind": "lesson",
                    "subscriber_id": n,
                    "enrollment_id": n,
                    "lesson": "welcome",
                    "round": 1,
                    "status": "sent",
                    "attempts": 1,
                    "created_at": START - timedelta(days=14),
                    "updated_at": START - timedelta(days=14),
                }
                for n in range(1, readers + 1)
            ],
        )


def main(readers: int) -> None:
    # Settings are read on first use, so this still decides where SQLite goes.
    os.environ.setdefault("TEND_DATA_DIR", tempfile.mkdtemp(prefix="tend-bench-"))
    catalog = get_catalog()
    prepare(readers)
    started = time.perf_counter()
    report = schedule.tick(catalog, START + timedelta(minutes=1))
    busy = time.perf_counter() - started
    assert report.claimed == readers, report
    started = time.perf_counter()
    schedule.tick(catalog, START + timedelta(minutes=2))
    idle = time.perf_counter() - started
    print(f"database: {get_engine().dialect.name}, readers due: {readers}")
    print(f"tick with all due:   {busy:8.3f} s  ({readers / busy:8.0f} claims/s)")
    print(f"tick with none due:  {idle * 1e3:8.3f} ms")
    print(f"ratio busy / idle:   {busy / idle:8.0f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)

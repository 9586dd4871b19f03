"""How fast the operators' dashboard answers with a million readers and ten million
deliveries on PostgreSQL.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/bench_dashboard \\
    REDIS_URL=redis://127.0.0.1:6379/10 TEND_BASE_URL=http://127.0.0.1:5000 \\
    TEND_SECRET_KEY=<40 characters> \\
        python bench/dashboard.py [--readers 1000000] [--deliveries 10000000] [--reuse]

It empties Tend's tables in the database it is given and seeds them with COPY
(bench/seed.py: readers over two years, the demo course, the newsletter's issues,
confirmations, provider events, suppressions); `--reuse` keeps a database seeded by an
earlier run (it still runs the migrations, so a new index is built and measured).

Then, in this process, through Flask's test client and logged in as an admin: each
dashboard page (the overview, a course's funnel, reader searches, a reader's page, and
every other GET page the blueprint has whose arguments it can fill) is asked once to
warm up, then `--requests` times (20; 3 for a page that takes over 2 s); printed: the
status, p50, p95 and max of the server time (time.perf_counter around each request) and
the CPU time of this process, against the aim of 300 ms. The last request of each page
has every SQL statement timed: its slowest statements are printed, and EXPLAIN (ANALYZE,
BUFFERS) of the slowest SELECT when it takes more than `--explain-over` ms: that is where
a page misses an index. PostgreSQL only.

Before the pages are timed, the heavy reports' snapshots are refreshed once, as beat does
every TEND_REPORTS_EVERY seconds (tasks/reports/snapshots.py), so the pages are timed as
operators see them; the time each refresh takes is printed: that is the cost now, paid in
the background.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # bench.seed and the tests' form helper

from flask import Flask, got_request_exception  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402
from sqlalchemy import Engine, event, func, select, text  # noqa: E402

from bench.seed import COURSE, Shape, seed  # noqa: E402
from core.clock import utcnow  # noqa: E402
from core.config import get_settings  # noqa: E402
from core.db import get_engine, session_scope  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from core.models import Broadcast, Delivery, OperatorRole, Subscriber  # noqa: E402
from tasks.catalog import get_catalog  # noqa: E402
from tasks.operators import create_operator, find_operator, set_password  # noqa: E402
from tasks.reports.snapshots import refresh_all  # noqa: E402
from tests.support.web import csrf_token  # noqa: E402

AIM_MS = 300.0
OPERATOR = "bench@example.org"
# A new password each run: the operator stays in the database between runs.
PASSWORD = secrets.token_urlsafe(24)
# GET pages not worth timing here: streams of the whole table, files on disk, uploads.
SKIPPED_ENDPOINTS = {"dashboard.login", "dashboard.outbox", "dashboard.outbox_letter"}
SKIPPED_WORDS = ("export", "import/")
SLOW_SECONDS, SLOW_REQUESTS = 2.0, 3


@dataclass
class Timing:
    label: str
    path: str
    statuses: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # of this process: rendering, Python
    error: str | None = None
    statements: list[tuple[float, str, Any]] = field(default_factory=list)

    @property
    def p50(self) -> float:
        return statistics.median(self.seconds) * 1e3

    @property
    def p95(self) -> float:
        if len(self.seconds) < 2:
            return self.max
        return statistics.quantiles(self.seconds, n=20, method="inclusive")[18] * 1e3

    @property
    def cpu_p50(self) -> float:
        return statistics.median(self.cpu) * 1e3

    @property
    def max(self) -> float:
        return max(self.seconds) * 1e3

    @property
    def status(self) -> str:
        found = sorted(set(self.statuses))
        return "/".join(str(code) for code in found)

    @property
    def verdict(self) -> str:
        if set(self.statuses) != {200}:
            return "not 200"
        return "yes" if self.p95 < AIM_MS else "NO"


# -- the database ----------------------------------------------------------------------


def seeded_readers() -> int:
    """About how many readers the database holds (the planner's estimate: instant)."""
    with session_scope() as session:
        estimate = session.execute(
            text("SELECT reltuples::bigint FROM pg_class WHERE relname = 'subscribers'")
        ).scalar()
        if not estimate or estimate < 0:
            return session.scalars(select(func.count()).select_from(Subscriber)).one()
        return int(estimate)


def prepare(options: argparse.Namespace) -> None:
    database = get_settings().database
    if options.reuse and seeded_readers() > 0:
        started = time.perf_counter()
        upgrade(database)
        print(f"reusing the seeded database (about {seeded_readers():,} readers); "
              f"migrations checked in {time.perf_counter() - started:.1f} s")  # fmt: skip
        return
    shape = Shape(readers=options.readers, deliveries=options.deliveries, events=options.events)
    print(f"seeding {shape.readers:,} readers and {shape.deliveries:,} deliveries with COPY")
    result = seed(database, shape, get_catalog())
    print("seeded:")
    for name, count in result.counts.items():
        print(f"  {name:<26} {count:>12,}")
    for step, seconds in result.seconds.items():
        print(f"  {step:<26} {seconds:>9.1f} s")
    print(f"  {'total':<26} {result.total_seconds:>9.1f} s")
    print(f"  {'of which CPU of Python':<26} {result.cpu_seconds:>9.1f} s")


@dataclass(frozen=True)
class Samples:
    """What the pages are asked about: real values from the seeded data."""

    reader_id: int  # a reader with many deliveries
    deliveries: int
    prefix: str  # the start of some addresses
    name: str  # a first name many readers share
    address: str  # one reader's whole address
    broadcast_id: int | None  # the newest issue


def samples() -> Samples:
    with session_scope() as session:
        # Among the earliest readers (the index on subscriber_id keeps this cheap), the
        # one with the most deliveries: confirmation, every lesson and every issue.
        busiest = session.execute(
            select(Delivery.subscriber_id, func.count())
            .where(Delivery.subscriber_id <= 20_000)
            .group_by(Delivery.subscriber_id)
            .order_by(func.count().desc(), Delivery.subscriber_id)
            .limit(1)
        ).first()
        if busiest is None:
            raise SystemExit("the database has no deliveries: seed it first (without --reuse)")
        reader = session.get(Subscriber, busiest[0])
        assert reader is not None
        named = session.scalars(
            select(Subscriber.first_name)
            .where(Subscriber.first_name.is_not(None), Subscriber.id <= 1000)
            .limit(1)
        ).first()
        newest = session.scalars(select(func.max(Broadcast.id))).one()
    local = reader.email.split("@")[0]
    return Samples(
        reader_id=reader.id,
        deliveries=busiest[1],
        prefix=local.split(".")[0] + "." + local.split(".")[1][:2],
        name=named or "Maria",
        address=reader.email,
        broadcast_id=newest,
    )


def operator_client(app: Flask) -> FlaskClient:
    """A test client logged in as an admin, through the login form as a browser would."""
    with session_scope() as session:
        operator = find_operator(session, OPERATOR)
        if operator is None:
            create_operator(session, OPERATOR, PASSWORD, OperatorRole.ADMIN, utcnow())
        else:
            set_password(operator, PASSWORD)
            operator.failed_logins, operator.locked_until = 0, None
    client = app.test_client()
    form = {"csrf_token": csrf_token(client, "/dashboard/login"), "email": OPERATOR}
    answer = client.post("/dashboard/login", data={**form, "password": PASSWORD})
    if answer.status_code != 302:
        raise SystemExit(f"could not log in to the dashboard: {answer.status_code}")
    return client


# -- the pages -------------------------------------------------------------------------


def pages(app: Flask, found: Samples) -> list[tuple[str, str]]:
    """(label, path) of every page to time: the four the aim names, then each other GET
    page of the dashboard whose arguments can be filled from the seeded data."""
    chosen = [
        ("overview", "/dashboard/"),
        ("course funnel", f"/dashboard/courses/{COURSE}"),
        (f"reader search, address prefix {found.prefix!r}", f"/dashboard/readers?q={found.prefix}"),
        (f"reader search, first name {found.name!r}", f"/dashboard/readers?q={found.name}"),
        ("reader search, one whole address", f"/dashboard/readers?q={found.address}"),
        ("readers, complained only", "/dashboard/readers?status=complained"),
        (f"reader's page ({found.deliveries} deliveries)", f"/dashboard/readers/{found.reader_id}"),
    ]
    fillers: dict[str, object] = {"reader_id": found.reader_id, "slug": COURSE}
    if found.broadcast_id is not None:
        fillers["broadcast_id"] = found.broadcast_id
    seen = {path.split("?")[0] for _, path in chosen}
    with app.test_request_context():
        from flask import url_for

        for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
            if not rule.rule.startswith("/dashboard") or "GET" not in (rule.methods or ()):
                continue
            if rule.endpoint in SKIPPED_ENDPOINTS or any(w in rule.rule for w in SKIPPED_WORDS):
                continue
            if not set(rule.arguments) <= set(fillers):
                continue
            path = url_for(rule.endpoint, **{name: fillers[name] for name in rule.arguments})
            if path not in seen:
                seen.add(path)
                chosen.append((rule.endpoint.removeprefix("dashboard."), path))
    return chosen


@contextmanager
def statements(engine: Engine) -> Iterator[list[tuple[float, str, Any]]]:
    """Every SQL statement run meanwhile, with its time: (seconds, SQL, parameters)."""
    found: list[tuple[float, str, Any]] = []

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def after(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        started = conn.info["bench_started"].pop()
        found.append((time.perf_counter() - started, statement, parameters))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield found
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def measure(
    client: FlaskClient, label: str, path: str, requests: int, errors: list[BaseException]
) -> Timing:
    """Warm once, then time `requests` requests (only SLOW_REQUESTS of a page slower than
    SLOW_SECONDS: the figure is clear by then); the last one also records its SQL."""
    timing = Timing(label, path)
    errors.clear()
    started = time.perf_counter()
    client.get(path)  # warm: templates compiled, statements prepared, pages cached
    if time.perf_counter() - started > SLOW_SECONDS:
        requests = min(requests, SLOW_REQUESTS)
    for number in range(1, requests + 1):
        with statements(get_engine()) as seen:
            started, cpu = time.perf_counter(), time.process_time()
            answer = client.get(path)
            timing.seconds.append(time.perf_counter() - started)
            timing.cpu.append(time.process_time() - cpu)
        timing.statuses.append(answer.status_code)
        if number == requests:
            timing.statements = seen
    if errors:
        timing.error = f"{type(errors[-1]).__name__}: {errors[-1]}".splitlines()[0][:200]
    return timing


def explain(statement: str, parameters: Any) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of a SELECT, run with the parameters it ran with, in a
    transaction rolled back after."""
    raw = get_engine().raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        raw.rollback()
        return plan
    finally:
        raw.close()


def one_line(statement: str, width: int = 150) -> str:
    flat = " ".join(statement.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def report(timings: list[Timing], explain_over: float, markdown: bool) -> None:
    width = max(len(timing.label) for timing in timings)
    print(f"\n{'page':<{width}}  {'status':>7} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} "
          f"{'CPU p50':>8}  under {AIM_MS:.0f} ms")  # fmt: skip
    for t in timings:
        print(f"{t.label:<{width}}  {t.status:>7} {t.p50:>8.1f} {t.p95:>8.1f} {t.max:>8.1f} "
              f"{t.cpu_p50:>8.1f}  {t.verdict}")  # fmt: skip
    if markdown:
        print("\n| page | path | status | p50 | p95 | max | CPU p50 | under 300 ms |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for t in timings:
            print(f"| {t.label} | `{t.path}` | {t.status} | {t.p50:.0f} ms | {t.p95:.0f} ms | "
                  f"{t.max:.0f} ms | {t.cpu_p50:.0f} ms | {t.verdict} |")  # fmt: skip
    print("\nSQL of the last timed request of each page (slowest statements first):")
    for t in timings:
        total = sum(seconds for seconds, _, _ in t.statements) * 1e3
        print(f"\n{t.label}  {t.path}")
        print(f"  {len(t.statements)} statements, {total:.1f} ms in SQL")
        if t.error:
            print(f"  error: {t.error}")
        slowest = sorted(t.statements, key=lambda found: found[0], reverse=True)
        for seconds, statement, _ in slowest[:3]:
            print(f"  {seconds * 1e3:8.1f} ms  {one_line(statement)}")
        selects = [s for s in slowest if s[1].lstrip().upper().startswith(("SELECT", "WITH"))]
        if selects and selects[0][0] * 1e3 > explain_over:
            _, statement, parameters = selects[0]
            try:
                plan = explain(statement, parameters)
            except Exception as error:  # a plan is a hint; its failure should not end the run
                plan = f"(EXPLAIN failed: {error})"
            print("  EXPLAIN (ANALYZE, BUFFERS) of the slowest SELECT:")
            print("\n".join("    " + line for line in plan.splitlines()))


def refresh_reports() -> float:
    """Refresh every report snapshot once, as beat does, and print what each took."""
    started = time.perf_counter()
    took = refresh_all(session_scope, get_catalog(), utcnow())
    total = time.perf_counter() - started
    print("\nreport snapshots refreshed (what beat runs every TEND_REPORTS_EVERY seconds):")
    for name, seconds in sorted(took.items(), key=lambda item: item[1], reverse=True):
        print(f"  {name:<32} {seconds:>8.2f} s")
    print(f"  {'refresh_all, in all':<32} {total:>8.2f} s")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readers", type=int, default=1_000_000)
    parser.add_argument("--deliveries", type=int, default=10_000_000)
    parser.add_argument("--events", type=int, default=None, help="a tenth of deliveries")
    parser.add_argument("--database-url", help="instead of DATABASE_URL")
    parser.add_argument("--reuse", action="store_true", help="keep an already seeded database")
    parser.add_argument("--requests", type=int, default=20, help="timed requests per page")
    parser.add_argument("--explain-over", type=float, default=20.0, metavar="MS")
    parser.add_argument("--seed-only", action="store_true", help="seed, time no page")
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    options = parser.parse_args()
    if options.database_url:
        os.environ["DATABASE_URL"] = options.database_url  # before the settings are read
    if get_engine().dialect.name != "postgresql":
        raise SystemExit("bench/dashboard.py needs DATABASE_URL pointing at PostgreSQL")
    prepare(options)
    if options.seed_only:
        return
    refresh_reports()
    from web import create_app

    app = create_app()
    errors: list[BaseException] = []

    def record(_: Flask, exception: BaseException, **__: Any) -> None:
        errors.append(exception)

    got_request_exception.connect(record, app, weak=False)
    client = operator_client(app)
    found = samples()
    print(f"\nserver time of {options.requests} requests a page ({SLOW_REQUESTS} if it takes "
          f"over {SLOW_SECONDS:.0f} s), after one to warm up, in this process "
          "(Flask's test client):")  # fmt: skip
    timings = []
    for label, path in pages(app, found):
        timing = measure(client, label, path, options.requests, errors)
        print(f"  {label}: p50 {timing.p50:.1f} ms of {len(timing.seconds)}, "
              f"status {timing.status}", flush=True)  # fmt: skip
        timings.append(timing)
    report(timings, options.explain_over, options.markdown)


if __name__ == "__main__":
    main()

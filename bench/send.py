"""How fast a lesson goes out to many readers, end to end, beside a naive sender.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
    REDIS_URL=redis://127.0.0.1:6379/0 \\
        python bench/send.py --readers 10000 100000 1000000 --smtp-readers 20000

For each count: that many readers each have the course's first lesson queued; a real
Celery worker (prefork, 2 processes, started once and kept, as in production) claims,
renders, sends through the SendGrid stand-in on loopback (1,000 readers a request) and
records each batch. The first count runs twice: right after the worker starts, and
again. Printed: emails per second from the first batch queued to the last delivery
recorded, and the largest peak resident memory of the worker's processes so far. The
naive baseline, measured in the same run, renders each email from scratch and sends it
in its own request. The SMTP run sends through a local SMTP sink instead, one message
per reader over a reused connection.

It empties the Tend tables of the database it is given. PostgreSQL only.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, func, select, text

from core.config import get_settings
from core.db import get_engine, session_scope
from core.migrate import upgrade
from core.models import Base, Delivery, DeliveryStatus
from core.types import UTCDateTime

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "SG.bench"
STARTED = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "2"))  # one per core


def fill(readers: int) -> list[int]:
    """`readers` readers, each with the first lesson queued; returns the delivery ids."""
    engine = get_engine()
    upgrade(get_settings().database)
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        stamp = bindparam("at", type_=UTCDateTime())
        connection.execute(
            text(
                "INSERT INTO subscribers (id, uid, email, first_name, timezone, status, "
                "created_at) SELECT n, 'uid' || n, 'r' || n || '@example.org', "
                "CASE WHEN n % 3 = 0 THEN NULL ELSE 'Reader' || n END, 'UTC', 'active', :at "
                "FROM generate_series(1, :n) AS n"
            ).bindparams(stamp),
            {"n": readers, "at": STARTED},
        )
        connection.execute(
            text(
                "INSERT INTO enrollments (id, subscriber_id, course, state, started_at, "
                "position, round) SELECT n, n, 'softening-sessions', 'active', :at, 1, 1 "
                "FROM generate_series(1, :n) AS n"
            ).bindparams(stamp),
            {"n": readers, "at": STARTED},
        )
        connection.execute(
            text(
                "INSERT INTO deliveries (id, kind, subscriber_id, enrollment_id, lesson, round, "
                "status, attempts, created_at, updated_at) SELECT n, 'lesson', n, n, "
                "'welcome', 1, 'queued', 0, :at, :at FROM generate_series(1, :n) AS n"
            ).bindparams(stamp),
            {"n": readers, "at": STARTED},
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    return list(range(1, readers + 1))


def sent_count() -> int:
    with session_scope() as session:
        query = select(func.count()).where(Delivery.status == DeliveryStatus.SENT)
        return session.scalars(query).one()


UNFINISHED = [DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.IN_FLIGHT]


def unfinished() -> bool:
    """Whether any delivery is still on its way: one index probe, cheap to ask often."""
    with session_scope() as session:
        query = select(Delivery.id).where(Delivery.status.in_(UNFINISHED)).limit(1)
        return session.scalars(query).first() is not None


@contextmanager
def process(command: list[str], ready: bytes, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """A child process, once its output shows `ready`; stopped with SIGTERM after."""
    log = Path(tempfile.mkstemp(prefix="tend-bench-", suffix=".log")[1])
    with log.open("wb") as output:
        child = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        while ready not in log.read_bytes():
            if child.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{command[2]} did not start:\n{log.read_text()}")
            time.sleep(0.1)
        yield child
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        log.unlink(missing_ok=True)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def peak_memory_mb(parent: int) -> float:
    """The largest peak resident size (VmHWM) among the worker's processes."""
    pids = [parent, *children(parent)]
    peaks = []
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return max(peaks, default=0.0)


def children(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(child) for child in found]


@contextmanager
def worker(env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """A Celery worker as production runs it: prefork, one process a core, long-lived."""
    command = [sys.executable, "-m", "celery", "-A", "tasks.worker", "worker", "--pool",
               "prefork", "--concurrency", str(CONCURRENCY), "--without-mingle",
               "--without-gossip", "--without-heartbeat", "--loglevel", "INFO"]  # fmt: skip
    with process(command, b" ready.", env) as child:
        yield child


def timed_send(readers: int, standin: str | None = None) -> float:
    """Queue every batch of a lesson to `readers` readers and wait until the worker has
    recorded them all: the seconds from the first batch queued to the last recorded."""
    from tasks import jobs

    ids = fill(readers)
    if standin:
        reset(standin)
    started = time.perf_counter()
    jobs.queue_batches([ids])
    deadline = time.monotonic() + max(120, readers / 500)
    while unfinished():
        if time.monotonic() > deadline:
            raise SystemExit(f"only {sent_count()} of {readers} sent before the deadline")
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    if (done := sent_count()) != readers:
        raise SystemExit(f"{done} of {readers} sent: the rest failed or were skipped")
    return seconds


def naive_send(sample: int, host: str) -> float:
    """Emails per second when each is rendered from scratch and sent in its own request."""
    from courses.model import Course
    from emails import render as rendering
    from emails.transports.sendgrid import SendGridTransport
    from tasks.catalog import get_catalog
    from tasks.sending import Sender

    ids = fill(sample)
    settings = get_settings()
    transport = SendGridTransport(API_KEY, host=host, timeout=30)
    sender = Sender(settings, get_catalog(), transport)
    course = get_catalog()["softening-sessions"]
    assert isinstance(course, Course)
    started = time.perf_counter()
    for delivery_id in ids:
        rendering._cache.clear()  # from scratch, every time
        sender.send([delivery_id], datetime.now(UTC))
    seconds = time.perf_counter() - started
    assert sent_count() == sample
    return sample / seconds


def steps(batches: int = 10) -> None:
    """Time each step of sending, per batch of 1,000, in this one process."""
    sys.path.insert(0, str(ROOT))  # the stand-in lives with the tests
    from core.config import get_settings
    from emails.transports.sendgrid import SendGridTransport
    from tasks import sending
    from tasks.catalog import get_catalog
    from tests.support.sendgrid_standin import SendGridStandIn

    spent: dict[str, float] = {}

    def timed(name: str, step: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return step(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - started

        return run

    names = ["claim", "take_off", "transmit", "record"]
    originals = {name: getattr(sending, name) for name in names}
    for name in names:
        setattr(sending, name, timed(name, originals[name]))
    compose, build = sending.Sender._compose, sending.Sender._batch
    sending.Sender._compose = timed("read, re-check and build", compose)  # type: ignore[method-assign]
    sending.Sender._batch = timed("  of which build (links)", build)  # type: ignore[method-assign]
    ids = fill(1000 * (batches + 1))
    with SendGridStandIn(api_key=API_KEY, keep_bodies=False) as standin:
        transport = SendGridTransport(API_KEY, host=standin.url, timeout=30)
        sender = sending.Sender(get_settings(), get_catalog(), transport)
        sender.send(ids[:1000], datetime.now(UTC))  # warm up
        spent.clear()
        started = time.perf_counter()
        for first in range(1000, len(ids), 1000):
            sender.send(ids[first : first + 1000], datetime.now(UTC))
        total = time.perf_counter() - started
    print(f"one process, per batch of 1,000 ({batches} batches): {total / batches * 1e3:.1f} ms")
    order = ["claim", "read, re-check and build", "  of which build (links)", *names[1:]]
    for name in order:
        print(f"  {name:<28} {spent[name] / batches * 1e3:6.1f} ms")


def reset(url: str) -> None:
    request = urllib.request.Request(f"{url}/_standin/reset", method="POST")  # noqa: S310
    urllib.request.urlopen(request, timeout=10).close()  # noqa: S310 - loopback


def stats(url: str) -> dict[str, int]:
    address = f"{url}/_standin/stats"  # http on loopback, built here
    with urllib.request.urlopen(address, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readers", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--naive-sample", type=int, default=2_000)
    parser.add_argument("--smtp-readers", type=int, default=20_000)
    parser.add_argument("--steps", action="store_true", help="time each step, then stop")
    options = parser.parse_args()
    if get_engine().dialect.name != "postgresql":
        raise SystemExit("bench/send.py needs DATABASE_URL pointing at PostgreSQL")
    if options.steps:
        steps()
        return
    port = free_port()
    host = f"http://127.0.0.1:{port}"
    standin = [sys.executable, "-m", "tests.support.sendgrid_standin", "--port", str(port),
               "--api-key", API_KEY]  # fmt: skip
    base_env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    worker_env = {**base_env, "TEND_TRANSPORT": "sendgrid", "SENDGRID_API_KEY": API_KEY,
                  "SENDGRID_API_HOST": host}  # fmt: skip
    print(f"database: PostgreSQL; SendGrid stand-in on {host}")
    print(f"worker: prefork, {CONCURRENCY} processes (BENCH_CONCURRENCY)")
    print(f"{'readers':>24} {'seconds':>9} {'emails/s':>10} {'peak MB':>8}  duplicates")
    rates: dict[str, float] = {}
    with process(standin, host.encode(), base_env), worker(worker_env) as running:
        runs = [(f"{options.readers[0]} (first after start)", options.readers[0])]
        runs += [(str(readers), readers) for readers in options.readers]
        for label, readers in runs:
            seconds = timed_send(readers, host)
            duplicates = stats(host)["duplicates"]
            rates[label] = rate = readers / seconds
            memory = peak_memory_mb(running.pid)
            print(f"{label:>24} {seconds:>9.2f} {rate:>10.0f} {memory:>8.1f}  {duplicates}")
    with process(standin, host.encode(), base_env):
        os.environ.update(TEND_TRANSPORT="sendgrid", SENDGRID_API_KEY=API_KEY)
        naive = naive_send(options.naive_sample, host)
    print(f"naive (render each, one request each, {options.naive_sample}): {naive:.0f} emails/s")
    for label, rate in rates.items():
        print(f"batched / naive at {label} readers: {rate / naive:.0f}x")
    if options.smtp_readers:
        smtp_port = free_port()
        sink = [sys.executable, "-m", "tests.support.smtp_sink", "--port", str(smtp_port),
                "--count-only"]  # fmt: skip
        smtp_env = {**base_env, "TEND_TRANSPORT": "smtp",
                    "SMTP_URL": f"smtp://127.0.0.1:{smtp_port}"}  # fmt: skip
        with process(sink, b"listening", base_env), worker(smtp_env) as running:
            seconds = timed_send(options.smtp_readers)
            memory = peak_memory_mb(running.pid)
        rate = options.smtp_readers / seconds
        print(f"SMTP to a local sink: {options.smtp_readers} readers in {seconds:.2f} s, "
              f"{rate:.0f} emails/s, peak {memory:.1f} MB")  # fmt: skip


if __name__ == "__main__":
    main()

"""Signups per second through gunicorn, with their latency, on PostgreSQL and Redis.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
    REDIS_URL=redis://127.0.0.1:6379/1 TEND_BASE_URL=http://127.0.0.1:8000 \\
    TEND_SECRET_KEY=<40 characters> \\
        python bench/signup.py [--seconds 20] [--connections 16]

Starts gunicorn as the Procfile does (2 workers, 4 threads each) on loopback and drives
it with wrk (`apt-get install wrk`): each request signs up a new address through
`/subscribe` with JSON, the way an embedded form posts it, so each one is a whole signup:
validation, both rate limits counted in Redis, the reader and consent record written,
the confirmation handed to the thread that queues it in Redis. The limits are raised far
above the load so that every request is a signup, not a refusal. Three seconds of signups
come first, not measured. Prints wrk's figures, the readers written, and how many of the
confirmations reached the broker once gunicorn has stopped.

Then, in this process, it times signups for new, pending, active and unsubscribed
addresses, one kind after another in rounds, to show that the answer takes about as long
whoever the address belongs to (the page is the same; the time should not tell either).

It empties the Tend tables of the database it is given, and the broker's queue.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import redis
from sqlalchemy import func, select, text

from core.config import get_settings
from core.db import get_engine, session_scope
from core.migrate import upgrade
from core.models import Base, Delivery, Subscriber

ROOT = Path(__file__).resolve().parent.parent

# wrk's script: each request a new address (thread number and a counter), JSON body.
WRK_SCRIPT = """
local counter = 0
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
function init(args)
  prefix = args[1] or "bench"
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  -- A new connection for each signup, as from many readers' browsers: a kept-alive
  -- connection stays with the gunicorn worker that accepted it, and its load with it.
  wrk.headers["Connection"] = "close"
end
function request()
  counter = counter + 1
  local body = string.format(
    '{"email": "%s-%d-%d@example.org", "first_name": "Bench", ' ..
    '"timezone": "Europe/Paris", "consent": true}', prefix, id, counter)
  return wrk.format(nil, "/subscribe", nil, body)
end
"""


def empty_database() -> None:
    upgrade(get_settings().database)
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    with get_engine().begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    with redis.Redis.from_url(get_settings().require_redis_url()) as broker:
        broker.delete("celery")  # the send tasks of earlier runs


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            last_lines = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            raise SystemExit(f"gunicorn exited before it answered:\n{last_lines}")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - loopback
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"gunicorn did not answer at {url} within 30 s")


def counts(prefix: str) -> tuple[int, int]:
    """Readers whose address starts with the prefix, and the letters written to them."""
    pattern = f"{prefix}-%"
    with session_scope() as session:
        readers = session.scalars(
            select(func.count()).select_from(Subscriber).where(Subscriber.email.like(pattern))
        ).one()
        letters = session.scalars(
            select(func.count()).select_from(Delivery).join(Subscriber)
            .where(Subscriber.email.like(pattern))
        ).one()  # fmt: skip
    return readers, letters


def handed_over() -> int:
    """Delivery ids in the send tasks waiting in the broker (no worker runs here)."""
    with redis.Redis.from_url(get_settings().require_redis_url()) as broker:
        messages = [json.loads(raw) for raw in broker.lrange("celery", 0, -1)]
    bodies = [json.loads(base64.b64decode(message["body"])) for message in messages]
    return sum(len(args[0]) for args, _kwargs, _embed in bodies)


KINDS = ("new", "pending", "active", "unsubscribed")


def time_by_kind(rounds: int) -> dict[str, list[float]]:
    """Milliseconds per signup through the app (no HTTP), by what the address is."""
    from web import create_app

    app = create_app()
    client = app.test_client()
    known = {kind: [f"known-{kind}-{n}@example.org" for n in range(rounds)] for kind in KINDS[1:]}
    for kind, addresses in known.items():
        for address in addresses:
            _post(client, address)
        if kind != "pending":
            status = "active" if kind == "active" else "unsubscribed"
            with get_engine().begin() as connection:
                connection.execute(
                    text("UPDATE subscribers SET status = :status WHERE email LIKE :pattern"),
                    {"status": status, "pattern": f"known-{kind}-%"},
                )
    timings: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for n in range(rounds):
        for kind in KINDS:
            address = f"new-{n}@example.org" if kind == "new" else known[kind][n]
            started = time.perf_counter()
            _post(client, address)
            timings[kind].append((time.perf_counter() - started) * 1000)
    return timings


def _post(client: object, address: str) -> None:
    body = {"email": address, "timezone": "Europe/Paris", "consent": True}
    answer = client.post("/subscribe", json=body)  # type: ignore[attr-defined]
    if answer.status_code != 202:
        raise SystemExit(f"a signup for {address} answered {answer.status_code}")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=200, help="signups of each kind, timed")
    options = parser.parse_args()
    if get_engine().dialect.name != "postgresql":
        raise SystemExit("bench/signup.py needs DATABASE_URL pointing at PostgreSQL")
    empty_database()
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TEND_SIGNUP_LIMITS": "1000000/minute",
        "TEND_ADDRESS_LIMITS": "1000/minute",
    }
    command = [sys.executable, "-m", "gunicorn", "-c", "python:web.gunicorn_conf",
               "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4",
               "web.wsgi:app"]  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "signup.lua"
        script.write_text(WRK_SCRIPT)
        log = Path(folder) / "gunicorn.log"
        with log.open("wb") as log_file:  # its access lines would drown the figures
            server = subprocess.Popen(command, env=env, stderr=log_file)
        try:
            wait_until_up(f"http://127.0.0.1:{port}/", server, log)
            wrk = ["wrk", "-t2", f"-c{options.connections}", "--latency", "-s", str(script),
                   f"http://127.0.0.1:{port}"]  # fmt: skip
            # Each worker's first signups build what later ones reuse (compiled statements,
            # prepared queries, connections): a few seconds of them first, not measured.
            warm = [*wrk, "-d3s", "--", "warm-up"]
            subprocess.run(warm, capture_output=True, check=True)
            measured = [*wrk, f"-d{options.seconds}s", "--", "bench"]
            report = subprocess.run(measured, capture_output=True, text=True, check=True).stdout
        finally:
            server.terminate()  # gracefully: each worker publishes what it still holds
            server.wait(30)
    print(report)
    answered = int(re.search(r"(\d+) requests in", report).group(1))  # type: ignore[union-attr]
    refused = re.search(r"Non-2xx or 3xx responses: (\d+)", report)
    readers, letters = counts("bench")
    print(f"requests answered: {answered}, not 2xx: {refused.group(1) if refused else 0}")
    print(f"readers written: {readers}, confirmations written: {letters}")
    print(f"confirmations handed to the workers, warm-up included: {handed_over()}"
          f" of {sum(counts(prefix)[1] for prefix in ('warm-up', 'bench'))}")  # fmt: skip
    # The same limits as the server had, for the in-process timing.
    os.environ.update(
        TEND_SIGNUP_LIMITS=env["TEND_SIGNUP_LIMITS"], TEND_ADDRESS_LIMITS="1000/minute"
    )
    get_settings.cache_clear()
    print(f"\nms per signup in this process, {options.rounds} of each, interleaved:")
    print(f"{'address':>14} {'p50':>7} {'p90':>7}")
    for kind, values in time_by_kind(options.rounds).items():
        print(f"{kind:>14} {percentile(values, 0.5):7.2f} {percentile(values, 0.9):7.2f}")


if __name__ == "__main__":
    main()

"""Signups per second through gunicorn, with their latency, on PostgreSQL and Redis.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
    REDIS_URL=redis://127.0.0.1:6379/1 \\
        python bench/signup.py [--seconds 20] [--connections 16]

Starts gunicorn as the Procfile does (2 workers, 4 threads each) on loopback and drives
it with wrk (`apt-get install wrk`): each request signs up a new address through
`/subscribe` with JSON, the way an embedded form posts it, so each one is a whole signup:
validation, both rate limits counted in Redis, the reader and consent record written,
the confirmation queued in Redis. The limits are raised far above the load so that every
request is a signup, not a refusal. Prints wrk's figures and checks the database holds one
reader per answered request.

It empties the Tend tables of the database it is given.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

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
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  -- A new connection for each signup, as from many readers' browsers: a kept-alive
  -- connection stays with the gunicorn worker that accepted it, and its load with it.
  wrk.headers["Connection"] = "close"
end
function request()
  counter = counter + 1
  local body = string.format(
    '{"email": "bench-%d-%d@example.org", "first_name": "Bench", ' ..
    '"timezone": "Europe/Paris", "consent": true}', id, counter)
  return wrk.format(nil, "/subscribe", nil, body)
end
"""


def empty_database() -> None:
    upgrade(get_settings().database)
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    with get_engine().begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("gunicorn exited before it answered")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - loopback
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"gunicorn did not answer at {url} within 30 s")


def counts() -> tuple[int, int]:
    with session_scope() as session:
        readers = session.scalars(select(func.count()).select_from(Subscriber)).one()
        letters = session.scalars(select(func.count()).select_from(Delivery)).one()
    return readers, letters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=16)
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
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
               "--workers", "2", "--threads", "4", "web.wsgi:app"]  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "signup.lua"
        script.write_text(WRK_SCRIPT)
        server = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
        try:
            wait_until_up(f"http://127.0.0.1:{port}/", server)
            wrk = ["wrk", "-t2", f"-c{options.connections}", f"-d{options.seconds}s",
                   "--latency", "-s", str(script), f"http://127.0.0.1:{port}"]  # fmt: skip
            report = subprocess.run(wrk, capture_output=True, text=True, check=True).stdout
        finally:
            server.terminate()
            server.wait(30)
    print(report)
    answered = int(re.search(r"(\d+) requests in", report).group(1))  # type: ignore[union-attr]
    refused = re.search(r"Non-2xx or 3xx responses: (\d+)", report)
    readers, letters = counts()
    print(f"requests answered: {answered}, not 2xx: {refused.group(1) if refused else 0}")
    print(f"readers written: {readers}, confirmations queued: {letters}")


if __name__ == "__main__":
    main()

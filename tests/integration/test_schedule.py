"""The tick claims each due lesson exactly once, whatever runs beside it."""

from __future__ import annotations

import dataclasses
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from core.clock import utcnow
from core.db import session_scope
from core.models import Delivery, DeliveryStatus, EnrollmentState
from courses.model import Catalog
from tasks import jobs, readers, schedule
from tests.support.readers import active_reader, enrollment_of

START = datetime(2026, 3, 2, 19, 30, tzinfo=UTC)


def lessons_written() -> list[tuple[int, str]]:
    with session_scope() as session:
        query = select(Delivery.subscriber_id, Delivery.lesson).order_by(Delivery.id)
        return [(row.subscriber_id, row.lesson) for row in session.execute(query)]


def test_a_new_reader_gets_the_welcome_on_the_first_tick(db: None, catalog: Catalog) -> None:
    reader, _ = active_reader(catalog, START)
    report = schedule.tick(catalog, START)
    assert report.claimed == 1
    assert lessons_written() == [(reader, "welcome")]
    assert [len(ids) for ids in report.batches.values()] == [1]


def test_it_claims_nothing_twice_however_many_ticks_run(db: None, catalog: Catalog) -> None:
    active_reader(catalog, START)
    for _ in range(3):
        schedule.tick(catalog, START + timedelta(minutes=1))
    assert [lesson for _, lesson in lessons_written()] == ["welcome"]


def test_the_second_lesson_waits_for_its_morning_fourteen_days_later(
    db: None, catalog: Catalog
) -> None:
    reader, _ = active_reader(catalog, START, timezone="America/New_York")
    schedule.tick(catalog, START)
    # START is 14:30 in New York on 2 March; lesson 2 is due 16 March at 08:00 there,
    # which is 12:00 UTC (daylight saving time began on 8 March).
    assert enrollment_of(reader).next_due_at == datetime(2026, 3, 16, 12, 0, tzinfo=UTC)
    assert schedule.tick(catalog, datetime(2026, 3, 16, 11, 59, tzinfo=UTC)).claimed == 0
    assert schedule.tick(catalog, datetime(2026, 3, 16, 12, 0, tzinfo=UTC)).claimed == 1
    assert [lesson for _, lesson in lessons_written()] == ["welcome", "acknowledge"]


def test_after_the_last_lesson_the_enrollment_is_completed(db: None, catalog: Catalog) -> None:
    reader, _ = active_reader(catalog, START)
    for day in (0, 14, 28, 42, 56, 70, 84):
        schedule.tick(catalog, START + timedelta(days=day, hours=13))
    lessons = [lesson for _, lesson in lessons_written()]
    assert lessons == ["welcome", "acknowledge", "not-alone", "kindness", "closing"]
    enrollment = enrollment_of(reader)
    assert enrollment.state is EnrollmentState.COMPLETED
    assert enrollment.next_due_at is None


def test_an_unsubscribed_reader_is_never_claimed(db: None, catalog: Catalog) -> None:
    _, uid = active_reader(catalog, START)
    with session_scope() as session:
        readers.unsubscribe(session, uid, "test", START)
    assert schedule.tick(catalog, START + timedelta(days=30)).claimed == 0
    assert lessons_written() == []


def test_ticks_running_at_once_write_each_lesson_once(db: None, catalog: Catalog) -> None:
    for number in range(40):
        active_reader(catalog, START, email=f"reader{number}@example.org")
    later = START + timedelta(days=14, hours=13)
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: schedule.tick(catalog, START, batch_size=7), range(4)))
        reports = list(pool.map(lambda _: schedule.tick(catalog, later, batch_size=7), range(4)))
    assert sum(report.claimed for report in reports) == 40
    written = lessons_written()
    assert len(written) == 80
    assert len(set(written)) == 80


def test_a_lost_queue_message_is_queued_again_by_a_later_tick(db: None, catalog: Catalog) -> None:
    active_reader(catalog, START)
    first = schedule.tick(catalog, START)
    (delivery_id,) = next(iter(first.batches.values()))
    assert schedule.tick(catalog, START + timedelta(minutes=2)).requeued == 0
    again = schedule.tick(catalog, START + timedelta(minutes=6))
    assert again.requeued == 1
    assert list(again.batches.values()) == [[delivery_id]]
    # Requeued once, it waits another five minutes before being queued again.
    assert schedule.tick(catalog, START + timedelta(minutes=7)).requeued == 0
    with session_scope() as session:
        statuses = session.scalars(
            select(func.count()).where(Delivery.status == DeliveryStatus.QUEUED)
        )
        assert statuses.one() == 1


def with_window(catalog: Catalog, until: time) -> Catalog:
    course = catalog["softening-sessions"]
    windowed = dataclasses.replace(
        course, cadence=dataclasses.replace(course.cadence, send_until=until)
    )
    return Catalog({course.slug: windowed})


def test_a_lesson_found_due_after_its_send_window_waits_for_the_next_one(
    db: None, catalog: Catalog
) -> None:
    windowed = with_window(catalog, time(11, 0))
    reader, _ = active_reader(windowed, START, timezone="Europe/Paris")
    assert schedule.tick(windowed, START).claimed == 1, "the welcome goes at once, any hour"
    # Lesson 2 was due 16 March 08:00 in Paris; the workers were down until 14:00.
    late = datetime(2026, 3, 16, 13, 0, tzinfo=UTC)
    report = schedule.tick(windowed, late)
    assert (report.claimed, report.deferred) == (0, 1)
    assert enrollment_of(reader).next_due_at == datetime(2026, 3, 17, 7, 0, tzinfo=UTC)
    assert schedule.tick(windowed, datetime(2026, 3, 17, 7, 0, tzinfo=UTC)).claimed == 1
    assert [lesson for _, lesson in lessons_written()] == ["welcome", "acknowledge"]


def test_without_a_window_end_a_late_lesson_goes_at_once(db: None, catalog: Catalog) -> None:
    active_reader(catalog, START, timezone="Europe/Paris")
    schedule.tick(catalog, START)
    assert schedule.tick(catalog, datetime(2026, 3, 16, 22, 0, tzinfo=UTC)).claimed == 1


def test_each_tick_logs_what_it_did_as_fields(
    db: None, catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    active_reader(catalog, utcnow() - timedelta(minutes=5))
    with caplog.at_level(logging.INFO, logger="tasks.jobs"):
        summary = jobs.tick.run()
    (record,) = [r for r in caplog.records if r.name == "tasks.jobs"]
    assert (record.due, record.claimed, record.capped, record.held) == (1, 1, 0, 0)
    assert record.seconds == summary["seconds"]
    assert record.getMessage().startswith("tick: 1 due, 1 claimed, 0 skipped")

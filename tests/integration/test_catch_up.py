"""After downtime, and for readers in several courses: one letter at a time, no burst."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from core.db import session_scope
from core.models import Delivery, Enrollment
from courses.model import Catalog
from tasks import schedule
from tests.support.readers import active_reader, enrollment_of

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday; readers here are in UTC


def written() -> list[tuple[str | None, datetime]]:
    with session_scope() as session:
        rows = session.execute(
            select(Delivery.lesson, Delivery.created_at).order_by(Delivery.id)
        ).all()
    return [(row.lesson, row.created_at) for row in rows]


def test_after_weeks_of_downtime_a_reader_gets_one_lesson_a_day_in_order(
    db: None, catalog: Catalog
) -> None:
    reader, _ = active_reader(catalog, START)
    schedule.tick(catalog, START)  # the welcome
    # Nothing ran for 60 days: lessons 2 to 5 are all overdue.
    back = START + timedelta(days=60, hours=1)
    for minute in range(0, 24 * 60 * 5, 30):  # ticks every half hour for five days
        schedule.tick(catalog, back + timedelta(minutes=minute))
    sent = written()
    assert [lesson for lesson, _ in sent] == [
        "welcome",
        "acknowledge",
        "not-alone",
        "kindness",
        "closing",
    ]
    days = [created.date() for _, created in sent[1:]]
    assert len(set(days)) == len(days), f"two lessons on one day: {days}"
    assert all(created.hour >= 8 for _, created in sent[2:]), "catch-up waits for the morning"
    assert enrollment_of(reader).next_due_at is None


def two_courses(catalog: Catalog) -> Catalog:
    course = catalog["softening-sessions"]
    second = dataclasses.replace(course, slug="second-course", title="Second Course")
    return Catalog({course.slug: course, second.slug: second})


def test_a_reader_in_two_courses_gets_at_most_one_letter_a_day(db: None, catalog: Catalog) -> None:
    both = two_courses(catalog)
    active_reader(both, START)
    first = schedule.tick(both, START)
    assert (first.claimed, first.capped) == (1, 1)
    assert schedule.tick(both, START + timedelta(hours=3)).claimed == 0
    # The second welcome waits for the reader's next morning.
    next_morning = datetime(2026, 1, 6, 8, 0, tzinfo=UTC)
    assert schedule.tick(both, next_morning - timedelta(minutes=1)).claimed == 0
    assert schedule.tick(both, next_morning).claimed == 1
    assert [lesson for lesson, _ in written()] == ["welcome", "welcome"]
    with session_scope() as session:
        courses = session.scalars(
            select(Enrollment.course).join(Delivery, Delivery.enrollment_id == Enrollment.id)
        ).all()
    assert sorted(courses) == ["second-course", "softening-sessions"]


def test_the_cap_can_be_lifted(db: None, catalog: Catalog) -> None:
    both = two_courses(catalog)
    active_reader(both, START)
    report = schedule.tick(both, START, daily_cap=0)
    assert (report.claimed, report.capped) == (2, 0)


def test_the_cap_counts_the_readers_own_day(db: None, catalog: Catalog) -> None:
    both = two_courses(catalog)
    # 23:30 in Auckland on 5 January is 10:30 UTC; their next day starts 30 minutes later.
    late_evening = datetime(2026, 1, 5, 10, 30, tzinfo=UTC)
    active_reader(both, late_evening, timezone="Pacific/Auckland")
    assert schedule.tick(both, late_evening).claimed == 1
    # The second welcome waits for 08:00 on 6 January in Auckland (19:00 UTC on the 5th).
    assert schedule.tick(both, datetime(2026, 1, 5, 18, 59, tzinfo=UTC)).claimed == 0
    assert schedule.tick(both, datetime(2026, 1, 5, 19, 0, tzinfo=UTC)).claimed == 1

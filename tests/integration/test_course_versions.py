"""An author edits a course that readers are in the middle of: nobody gets a lesson twice,
nobody misses one, and a lesson added before where a reader is never reaches them."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner
from sqlalchemy import select

from core.db import session_scope
from core.models import Delivery, EnrollmentState
from courses.model import Catalog
from tasks import schedule
from tests.support.readers import active_reader, enrollment_of
from web.cli import cli

START = datetime(2026, 4, 6, 9, 0, tzinfo=UTC)


def edited(catalog: Catalog, order: list[str], added: str | None = None) -> Catalog:
    """The demo course with its lessons in `order` (slugs); `added` is a new lesson."""
    course = catalog["softening-sessions"]
    by_slug = {lesson.slug: lesson for lesson in course.lessons}
    if added:
        by_slug[added] = dataclasses.replace(course.lessons[1], slug=added, subject="Added")
    lessons = tuple(dataclasses.replace(by_slug[slug], number=n) for n, slug in enumerate(order))
    return Catalog({course.slug: dataclasses.replace(course, lessons=lessons)})


def run_until_done(catalog: Catalog, start: datetime, days: int = 120) -> None:
    for day in range(days):
        schedule.tick(catalog, start + timedelta(days=day, hours=1))


def lessons_sent() -> list[str]:
    with session_scope() as session:
        return [
            lesson
            for lesson in session.scalars(select(Delivery.lesson).order_by(Delivery.id))
            if lesson
        ]


def halfway(catalog: Catalog) -> int:
    """A reader who has had the welcome and lesson 2."""
    reader, _ = active_reader(catalog, START)
    schedule.tick(catalog, START)
    schedule.tick(catalog, START + timedelta(days=14, hours=1))
    assert lessons_sent() == ["welcome", "acknowledge"]
    return reader


def test_a_lesson_added_before_a_readers_place_never_reaches_them(
    db: None, catalog: Catalog
) -> None:
    reader = halfway(catalog)
    new = edited(catalog, ["welcome", "early", "acknowledge", "not-alone", "kindness", "closing"],
                 added="early")  # fmt: skip
    run_until_done(new, START + timedelta(days=15))
    assert lessons_sent() == ["welcome", "acknowledge", "not-alone", "kindness", "closing"]
    assert enrollment_of(reader).course_version == new["softening-sessions"].version


def test_a_lesson_added_after_a_readers_place_reaches_them(db: None, catalog: Catalog) -> None:
    halfway(catalog)
    new = edited(catalog, ["welcome", "acknowledge", "not-alone", "later", "kindness", "closing"],
                 added="later")  # fmt: skip
    run_until_done(new, START + timedelta(days=15))
    assert lessons_sent() == ["welcome", "acknowledge", "not-alone", "later", "kindness", "closing"]


def test_a_removed_lesson_is_skipped_and_the_rest_still_come(db: None, catalog: Catalog) -> None:
    halfway(catalog)
    new = edited(catalog, ["welcome", "acknowledge", "kindness", "closing"])
    run_until_done(new, START + timedelta(days=15))
    assert lessons_sent() == ["welcome", "acknowledge", "kindness", "closing"]


def test_reordered_lessons_each_come_once(db: None, catalog: Catalog) -> None:
    halfway(catalog)
    new = edited(catalog, ["welcome", "acknowledge", "closing", "not-alone", "kindness"])
    run_until_done(new, START + timedelta(days=15))
    assert lessons_sent() == ["welcome", "acknowledge", "closing", "not-alone", "kindness"]


def test_when_every_lesson_left_is_removed_the_course_is_complete(
    db: None, catalog: Catalog
) -> None:
    reader = halfway(catalog)
    new = edited(catalog, ["welcome", "acknowledge"])
    run_until_done(new, START + timedelta(days=15), days=30)
    assert lessons_sent() == ["welcome", "acknowledge"]
    assert enrollment_of(reader).state is EnrollmentState.COMPLETED


def test_the_calendar_shows_what_a_reader_mid_course_gets_next(db: None, catalog: Catalog) -> None:
    halfway(catalog)
    result = CliRunner().invoke(
        cli, ["calendar", "softening-sessions", "--reader", "reader@example.org"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Softening Sessions for reader@example.org (UTC): had 2, 3 to come, active"
    assert lines[1].endswith("2026-05-04 08:00 UTC  You are not the only one")
    assert len(lines) == 4

"""When a reader's next lesson of a course is due."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from courses.cadence import Cadence, due_instants, lesson_dates
from courses.model import Course, Lesson
from tasks.zones import zone_of


def paced(course: Course, pace: int) -> Cadence:
    """The course's cadence at a reader's own pace."""
    return course.cadence if pace == 1 else dataclasses.replace(course.cadence, pace=pace)


def due_for(
    course: Course, position: int, started_at: datetime, timezone: str, pace: int = 1
) -> datetime | None:
    """The UTC instant lesson `position` falls due, or None when the course is over."""
    if not 0 <= position < len(course.lessons):
        return None
    dues = course.dues[: position + 1]
    return due_instants(paced(course, pace), dues, started_at, zone_of(timezone))[position]


def due_of(
    course: Course,
    position: int,
    lesson: Lesson,
    started_at: datetime,
    timezone: str,
    pace: int = 1,
) -> datetime:
    """When `lesson` falls due as the reader's lesson number `position` (from 0): the
    rhythm counts lessons, while a lesson that says `due: day N` keeps its own day."""
    dues = [*course.dues[:position], lesson.due]
    return due_instants(paced(course, pace), dues, started_at, zone_of(timezone))[position]


def days_into_course(
    course: Course, position: int, started_at: datetime, timezone: str, pace: int = 1
) -> int:
    """How many days after enrollment lesson `position` falls (0 for one sent at once)."""
    start = started_at.astimezone(zone_of(timezone)).date()
    day = lesson_dates(paced(course, pace), course.dues[: position + 1], start)[position]
    return 0 if day is None else (day - start).days


def restarted_at(
    course: Course,
    position: int,
    started_at: datetime,
    timezone: str,
    now: datetime,
    pace: int = 1,
) -> datetime:
    """An enrollment start that makes lesson `position` due today and keeps the spacing of
    the rest after it: how a returning reader resumes without a burst of missed lessons."""
    days = days_into_course(course, position, started_at, timezone, pace)
    return now - timedelta(days=days)


def upcoming(
    course: Course,
    position: int,
    had: set[str],
    started_at: datetime,
    timezone: str,
    pace: int = 1,
) -> list[tuple[Lesson, datetime]]:
    """The lessons a reader in the middle of `course` has still to get, with when, under
    the course as it is now: what an author sees before publishing an edit."""
    plan: list[tuple[Lesson, datetime]] = []
    had = set(had)
    while (lesson := course.next_lesson(had)) is not None:
        plan.append((lesson, due_of(course, position, lesson, started_at, timezone, pace)))
        had.add(lesson.slug)
        position += 1
    return plan

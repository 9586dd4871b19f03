"""When a reader's next lesson of a course is due."""

from __future__ import annotations

from datetime import datetime, timedelta

from courses.cadence import due_instants, lesson_dates
from courses.model import Course
from tasks.zones import zone_of


def due_for(course: Course, position: int, started_at: datetime, timezone: str) -> datetime | None:
    """The UTC instant lesson `position` falls due, or None when the course is over."""
    if not 0 <= position < len(course.lessons):
        return None
    dues = course.dues[: position + 1]
    return due_instants(course.cadence, dues, started_at, zone_of(timezone))[position]


def days_into_course(course: Course, position: int, started_at: datetime, timezone: str) -> int:
    """How many days after enrollment lesson `position` falls (0 for one sent at once)."""
    start = started_at.astimezone(zone_of(timezone)).date()
    day = lesson_dates(course.cadence, course.dues[: position + 1], start)[position]
    return 0 if day is None else (day - start).days


def restarted_at(
    course: Course, position: int, started_at: datetime, timezone: str, now: datetime
) -> datetime:
    """An enrollment start that makes lesson `position` due today and keeps the spacing of
    the rest after it: how a returning reader resumes without a burst of missed lessons."""
    return now - timedelta(days=days_into_course(course, position, started_at, timezone))

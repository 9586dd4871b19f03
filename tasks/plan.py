"""When a reader's next lesson of a course is due."""

from __future__ import annotations

from datetime import datetime

from courses.cadence import due_at
from courses.model import Course
from tasks.zones import zone_of


def due_for(course: Course, position: int, started_at: datetime, timezone: str) -> datetime | None:
    """The UTC instant lesson `position` falls due, or None when the course is over."""
    lesson = course.lesson_at(position)
    if lesson is None or lesson.due is None:
        return None
    return due_at(started_at, lesson.due, course.send_at, zone_of(timezone))

"""The dry-run calendar: what a reader who starts at a given moment would receive, when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from courses.cadence import due_instants
from courses.model import Course, Lesson


@dataclass(frozen=True)
class Entry:
    lesson: Lesson
    number: int
    local: datetime  # in the reader's zone
    utc: datetime


def calendar(course: Course, started_at: datetime, zone: ZoneInfo) -> list[Entry]:
    instants = due_instants(course.cadence, course.dues, started_at, zone)
    return [
        Entry(lesson, number, instant.astimezone(zone), instant)
        for number, (lesson, instant) in enumerate(zip(course.lessons, instants, strict=True), 1)
    ]

"""When lessons are due: pure arithmetic on dates, times and time zones.

A course's rhythm is anchored on the day the reader enrolled: lesson N is due on the
enrollment's local date plus its day offset, at the course's send time in the reader's
own time zone. Anchoring on the start (not on the previous send) keeps a late send from
pushing every later lesson back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

ON_CONFIRMATION = "on confirmation"
_DAY = re.compile(r"^day\s+(\d{1,4})$")


@dataclass(frozen=True)
class Due:
    """When one lesson is due: at enrollment (day None) or N days after it at the send time."""

    day: int | None

    @property
    def on_confirmation(self) -> bool:
        return self.day is None

    def __str__(self) -> str:
        return ON_CONFIRMATION if self.day is None else f"day {self.day}"


def parse_due(text: str) -> Due:
    """Read "on confirmation" or "day N" (N >= 1); raise ValueError with what is accepted."""
    cleaned = " ".join(str(text).lower().split())
    if cleaned == ON_CONFIRMATION:
        return Due(None)
    match = _DAY.match(cleaned)
    if match is None or int(match.group(1)) < 1:
        raise ValueError(f'"{text}" is not a due time: write "on confirmation" or "day N" (N >= 1)')
    return Due(int(match.group(1)))


def parse_send_time(text: str) -> time:
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", str(text).strip())
    if match is None:
        raise ValueError(f'"{text}" is not a time of day: write it as HH:MM, like "08:00"')
    return time(int(match.group(1)), int(match.group(2)))


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time on a local date.

    A time skipped by a DST change (02:30 on a spring-forward night) moves forward by the
    length of the gap (to 03:30), as calendar programs do; a repeated one (an autumn
    night's 01:30) is taken at its first occurrence.
    """
    local = datetime.combine(day, at, tzinfo=zone)
    return local.astimezone(UTC)


def due_at(started_at: datetime, due: Due, send_at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant a lesson falls due for a reader who enrolled at `started_at`."""
    if due.day is None:
        return started_at
    start_day = started_at.astimezone(zone).date()
    return local_instant(start_day + timedelta(days=due.day), send_at, zone)


def following_due(previous: Due | None, every_days: int) -> Due:
    """When a lesson that does not say is due: the first at once, each other N days after
    the lesson before it."""
    if previous is None:
        return Due(None)
    return Due((previous.day or 0) + every_days)

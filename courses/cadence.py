"""When lessons are due: pure arithmetic on dates, times and time zones.

A course's cadence is one rhythm (every N days, chosen days of the month, chosen
weekdays) or none, in which case each lesson says its own offset (`due: day 3`). Every
lesson goes out at the course's send time in the reader's own time zone. Weekends (if the
course skips them) and quiet dates move a lesson to the next allowed day, and the lessons
after it move with it: nothing is dropped, and no day gets two lessons.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

ON_CONFIRMATION = "on confirmation"
_DAY = re.compile(r"^day\s+(\d{1,4})$")
WEEKDAYS = {name: number for number, name in enumerate(calendar.day_name)} | {
    name: number for number, name in enumerate(calendar.day_abbr)
}
# A search for the next allowed date gives up after this many days: a cadence that finds
# nothing in a year and a half cannot be satisfied.
HORIZON = 550
ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Due:
    """When one lesson is due: at enrollment (day None) or N days after it at the send time."""

    day: int | None

    @property
    def on_confirmation(self) -> bool:
        return self.day is None

    def __str__(self) -> str:
        return ON_CONFIRMATION if self.day is None else f"day {self.day}"


@dataclass(frozen=True)
class Cadence:
    """How a course spaces its lessons. At most one of the three rhythms is set."""

    every_days: int | None = None
    days_of_month: tuple[int, ...] = ()
    weekdays: tuple[int, ...] = ()  # 0 is Monday
    first_on_confirmation: bool = True
    send_at: time = time(8, 0)
    # The send window's end: a lesson found due later than this on its day (after a stop)
    # waits for the next allowed day's send time. None: any time after `send_at` that day.
    send_until: time | None = None
    skip_weekends: bool = False
    quiet_dates: frozenset[date] = field(default_factory=frozenset)
    # A reader who slows down gets every `pace`-th date of the rhythm (2: half as often).
    pace: int = 1

    @property
    def kind(self) -> str:
        if self.every_days:
            return f"every {self.every_days} days"
        if self.days_of_month:
            return "on days " + ", ".join(str(day) for day in self.days_of_month) + " of the month"
        if self.weekdays:
            return "on " + ", ".join(calendar.day_name[day] for day in self.weekdays)
        return "on each lesson's own day"

    @property
    def is_calendar(self) -> bool:
        return bool(self.days_of_month or self.weekdays)

    def allowed(self, day: date) -> bool:
        return not ((self.skip_weekends and day.weekday() >= 5) or day in self.quiet_dates)


class CadenceError(ValueError):
    """The cadence can never give a lesson a date."""


def parse_due(text: str) -> Due:
    """Read "on confirmation" or "day N"; raise ValueError saying what is accepted."""
    cleaned = " ".join(str(text).lower().split())
    if cleaned == ON_CONFIRMATION:
        return Due(None)
    match = _DAY.match(cleaned)
    if match is None:
        raise ValueError(f'"{text}" is not a due time: write "on confirmation" or "day N"')
    return Due(int(match.group(1)))


def parse_send_time(text: str) -> time:
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", str(text).strip())
    if match is None:
        raise ValueError(f'"{text}" is not a time of day: write it as HH:MM, like "08:00"')
    return time(int(match.group(1)), int(match.group(2)))


def parse_weekday(text: str) -> int:
    number = WEEKDAYS.get(str(text).strip().capitalize())
    if number is None:
        raise ValueError(f'"{text}" is not a weekday: write monday, tuesday, ... or mon, tue, ...')
    return number


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time on a local date.

    A time skipped by a DST change (02:30 on a spring-forward night) moves forward by the
    length of the gap (to 03:30), as calendar programs do; a repeated one (an autumn
    night's 01:30) is taken at its first occurrence.
    """
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def lesson_dates(cadence: Cadence, dues: Sequence[Due | None], start: date) -> list[date | None]:
    """The local date of each lesson for a reader who enrolled on `start` (their local
    date); None for a lesson due at the moment of enrollment.

    `dues` holds what each lesson's front matter says (None where it says nothing). When a
    rhythm's first lesson does not go at once, the rhythm starts the day after enrollment.
    Raise CadenceError if some lesson can never be given a date.
    """
    if cadence.skip_weekends and cadence.weekdays and min(cadence.weekdays) >= 5:
        raise CadenceError("it sends only on weekends, and skips weekends")
    at_once = bool(dues) and first_at_once(cadence, dues[0])
    rhythm_starts = start if at_once or not cadence.every_days else start + timedelta(days=1)
    dates: list[date | None] = []
    previous: date | None = None  # the day of the last dated lesson
    shift = timedelta(0)  # how far weekends and quiet dates have pushed the course so far
    for index, due in enumerate(dues):
        if index == 0 and at_once:
            dates.append(None)
            continue
        if cadence.is_calendar:
            day = previous or start
            for _ in range(cadence.pace):
                day = _next_match(cadence, day + ONE_DAY)
            day = _next_allowed(cadence, day)
        else:
            nominal = rhythm_starts + timedelta(days=_offset(cadence, index, due)) + shift
            earliest = nominal if previous is None else max(nominal, previous + ONE_DAY)
            day = _next_allowed(cadence, earliest)
            shift += day - nominal
        dates.append(day)
        previous = day
    return dates


def window_start_after(cadence: Cadence, now: datetime, zone: ZoneInfo) -> datetime | None:
    """None if a lesson may go at `now` (within the send window of an allowed day), else the
    UTC instant the next window opens."""
    local = now.astimezone(zone)
    today = local.date()
    # Never before the send time: a lesson late from yesterday waits for this morning.
    in_window = cadence.send_at <= local.time() and (
        cadence.send_until is None or local.time() < cadence.send_until
    )
    if in_window and cadence.allowed(today):
        return None
    first = today if local.time() < cadence.send_at else today + ONE_DAY
    return local_instant(_next_allowed(cadence, first), cadence.send_at, zone)


def next_days_window(cadence: Cadence, now: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of the send time on the next allowed day after the reader's today."""
    tomorrow = now.astimezone(zone).date() + ONE_DAY
    return local_instant(_next_allowed(cadence, tomorrow), cadence.send_at, zone)


def due_instants(
    cadence: Cadence, dues: Sequence[Due | None], started_at: datetime, zone: ZoneInfo
) -> list[datetime]:
    """The UTC instant each lesson falls due for a reader who enrolled at `started_at`."""
    start = started_at.astimezone(zone).date()
    return [
        started_at.astimezone(UTC) if day is None else local_instant(day, cadence.send_at, zone)
        for day in lesson_dates(cadence, dues, start)
    ]


def first_at_once(cadence: Cadence, due: Due | None) -> bool:
    """Whether a course's first lesson goes at the moment of enrollment."""
    if due is not None:
        return due.on_confirmation
    return cadence.first_on_confirmation


def _offset(cadence: Cadence, index: int, due: Due | None) -> int:
    if cadence.every_days:
        return index * cadence.every_days * cadence.pace
    if due is None or due.day is None:
        raise CadenceError(f"lesson {index + 1} says no `due: day N` and the course has no rhythm")
    return due.day * cadence.pace


def _next_allowed(cadence: Cadence, day: date) -> date:
    for _ in range(HORIZON):
        if cadence.allowed(day):
            return day
        day += ONE_DAY
    raise CadenceError("no day is allowed to send on: weekends and quiet dates cover them all")


def _next_match(cadence: Cadence, day: date) -> date:
    """The first day on or after `day` that the calendar rhythm names."""
    for _ in range(HORIZON):
        if _matches(cadence, day):
            return day
        day += ONE_DAY
    raise CadenceError(f"{cadence.kind} never falls on an allowed day")


def _matches(cadence: Cadence, day: date) -> bool:
    if cadence.weekdays:
        return day.weekday() in cadence.weekdays
    last = calendar.monthrange(day.year, day.month)[1]
    # "the 31st" in a shorter month is its last day.
    return day.day in cadence.days_of_month or (
        day.day == last and any(wanted > last for wanted in cadence.days_of_month)
    )

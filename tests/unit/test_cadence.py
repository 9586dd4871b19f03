"""courses/cadence.py: when a lesson falls due, in the reader's own time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from courses.cadence import Due, due_at, following_due, local_instant, parse_due, parse_send_time

NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
UTC_MINUS_12 = ZoneInfo("Etc/GMT+12")  # POSIX sign: "GMT+12" is twelve hours behind UTC
UTC_PLUS_14 = ZoneInfo("Pacific/Kiritimati")
EIGHT = time(8, 0)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("on confirmation", None),
        ("On  Confirmation ", None),
        ("day 14", 14),
        ("Day   7", 7),
        ("day 1", 1),
        ("day 9999", 9999),
    ],
)
def test_it_reads_a_due_time(text: str, day: int | None) -> None:
    assert parse_due(text) == Due(day)


@pytest.mark.parametrize(
    "text", ["day 0", "day -1", "14", "day 14.5", "week 2", "", "day 10000", "on signup"]
)
def test_it_rejects_a_due_time_and_says_what_it_accepts(text: str) -> None:
    with pytest.raises(ValueError, match="is not a due time") as caught:
        parse_due(text)

    assert str(caught.value) == (
        f'"{text}" is not a due time: write "on confirmation" or "day N" (N >= 1)'
    )


def test_a_due_time_prints_the_way_an_author_writes_it() -> None:
    assert str(Due(None)) == "on confirmation"
    assert str(Due(14)) == "day 14"
    assert Due(None).on_confirmation
    assert not Due(14).on_confirmation


@pytest.mark.parametrize(
    ("text", "expected"),
    [("08:00", time(8, 0)), ("8:05", time(8, 5)), (" 23:59 ", time(23, 59)), ("00:00", time(0))],
)
def test_it_reads_a_send_time(text: str, expected: time) -> None:
    assert parse_send_time(text) == expected


@pytest.mark.parametrize("text", ["24:00", "08:60", "8", "8am", "08:00:00", "", "8.00"])
def test_it_rejects_a_send_time_and_shows_the_expected_form(text: str) -> None:
    with pytest.raises(ValueError, match="is not a time of day") as caught:
        parse_send_time(text)

    assert str(caught.value) == f'"{text}" is not a time of day: write it as HH:MM, like "08:00"'


def test_a_lesson_due_on_confirmation_is_due_the_moment_the_reader_enrolled() -> None:
    started = utc(2025, 3, 1, 17, 23, 45)

    assert due_at(started, Due(None), EIGHT, NEW_YORK) == started


def test_it_sends_at_eight_new_york_time_on_the_day_summer_time_starts() -> None:
    started = utc(2025, 2, 23, 15, 0)  # 10:00 EST

    before = due_at(started, Due(13), EIGHT, NEW_YORK)
    on_the_day = due_at(started, Due(14), EIGHT, NEW_YORK)

    assert before == utc(2025, 3, 8, 13, 0)  # 08:00 EST, UTC-5
    assert on_the_day == utc(2025, 3, 9, 12, 0)  # 08:00 EDT, UTC-4
    local = on_the_day.astimezone(NEW_YORK)
    assert (local.date(), local.time()) == (date(2025, 3, 9), EIGHT)


def test_it_sends_at_eight_new_york_time_on_the_day_summer_time_ends() -> None:
    started = utc(2025, 10, 19, 14, 0)  # 10:00 EDT

    before = due_at(started, Due(13), EIGHT, NEW_YORK)
    on_the_day = due_at(started, Due(14), EIGHT, NEW_YORK)

    assert before == utc(2025, 11, 1, 12, 0)  # 08:00 EDT, UTC-4
    assert on_the_day == utc(2025, 11, 2, 13, 0)  # 08:00 EST, UTC-5
    local = on_the_day.astimezone(NEW_YORK)
    assert (local.date(), local.time()) == (date(2025, 11, 2), EIGHT)


def test_it_sends_at_eight_london_time_across_the_start_of_british_summer_time() -> None:
    started = utc(2025, 3, 16, 9, 0)  # 09:00 GMT

    assert due_at(started, Due(13), EIGHT, LONDON) == utc(2025, 3, 29, 8, 0)
    assert due_at(started, Due(14), EIGHT, LONDON) == utc(2025, 3, 30, 7, 0)  # 08:00 BST


def test_it_counts_days_from_the_local_date_twelve_hours_behind_utc() -> None:
    started = utc(2025, 6, 1, 6, 0)  # still 31 May, 18:00, in UTC-12

    due = due_at(started, Due(14), EIGHT, UTC_MINUS_12)

    local = due.astimezone(UTC_MINUS_12)
    assert (local.date(), local.hour, local.minute) == (date(2025, 6, 14), 8, 0)
    assert due == utc(2025, 6, 14, 20, 0)


def test_it_counts_days_from_the_local_date_fourteen_hours_ahead_of_utc() -> None:
    started = utc(2025, 6, 1, 11, 0)  # already 2 June, 01:00, in Kiritimati

    due = due_at(started, Due(14), EIGHT, UTC_PLUS_14)

    local = due.astimezone(UTC_PLUS_14)
    assert (local.date(), local.hour, local.minute) == (date(2025, 6, 16), 8, 0)
    assert due == utc(2025, 6, 15, 18, 0)


def test_one_instant_is_a_different_local_day_at_each_end_of_the_world() -> None:
    started = utc(2025, 6, 1, 6, 0)  # 31 May in UTC-12, 1 June in UTC+14

    behind = due_at(started, Due(14), EIGHT, UTC_MINUS_12)
    ahead = due_at(started, Due(14), EIGHT, UTC_PLUS_14)

    assert behind.astimezone(UTC_MINUS_12).date() == date(2025, 6, 14)
    assert ahead.astimezone(UTC_PLUS_14).date() == date(2025, 6, 15)
    assert (ahead, behind) == (utc(2025, 6, 14, 18, 0), utc(2025, 6, 14, 20, 0))


def test_a_late_evening_enrollment_counts_from_that_local_day_not_from_utc() -> None:
    started = utc(2025, 1, 11, 4, 30)  # 23:30 EST on 10 January

    due = due_at(started, Due(1), EIGHT, NEW_YORK)

    assert due == utc(2025, 1, 11, 13, 0)  # 08:00 EST on 11 January, 8.5 hours later


def test_a_send_time_skipped_by_spring_forward_moves_forward_by_the_gap() -> None:
    started = utc(2025, 2, 23, 15, 0)

    due = due_at(started, Due(14), time(2, 30), NEW_YORK)

    assert due == utc(2025, 3, 9, 7, 30)  # 03:30 EDT: 02:30 does not exist that night
    assert due.astimezone(NEW_YORK).time() == time(3, 30)


def test_a_send_time_repeated_by_fall_back_is_taken_at_its_first_occurrence() -> None:
    due = local_instant(date(2025, 11, 2), time(1, 30), NEW_YORK)

    assert due == utc(2025, 11, 2, 5, 30)  # 01:30 EDT; 01:30 EST would be 06:30 UTC


def test_local_instant_gives_an_aware_utc_datetime() -> None:
    instant = local_instant(date(2025, 7, 4), EIGHT, NEW_YORK)

    assert instant.tzinfo is UTC
    assert instant == utc(2025, 7, 4, 12, 0)


@pytest.mark.parametrize(
    ("previous", "every_days", "expected"),
    [
        (None, 14, Due(None)),
        (Due(None), 14, Due(14)),
        (Due(42), 14, Due(56)),
        (Due(30), 14, Due(44)),
        (Due(14), 7, Due(21)),
    ],
)
def test_a_lesson_without_a_due_time_comes_n_days_after_the_one_before(
    previous: Due | None, every_days: int, expected: Due
) -> None:
    assert following_due(previous, every_days) == expected

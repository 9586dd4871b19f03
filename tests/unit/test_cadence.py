"""courses/cadence.py: when each lesson falls due, in the reader's own time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from courses.cadence import (
    Cadence,
    CadenceError,
    Due,
    due_instants,
    lesson_dates,
    local_instant,
    parse_due,
    parse_send_time,
    parse_weekday,
)

NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
UTC_MINUS_12 = ZoneInfo("Etc/GMT+12")  # POSIX sign: "GMT+12" is twelve hours behind UTC
UTC_PLUS_14 = ZoneInfo("Pacific/Kiritimati")
EIGHT = time(8, 0)
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def wall_clock(instant: datetime, zone: ZoneInfo) -> tuple[date, int, int]:
    """The reader's local date, hour and minute at `instant`."""
    local = instant.astimezone(zone)
    return local.date(), local.hour, local.minute


def days(*pairs: tuple[int, int], year: int = 2025) -> list[date]:
    return [date(year, month, day) for month, day in pairs]


# Reading what authors write


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("on confirmation", None),
        ("On  Confirmation ", None),
        ("day 14", 14),
        ("Day   7", 7),
        ("day 1", 1),
        ("day 0", 0),
        ("day 9999", 9999),
    ],
)
def test_it_reads_a_due_time(text: str, day: int | None) -> None:
    assert parse_due(text) == Due(day)


@pytest.mark.parametrize(
    "text", ["day -1", "14", "day 14.5", "week 2", "", "day 10000", "on signup", "day"]
)
def test_it_rejects_a_due_time_and_says_what_it_accepts(text: str) -> None:
    with pytest.raises(ValueError, match="is not a due time") as caught:
        parse_due(text)

    assert str(caught.value) == f'"{text}" is not a due time: write "on confirmation" or "day N"'


def test_a_due_time_prints_the_way_an_author_writes_it() -> None:
    assert str(Due(None)) == "on confirmation"
    assert str(Due(14)) == "day 14"
    assert str(Due(0)) == "day 0"
    assert Due(None).on_confirmation
    assert not Due(14).on_confirmation
    assert not Due(0).on_confirmation


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


@pytest.mark.parametrize(
    ("text", "number"),
    [("monday", MON), ("Mon", MON), (" sunday ", SUN), ("SAT", SAT), ("Thursday", THU)],
)
def test_it_reads_a_weekday_by_its_name_or_abbreviation(text: str, number: int) -> None:
    assert parse_weekday(text) == number


@pytest.mark.parametrize("text", ["thurs", "funday", "", "1", "lundi"])
def test_it_rejects_a_weekday_and_shows_the_expected_form(text: str) -> None:
    with pytest.raises(ValueError, match="is not a weekday") as caught:
        parse_weekday(text)

    assert str(caught.value) == (
        f'"{text}" is not a weekday: write monday, tuesday, ... or mon, tue, ...'
    )


@pytest.mark.parametrize(
    ("cadence", "kind"),
    [
        (Cadence(every_days=14), "every 14 days"),
        (Cadence(days_of_month=(1, 15)), "on days 1, 15 of the month"),
        (Cadence(weekdays=(MON, THU)), "on Monday, Thursday"),
        (Cadence(), "on each lesson's own day"),
    ],
)
def test_a_cadence_describes_its_rhythm_in_words(cadence: Cadence, kind: str) -> None:
    assert cadence.kind == kind


def test_a_cadence_by_default_sends_the_first_lesson_at_once_and_the_rest_at_eight() -> None:
    cadence = Cadence()

    assert cadence.first_on_confirmation is True
    assert cadence.send_at == EIGHT
    assert (cadence.every_days, cadence.days_of_month, cadence.weekdays) == (None, (), ())
    assert cadence.skip_weekends is False
    assert cadence.quiet_dates == frozenset()


# Lesson dates: offsets written in each lesson


def test_without_a_rhythm_each_lesson_comes_on_its_own_day_after_enrollment() -> None:
    start = date(2025, 3, 3)

    dates = lesson_dates(Cadence(), [None, Due(3), Due(10)], start)

    assert dates == [None, *days((3, 6), (3, 13))]


def test_without_a_rhythm_the_first_lesson_may_wait_its_own_days() -> None:
    dates = lesson_dates(Cadence(), [Due(2), Due(5)], date(2025, 3, 3))

    assert dates == days((3, 5), (3, 8))


def test_a_first_lesson_due_on_day_0_goes_at_the_send_time_of_the_enrollment_day() -> None:
    dates = lesson_dates(Cadence(), [Due(0), Due(1)], date(2025, 3, 3))

    assert dates == days((3, 3), (3, 4))


def test_a_course_without_lessons_has_no_dates() -> None:
    assert lesson_dates(Cadence(every_days=7), [], date(2025, 3, 3)) == []


# Lesson dates: every N days


@pytest.mark.parametrize("first", [None, Due(None)])
def test_every_n_days_counts_from_the_enrollment_day_after_a_welcome_sent_at_once(
    first: Due | None,
) -> None:
    dates = lesson_dates(Cadence(every_days=14), [first, None, None, None], date(2025, 3, 3))

    assert dates == [None, *days((3, 17), (3, 31), (4, 14))]


def test_every_n_days_with_the_first_lesson_next_day_starts_the_day_after_enrollment() -> None:
    cadence = Cadence(every_days=7, first_on_confirmation=False)

    dates = lesson_dates(cadence, [None, None, None], date(2025, 3, 3))

    assert dates == days((3, 4), (3, 11), (3, 18))


# Lesson dates: days of the month


def test_days_of_the_month_come_in_order_starting_after_the_enrollment_day() -> None:
    cadence = Cadence(days_of_month=(1, 15))

    dates = lesson_dates(cadence, [None, None, None, None], date(2025, 1, 15))

    assert dates == [None, *days((2, 1), (2, 15), (3, 1))]


def test_the_31st_falls_on_the_last_day_of_a_shorter_month() -> None:
    cadence = Cadence(days_of_month=(31,))

    dates = lesson_dates(cadence, [None] * 6, date(2027, 1, 5))

    assert dates == [None, *days((1, 31), (2, 28), (3, 31), (4, 30), (5, 31), year=2027)]


def test_the_31st_falls_on_the_29th_of_february_in_a_leap_year() -> None:
    cadence = Cadence(days_of_month=(31,))

    dates = lesson_dates(cadence, [None] * 3, date(2027, 12, 31))

    assert dates == [None, date(2028, 1, 31), date(2028, 2, 29)]


@pytest.mark.parametrize(("year", "last"), [(2027, 28), (2028, 29)])
def test_the_29th_of_february_exists_only_in_a_leap_year(year: int, last: int) -> None:
    dates = lesson_dates(Cadence(days_of_month=(29,)), [None, None, None], date(year, 1, 30))

    assert dates == [None, date(year, 2, last), date(year, 3, 29)]


def test_two_wanted_days_past_the_end_of_february_give_it_one_lesson_not_two() -> None:
    cadence = Cadence(days_of_month=(30, 31))

    dates = lesson_dates(cadence, [None] * 4, date(2027, 2, 1))

    assert dates == [None, *days((2, 28), (3, 30), (3, 31), year=2027)]


def test_days_of_the_month_with_the_first_lesson_next_day_wait_for_the_first_wanted_day() -> None:
    cadence = Cadence(days_of_month=(1,), first_on_confirmation=False)

    dates = lesson_dates(cadence, [None, None], date(2025, 3, 1))

    assert dates == days((4, 1), (5, 1))


# Lesson dates: weekdays


def test_weekdays_come_in_turn_starting_after_the_enrollment_day() -> None:
    cadence = Cadence(weekdays=(MON, THU))

    dates = lesson_dates(cadence, [None] * 5, date(2025, 3, 3))  # a Monday

    assert dates == [None, *days((3, 6), (3, 10), (3, 13), (3, 17))]
    assert [day.weekday() for day in dates[1:] if day] == [THU, MON, THU, MON]


def test_weekdays_with_the_first_lesson_next_day_skip_the_enrollment_day_itself() -> None:
    cadence = Cadence(weekdays=(WED,), first_on_confirmation=False)

    dates = lesson_dates(cadence, [None, None], date(2025, 3, 5))  # a Wednesday

    assert dates == days((3, 12), (3, 19))


# Weekends and quiet dates push the rest of the course along


def test_a_lesson_on_a_skipped_weekend_moves_to_monday_and_the_rest_move_with_it() -> None:
    cadence = Cadence(every_days=7, skip_weekends=True)

    dates = lesson_dates(cadence, [None] * 4, date(2025, 3, 1))  # a Saturday

    assert dates == [None, *days((3, 10), (3, 17), (3, 24))]
    assert {day.weekday() for day in dates[1:] if day} == {MON}


def test_a_daily_course_that_skips_weekends_drops_nothing_and_doubles_no_day() -> None:
    cadence = Cadence(every_days=1, skip_weekends=True)

    dates = lesson_dates(cadence, [None] * 8, date(2025, 3, 6))  # a Thursday

    assert dates == [None, *days((3, 7), (3, 10), (3, 11), (3, 12), (3, 13), (3, 14), (3, 17))]


def test_quiet_dates_move_a_lesson_to_the_next_free_day_and_the_rest_follow() -> None:
    quiet = frozenset(days((12, 24), (12, 25), (12, 26)))
    cadence = Cadence(every_days=1, quiet_dates=quiet)

    dates = lesson_dates(cadence, [None] * 5, date(2025, 12, 22))

    assert dates == [None, *days((12, 23), (12, 27), (12, 28), (12, 29))]


def test_a_quiet_date_shifts_every_later_lesson_of_a_fortnightly_course() -> None:
    cadence = Cadence(every_days=14, quiet_dates=frozenset([date(2025, 12, 29)]))

    dates = lesson_dates(cadence, [None] * 4, date(2025, 12, 15))

    assert dates == [None, date(2025, 12, 30), date(2026, 1, 13), date(2026, 1, 27)]


def test_a_skipped_weekend_shifts_lessons_that_name_their_own_days() -> None:
    cadence = Cadence(skip_weekends=True)

    dates = lesson_dates(cadence, [None, Due(5), Due(6), Due(10)], date(2025, 3, 3))

    # Day 5 is a Saturday: it goes on Monday, and days 6 and 10 keep their distance.
    assert dates == [None, *days((3, 10), (3, 11), (3, 17))]


def test_a_wanted_day_of_the_month_on_a_weekend_moves_to_the_monday_after() -> None:
    cadence = Cadence(days_of_month=(1,), skip_weekends=True)

    dates = lesson_dates(cadence, [None] * 5, date(2025, 2, 10))

    # 1 March and 1 June 2025 are a Saturday and a Sunday.
    assert dates == [None, *days((3, 3), (4, 1), (5, 1), (6, 2))]


def test_a_lesson_moved_off_a_quiet_day_takes_the_next_slot_and_never_shares_a_day() -> None:
    cadence = Cadence(days_of_month=(1, 2), quiet_dates=frozenset([date(2026, 1, 1)]))

    dates = lesson_dates(cadence, [None] * 4, date(2025, 12, 20))

    assert dates == [None, date(2026, 1, 2), date(2026, 2, 1), date(2026, 2, 2)]
    assert len(set(dates)) == len(dates)


def test_a_quiet_monday_moves_a_weekly_lesson_to_tuesday_only_that_week() -> None:
    cadence = Cadence(weekdays=(MON,), quiet_dates=frozenset([date(2025, 12, 29)]))

    dates = lesson_dates(cadence, [None] * 4, date(2025, 12, 17))

    assert dates == [None, date(2025, 12, 22), date(2025, 12, 30), date(2026, 1, 5)]


def test_weekend_and_quiet_rules_never_hold_back_the_welcome_sent_at_once() -> None:
    cadence = Cadence(every_days=7, skip_weekends=True, quiet_dates=frozenset([date(2025, 3, 1)]))

    assert lesson_dates(cadence, [None, None], date(2025, 3, 1)) == [None, date(2025, 3, 10)]


@pytest.mark.parametrize(
    "cadence",
    [
        Cadence(every_days=1, skip_weekends=True),
        Cadence(every_days=3, quiet_dates=frozenset(days((12, 24), (12, 25), year=2027))),
        Cadence(days_of_month=(1, 15, 31), skip_weekends=True),
        Cadence(days_of_month=(29, 30, 31)),
        Cadence(weekdays=(FRI, SAT, SUN), skip_weekends=True),
        Cadence(weekdays=(MON,), first_on_confirmation=False),
    ],
    ids=[
        "daily-weekdays",
        "every-3-quiet",
        "month-days-weekdays",
        "month-ends",
        "fri-sat-sun",
        "mondays-next-day",
    ],
)
def test_whatever_the_start_every_lesson_gets_its_own_allowed_day_after_it(
    cadence: Cadence,
) -> None:
    for offset in range(0, 400, 3):
        start = date(2027, 1, 1) + timedelta(days=offset)

        dates = lesson_dates(cadence, [None] * 8, start)

        dated = [day for day in dates if day is not None]
        assert len(dated) == (7 if cadence.first_on_confirmation else 8)
        assert dated == sorted(set(dated))
        assert dated[0] > start
        assert all(cadence.allowed(day) for day in dated)


# A cadence that can never be kept


def test_a_cadence_of_weekends_only_that_skips_weekends_is_impossible() -> None:
    cadence = Cadence(weekdays=(SAT, SUN), skip_weekends=True)

    with pytest.raises(CadenceError) as caught:
        lesson_dates(cadence, [None, None], date(2025, 3, 3))

    assert str(caught.value) == "it sends only on weekends, and skips weekends"


def test_a_cadence_of_a_weekday_and_a_weekend_day_that_skips_weekends_still_works() -> None:
    cadence = Cadence(weekdays=(FRI, SAT), skip_weekends=True)

    dates = lesson_dates(cadence, [None] * 4, date(2025, 3, 3))

    # Saturday's lesson moves to Monday, which then counts as the week's second lesson.
    assert dates == [None, *days((3, 7), (3, 10), (3, 14))]


def test_a_cadence_whose_every_day_is_quiet_is_impossible() -> None:
    start = date(2025, 3, 3)
    quiet = frozenset(start + timedelta(days=offset) for offset in range(1, 600))

    with pytest.raises(CadenceError) as caught:
        lesson_dates(Cadence(every_days=1, quiet_dates=quiet), [None, None], start)

    assert str(caught.value) == (
        "no day is allowed to send on: weekends and quiet dates cover them all"
    )


def test_a_lesson_without_a_day_in_a_course_without_a_rhythm_cannot_be_dated() -> None:
    with pytest.raises(CadenceError) as caught:
        lesson_dates(Cadence(), [None, Due(3), None], date(2025, 3, 3))

    assert str(caught.value) == "lesson 3 says no `due: day N` and the course has no rhythm"


# Instants: the send time in the reader's zone, across DST and at the ends of the world


def test_a_lesson_due_on_confirmation_is_due_the_moment_the_reader_enrolled() -> None:
    started = datetime(2025, 3, 1, 12, 23, 45, tzinfo=NEW_YORK)

    [due] = due_instants(Cadence(), [Due(None)], started, NEW_YORK)

    assert due == started
    assert due.tzinfo is UTC


def test_offsets_keep_eight_new_york_time_on_the_day_summer_time_starts() -> None:
    started = utc(2025, 2, 23, 15, 0)  # 10:00 EST

    instants = due_instants(Cadence(), [None, Due(13), Due(14)], started, NEW_YORK)

    assert instants == [started, utc(2025, 3, 8, 13, 0), utc(2025, 3, 9, 12, 0)]
    assert wall_clock(instants[1], NEW_YORK) == (date(2025, 3, 8), 8, 0)  # EST, UTC-5
    assert wall_clock(instants[2], NEW_YORK) == (date(2025, 3, 9), 8, 0)  # EDT, UTC-4


def test_every_seven_days_keeps_eight_new_york_time_across_the_end_of_summer_time() -> None:
    started = utc(2025, 10, 19, 14, 0)  # 10:00 EDT

    instants = due_instants(Cadence(every_days=7), [None] * 4, started, NEW_YORK)

    assert instants == [
        started,
        utc(2025, 10, 26, 12, 0),  # 08:00 EDT
        utc(2025, 11, 2, 13, 0),  # 08:00 EST: the clocks went back that night
        utc(2025, 11, 9, 13, 0),
    ]
    assert [wall_clock(instant, NEW_YORK)[1:] for instant in instants[1:]] == [(8, 0)] * 3


def test_days_of_the_month_keep_eight_new_york_time_across_the_start_of_summer_time() -> None:
    started = utc(2025, 3, 1, 15, 0)

    instants = due_instants(Cadence(days_of_month=(8, 9)), [None] * 3, started, NEW_YORK)

    assert instants == [started, utc(2025, 3, 8, 13, 0), utc(2025, 3, 9, 12, 0)]
    assert wall_clock(instants[2], NEW_YORK) == (date(2025, 3, 9), 8, 0)


def test_days_of_the_month_keep_eight_new_york_time_across_the_end_of_summer_time() -> None:
    started = utc(2025, 10, 20, 14, 0)

    instants = due_instants(Cadence(days_of_month=(1, 2)), [None] * 3, started, NEW_YORK)

    assert instants == [started, utc(2025, 11, 1, 12, 0), utc(2025, 11, 2, 13, 0)]
    assert wall_clock(instants[1], NEW_YORK) == (date(2025, 11, 1), 8, 0)
    assert wall_clock(instants[2], NEW_YORK) == (date(2025, 11, 2), 8, 0)


def test_a_daily_course_starting_next_day_keeps_eight_london_time_into_summer_time() -> None:
    started = utc(2025, 3, 28, 9, 0)  # 09:00 GMT on a Friday
    cadence = Cadence(every_days=1, first_on_confirmation=False)

    instants = due_instants(cadence, [None] * 3, started, LONDON)

    assert instants == [utc(2025, 3, 29, 8, 0), utc(2025, 3, 30, 7, 0), utc(2025, 3, 31, 7, 0)]
    assert [wall_clock(instant, LONDON) for instant in instants] == [
        (date(2025, 3, 29), 8, 0),
        (date(2025, 3, 30), 8, 0),  # the first morning of British Summer Time
        (date(2025, 3, 31), 8, 0),
    ]


def test_weekend_lessons_keep_eight_london_time_as_summer_time_ends() -> None:
    started = utc(2025, 10, 22, 9, 0)  # a Wednesday

    instants = due_instants(Cadence(weekdays=(SAT, SUN)), [None] * 3, started, LONDON)

    assert instants == [started, utc(2025, 10, 25, 7, 0), utc(2025, 10, 26, 8, 0)]
    assert wall_clock(instants[1], LONDON) == (date(2025, 10, 25), 8, 0)  # BST
    assert wall_clock(instants[2], LONDON) == (date(2025, 10, 26), 8, 0)  # GMT


def test_offsets_keep_eight_london_time_across_the_start_of_summer_time() -> None:
    started = utc(2025, 3, 16, 9, 0)  # 09:00 GMT

    instants = due_instants(Cadence(), [None, Due(13), Due(14)], started, LONDON)

    assert instants[1:] == [utc(2025, 3, 29, 8, 0), utc(2025, 3, 30, 7, 0)]


def test_every_n_days_counts_from_the_local_date_twelve_hours_behind_utc() -> None:
    started = utc(2025, 6, 1, 6, 0)  # still 31 May, 18:00, in UTC-12

    [_, due] = due_instants(Cadence(every_days=14), [None, None], started, UTC_MINUS_12)

    assert wall_clock(due, UTC_MINUS_12) == (date(2025, 6, 14), 8, 0)
    assert due == utc(2025, 6, 14, 20, 0)


def test_the_first_of_the_month_twelve_hours_behind_utc_is_the_readers_next_morning() -> None:
    started = utc(2025, 6, 1, 6, 0)  # already 1 June in UTC, 31 May for the reader

    [_, due] = due_instants(Cadence(days_of_month=(1,)), [None, None], started, UTC_MINUS_12)

    assert wall_clock(due, UTC_MINUS_12) == (date(2025, 6, 1), 8, 0)
    assert due == utc(2025, 6, 1, 20, 0)


def test_every_n_days_counts_from_the_local_date_fourteen_hours_ahead_of_utc() -> None:
    started = utc(2025, 6, 1, 11, 0)  # already 2 June, 01:00, in Kiritimati

    [_, due] = due_instants(Cadence(every_days=14), [None, None], started, UTC_PLUS_14)

    assert wall_clock(due, UTC_PLUS_14) == (date(2025, 6, 16), 8, 0)
    assert due == utc(2025, 6, 15, 18, 0)


def test_a_monday_lesson_fourteen_hours_ahead_of_utc_goes_on_a_sunday_in_utc() -> None:
    started = utc(2025, 6, 1, 11, 0)  # Monday 2 June, 01:00, in Kiritimati

    [_, due] = due_instants(Cadence(weekdays=(MON,)), [None, None], started, UTC_PLUS_14)

    assert wall_clock(due, UTC_PLUS_14) == (date(2025, 6, 9), 8, 0)
    assert due == utc(2025, 6, 8, 18, 0)
    assert (due.astimezone(UTC_PLUS_14).weekday(), due.weekday()) == (MON, SUN)


def test_one_instant_is_a_different_local_day_at_each_end_of_the_world() -> None:
    started = utc(2025, 6, 1, 6, 0)  # 31 May in UTC-12, 1 June in UTC+14
    cadence = Cadence(every_days=14)

    [_, behind] = due_instants(cadence, [None, None], started, UTC_MINUS_12)
    [_, ahead] = due_instants(cadence, [None, None], started, UTC_PLUS_14)

    assert wall_clock(behind, UTC_MINUS_12) == (date(2025, 6, 14), 8, 0)
    assert wall_clock(ahead, UTC_PLUS_14) == (date(2025, 6, 15), 8, 0)
    assert (ahead, behind) == (utc(2025, 6, 14, 18, 0), utc(2025, 6, 14, 20, 0))


def test_a_late_evening_enrollment_counts_from_that_local_day_not_from_utc() -> None:
    started = utc(2025, 1, 11, 4, 30)  # 23:30 EST on 10 January

    [_, due] = due_instants(Cadence(), [None, Due(1)], started, NEW_YORK)

    assert due == utc(2025, 1, 11, 13, 0)  # 08:00 EST on 11 January, 8.5 hours later


def test_a_first_lesson_on_day_0_goes_at_the_send_time_later_that_day() -> None:
    started = utc(2025, 3, 3, 12, 0)  # 07:00 EST

    instants = due_instants(Cadence(), [Due(0), Due(7)], started, NEW_YORK)

    assert instants == [utc(2025, 3, 3, 13, 0), utc(2025, 3, 10, 12, 0)]


def test_the_send_time_of_a_course_is_kept_in_the_readers_zone() -> None:
    started = utc(2025, 7, 1, 12, 0)
    cadence = Cadence(every_days=7, send_at=time(18, 30))

    [_, due] = due_instants(cadence, [None, None], started, NEW_YORK)

    assert wall_clock(due, NEW_YORK) == (date(2025, 7, 8), 18, 30)
    assert due == utc(2025, 7, 8, 22, 30)


def test_a_send_time_skipped_by_spring_forward_moves_forward_by_the_gap() -> None:
    started = utc(2025, 2, 23, 15, 0)

    [_, due] = due_instants(Cadence(send_at=time(2, 30)), [None, Due(14)], started, NEW_YORK)

    assert due == utc(2025, 3, 9, 7, 30)  # 03:30 EDT: 02:30 does not exist that night
    assert wall_clock(due, NEW_YORK) == (date(2025, 3, 9), 3, 30)


def test_a_send_time_repeated_by_fall_back_is_taken_at_its_first_occurrence() -> None:
    due = local_instant(date(2025, 11, 2), time(1, 30), NEW_YORK)

    assert due == utc(2025, 11, 2, 5, 30)  # 01:30 EDT; 01:30 EST would be 06:30 UTC


def test_local_instant_gives_an_aware_utc_datetime() -> None:
    instant = local_instant(date(2025, 7, 4), EIGHT, NEW_YORK)

    assert instant.tzinfo is UTC
    assert instant == utc(2025, 7, 4, 12, 0)


def test_due_instants_are_utc_whatever_zone_the_enrollment_time_was_given_in() -> None:
    started = datetime(2025, 7, 1, 20, 0, tzinfo=timezone(timedelta(hours=2)))

    instants = due_instants(Cadence(every_days=7), [None, None], started, NEW_YORK)

    assert [instant.tzinfo for instant in instants] == [UTC, UTC]
    assert instants == [utc(2025, 7, 1, 18, 0), utc(2025, 7, 8, 12, 0)]

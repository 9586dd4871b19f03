"""A slower pace spaces a reader's lessons further apart, for every kind of rhythm."""

from __future__ import annotations

from datetime import date

from courses.cadence import Cadence, Due, lesson_dates

START = date(2026, 3, 2)  # a Monday


def test_every_n_days_at_half_pace_is_every_2n_days() -> None:
    cadence = Cadence(every_days=14, pace=2)
    assert lesson_dates(cadence, [None, None, None], START) == [
        None,
        date(2026, 3, 30),
        date(2026, 4, 27),
    ]


def test_days_of_the_month_at_half_pace_take_every_other_date() -> None:
    cadence = Cadence(days_of_month=(1, 15), pace=2)
    assert lesson_dates(cadence, [None, None, None], START) == [
        None,
        date(2026, 4, 1),
        date(2026, 5, 1),
    ]


def test_weekdays_at_a_third_of_the_pace_take_every_third() -> None:
    cadence = Cadence(weekdays=(0, 3), pace=3)  # Mondays and Thursdays
    assert lesson_dates(cadence, [None, None, None], START) == [
        None,
        date(2026, 3, 12),
        date(2026, 3, 23),
    ]


def test_a_lessons_own_day_is_stretched_too() -> None:
    cadence = Cadence(pace=2)
    dues = [Due(None), Due(3), Due(7)]
    assert lesson_dates(cadence, dues, START) == [None, date(2026, 3, 8), date(2026, 3, 16)]

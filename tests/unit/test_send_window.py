"""courses.cadence.window_start_after: when a late lesson may go."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from courses.cadence import Cadence, window_start_after

PARIS = ZoneInfo("Europe/Paris")
KIRITIMATI = ZoneInfo("Pacific/Kiritimati")
WINDOW = Cadence(every_days=14, send_at=time(8, 0), send_until=time(11, 0))


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_inside_the_window_a_lesson_goes_now() -> None:
    assert window_start_after(WINDOW, utc(2026, 3, 16, 8, 30), PARIS) is None  # 09:30 Paris


def test_before_the_window_it_waits_for_this_mornings_send_time() -> None:
    assert window_start_after(WINDOW, utc(2026, 3, 16, 5, 0), PARIS) == utc(2026, 3, 16, 7, 0)


def test_after_the_window_it_waits_for_tomorrows() -> None:
    assert window_start_after(WINDOW, utc(2026, 3, 16, 10, 0), PARIS) == utc(2026, 3, 17, 7, 0)


def test_the_next_window_is_on_an_allowed_day() -> None:
    cadence = Cadence(
        every_days=14,
        send_until=time(11, 0),
        skip_weekends=True,
        quiet_dates=frozenset({date(2026, 3, 23)}),
    )
    friday_evening = utc(2026, 3, 20, 18, 0)
    # Saturday and Sunday are skipped, Monday 23 March is quiet: Tuesday 08:00 in Paris.
    assert window_start_after(cadence, friday_evening, PARIS) == utc(2026, 3, 24, 7, 0)


def test_a_window_across_the_spring_change_opens_at_local_eight() -> None:
    # The night of 28-29 March 2026 Paris moves to summer time.
    assert window_start_after(WINDOW, utc(2026, 3, 28, 12, 0), PARIS) == utc(2026, 3, 29, 6, 0)


def test_a_reader_at_utc_plus_14_gets_their_own_morning() -> None:
    # 20:00 UTC on 1 March is 10:00 on 2 March in Kiritimati: inside the window.
    assert window_start_after(WINDOW, utc(2026, 3, 1, 20, 0), KIRITIMATI) is None
    assert window_start_after(WINDOW, utc(2026, 3, 1, 22, 0), KIRITIMATI) == utc(2026, 3, 2, 18, 0)


def test_without_a_window_end_any_hour_after_the_send_time_will_do() -> None:
    cadence = Cadence(every_days=14, skip_weekends=True)
    assert window_start_after(cadence, utc(2026, 3, 16, 22, 30), PARIS) is None  # 23:30
    # Past midnight a late lesson waits for the morning, never the small hours.
    assert window_start_after(cadence, utc(2026, 3, 16, 23, 0), PARIS) == utc(2026, 3, 17, 7, 0)
    saturday = utc(2026, 3, 21, 15, 0)
    assert window_start_after(cadence, saturday, PARIS) == utc(2026, 3, 23, 7, 0)

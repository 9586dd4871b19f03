"""The overview (is mail flowing, is anyone hurt), its live panel, the switch that stops all
sending, and the forward calendar of the next 7 days."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from flask.testing import FlaskClient
from sqlalchemy import insert, update

from core.clock import utcnow
from core.config import Settings
from core.db import session_scope
from core.models import (
    Broadcast,
    BroadcastStatus,
    BroadcastWave,
    Delivery,
    DeliveryStatus,
    Enrollment,
    EnrollmentState,
    Event,
    Subscriber,
    SubscriberStatus,
)
from courses.model import Catalog
from tasks import heartbeat, jobs
from tasks.reports import forward, overview
from tasks.switches import sending_stopped
from tests.support.broker import queued_sends
from tests.support.operators import form_token
from tests.support.readers import active_reader, many_due
from tests.support.worker import celery_worker


def with_status(count: int, status: DeliveryStatus, at: datetime, first: int) -> list[int]:
    """`count` deliveries to new readers, last changed at `at` with `status`."""
    ids = many_due(count, "welcome", at, first=first)
    with session_scope() as session:
        session.execute(
            update(Delivery).where(Delivery.id.in_(ids)).values(status=status, updated_at=at)
        )
    return ids


def complaints(count: int, at: datetime) -> None:
    rows = [
        {"provider": "sendgrid", "provider_event_id": f"spam-{at.timestamp()}-{n}",
         "type": "spamreport",
         "occurred_at": at, "received_at": at, "payload": {}}
        for n in range(count)
    ]  # fmt: skip
    with session_scope() as session:
        session.execute(insert(Event), rows)


def no_inline_code(page: str) -> None:
    """What a strict Content-Security-Policy would block: none of it on our pages."""
    assert "style=" not in page
    assert re.search(r"<script(?![^>]*\bsrc=)", page) is None, "an inline script"
    assert re.search(r"\son[a-z]+=", page) is None, "an inline event handler"


# -- letters per day and rates ----------------------------------------------------------


def test_letters_are_counted_per_day_by_outcome_over_the_last_30_days(
    admin: FlaskClient,
) -> None:
    now = utcnow()
    yesterday = now - timedelta(days=1)
    with_status(3, DeliveryStatus.DELIVERED, yesterday, first=0)
    with_status(1, DeliveryStatus.BOUNCED, yesterday, first=10)
    with_status(2, DeliveryStatus.FAILED, now, first=20)
    with_status(5, DeliveryStatus.DELIVERED, now - timedelta(days=45), first=30)  # too old
    with session_scope() as session:
        report = overview.overview(session, now)
    assert report.sends == {
        yesterday.date(): {"delivered": 3, "bounced": 1},
        now.date(): {"failed": 2},
    }
    assert report.went_out == 4, "failed letters never reached the provider"
    page = admin.get("/dashboard/")
    assert page.status_code == 200
    assert "Letters per day by outcome" in page.text
    assert f"<title>{yesterday:%d %b}: Delivered 3</title>" in page.text
    assert f"<title>{now:%d %b}: Failed 2</title>" in page.text


def test_complaints_past_gmails_lines_warn_then_alarm(admin: FlaskClient) -> None:
    now = utcnow()
    with_status(1000, DeliveryStatus.DELIVERED, now, first=0)
    complaints(1, now)
    with session_scope() as session:
        rates = {rate.label: rate for rate in overview.overview(session, now).rates}
    assert (rates["Complaints"].rate, rates["Complaints"].level) == (0.001, "warn")
    assert (rates["Delivered"].rate, rates["Delivered"].level) == (1.0, "muted")
    complaints(3, now - timedelta(days=2))
    page = admin.get("/dashboard/").text
    complained = re.search(r"<h3>Complaints</h3>\s*<p class=\"figure (\w+)\">([^<]+)</p>", page)
    assert complained is not None
    assert complained.groups() == ("alarm", "0.40%")
    assert "Gmail: aim under 0.1%, never reach 0.3%" in page
    bounced = re.search(r"<h3>Bounced</h3>\s*<p class=\"figure (\w+)\">([^<]+)</p>", page)
    assert bounced is not None
    assert bounced.groups() == ("ok", "0.00%")


def test_an_empty_overview_says_there_is_nothing_yet(admin: FlaskClient) -> None:
    page = admin.get("/dashboard/").text
    assert "No letters in the last 30 days." in page
    assert "—" in page, "rates of nothing are not 0%"
    no_inline_code(page)


# -- readers over time ------------------------------------------------------------------


def reader(n: int, **moments: Any) -> dict[str, Any]:
    return {"uid": f"r{n}", "email": f"r{n}@example.org", **moments}


def test_readers_by_status_are_worked_back_from_the_days_they_joined_and_left(
    db: None,
) -> None:
    now = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)
    day = timedelta(days=1)
    old = now - 100 * day
    rows = [
        # Active since long before the window.
        reader(1, status=SubscriberStatus.ACTIVE, created_at=old, confirmed_at=old),
        # Signed up 5 days ago, confirmed 3 days ago.
        reader(2, status=SubscriberStatus.ACTIVE, created_at=now - 5 * day,
               confirmed_at=now - 3 * day),
        # Was active, unsubscribed yesterday.
        reader(3, status=SubscriberStatus.UNSUBSCRIBED, created_at=old, confirmed_at=old,
               unsubscribed_at=now - day),
        # Signed up 2 days ago and has not confirmed.
        reader(4, status=SubscriberStatus.PENDING, created_at=now - 2 * day),
        # Complained today.
        reader(5, status=SubscriberStatus.COMPLAINED, created_at=old, confirmed_at=old,
               unsubscribed_at=now),
        # Added 4 days ago as active, with no confirmation time (an import, say).
        reader(6, status=SubscriberStatus.ACTIVE, created_at=now - 4 * day),
    ]  # fmt: skip
    with session_scope() as session:
        session.execute(insert(Subscriber), rows)
        series = overview.readers_over_time(session, overview.window_days(now, 7)[1], now)
    assert series.days[0] == date(2026, 5, 14)
    # Days, oldest first:   14 15 16 17 18 19 20
    assert series.by_status == {
        "pending": [0, 1, 1, 0, 1, 1, 1],
        "active": [3, 3, 4, 5, 5, 4, 3],
        "left": [0, 0, 0, 0, 0, 1, 2],
    }
    assert series.now[SubscriberStatus.ACTIVE] == 3
    assert (series.joined, series.confirmed, series.left) == (3, 2, 2)
    assert series.left_in_window == {
        SubscriberStatus.UNSUBSCRIBED: 1,
        SubscriberStatus.COMPLAINED: 1,
    }


# -- the switch -------------------------------------------------------------------------


def test_stopping_sending_from_the_dashboard_makes_the_tick_hold_due_lessons(
    admin: FlaskClient, catalog: Catalog
) -> None:
    active_reader(catalog, utcnow() - timedelta(minutes=5))
    token = form_token(admin)
    stopped = admin.post(
        "/dashboard/sending/stop", data={"csrf_token": token, "reason": "provider outage"}
    )
    assert stopped.status_code == 302
    assert stopped.headers["Location"] == "/dashboard/"
    with session_scope() as session:
        switch = sending_stopped(session)
        assert switch is not None
        assert (switch.set_by, switch.reason) == ("admin@example.org", "provider outage")
    held = jobs.tick.run()
    assert (held["held"], held["claimed"]) == (1, 0)
    page = admin.get("/dashboard/").text
    assert "Sending is stopped. Due letters wait, untouched, until you resume." in page
    assert "by admin@example.org" in page
    assert "“provider outage”" in page
    assert "Resume sending" in page
    resumed = admin.post("/dashboard/sending/resume", data={"csrf_token": token})
    assert resumed.status_code == 302
    assert "held back while it was stopped, queued again: 0." in admin.get("/dashboard/").text
    assert jobs.tick.run()["claimed"] == 1


def test_letters_held_while_sending_was_stopped_are_queued_when_it_resumes(
    admin: FlaskClient, settings: Settings
) -> None:
    token = form_token(admin)
    admin.post("/dashboard/sending/stop", data={"csrf_token": token})
    held = many_due(3, "welcome", utcnow())  # queued, and left queued by the workers
    admin.post("/dashboard/sending/resume", data={"csrf_token": token})
    assert "held back while it was stopped, queued again: 3." in admin.get("/dashboard/").text
    assert queued_sends(settings) == [held]


def test_stopping_twice_keeps_who_stopped_it_first(admin: FlaskClient, viewer: FlaskClient) -> None:
    token = form_token(admin)
    admin.post("/dashboard/sending/stop", data={"csrf_token": token, "reason": "first"})
    admin.post("/dashboard/sending/stop", data={"csrf_token": token, "reason": "second"})
    page = admin.get("/dashboard/").text
    assert "Sending was already stopped by admin@example.org. Nothing changed." in page
    assert "“first”" in page
    assert "“second”" not in page
    # A viewer sees the state, but no form to change it.
    seen = viewer.get("/dashboard/").text
    assert "by admin@example.org" in seen
    assert "Resume sending" not in seen
    assert "Stop all sending" not in seen


def test_a_viewer_cannot_stop_sending(viewer: FlaskClient) -> None:
    answer = viewer.post("/dashboard/sending/stop", data={"csrf_token": form_token(viewer)})
    assert answer.status_code == 403
    with session_scope() as session:
        assert sending_stopped(session) is None


# -- the live panel ---------------------------------------------------------------------


def test_each_tick_records_when_it_finished_and_how_long_it_took(
    admin: FlaskClient, settings: Any
) -> None:
    before = admin.get("/dashboard/overview/live").text
    assert "None yet" in before
    started = utcnow()
    jobs.tick.run()
    tick = heartbeat.last_tick(heartbeat.client(settings.redis_url))
    assert tick is not None
    assert started <= tick.finished_at <= utcnow()
    assert not tick.late(utcnow())
    after = admin.get("/dashboard/overview/live").text
    assert re.search(r'<p class="figure ok">\d+ s ago</p>', after)
    assert f"took {tick.seconds:.2f} s." in after
    # Minutes later with no tick since, the panel warns.
    with time_machine.travel(utcnow() + timedelta(minutes=4)):
        late = admin.get("/dashboard/overview/live").text
    assert '<p class="figure warn">4 min ago</p>' in late
    assert "is beat running?" in late


def test_the_live_panel_shows_the_queue_and_that_no_worker_answers(
    admin: FlaskClient, settings: Any
) -> None:
    jobs.send_batch.delay([1])
    jobs.send_batch.delay([2])
    page = admin.get("/dashboard/").text
    assert 'hx-get="/dashboard/overview/live"' in page
    assert 'hx-trigger="load, every 5s"' in page, "the workers' count is asked for at once"
    assert "Asking…" in page, "the full page does not wait for the ping"
    live = admin.get("/dashboard/overview/live").text
    assert re.search(r"<h2>Queue</h2>\s*<p class=\"figure\">2</p>", live)
    assert re.search(r"<h2>Workers</h2>\s*<p class=\"figure alarm\">0</p>", live)
    assert "No worker answered" in live
    # The answer is kept for a few seconds: the next full page shows it without asking.
    assert heartbeat.live_workers(heartbeat.client(settings.redis_url), wait=False) == 0
    assert 'hx-trigger="every 5s"' in admin.get("/dashboard/").text


@pytest.mark.worker
def test_the_live_panel_counts_a_running_worker(admin: FlaskClient) -> None:
    with celery_worker("tend-overview"):
        live = admin.get("/dashboard/overview/live").text
    assert re.search(r"<h2>Workers</h2>\s*<p class=\"figure ok\">1</p>", live)
    assert "worker answered a moment ago" in live


def test_the_live_panel_needs_a_login(client: FlaskClient) -> None:
    answer = client.get("/dashboard/overview/live")
    assert answer.status_code == 302
    assert "/dashboard/login" in answer.headers["Location"]


# -- the next 7 days --------------------------------------------------------------------

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # a Saturday; an issue is dated 1 December


def due_at(subscriber_id: int, when: datetime, state: EnrollmentState | None = None) -> None:
    values: dict[str, Any] = {"next_due_at": when}
    if state is not None:
        values["state"] = state
    with session_scope() as session:
        session.execute(
            update(Enrollment).where(Enrollment.subscriber_id == subscriber_id).values(**values)
        )


def readers_across_the_world(catalog: Catalog) -> None:
    def make(name: str, zone: str) -> int:
        return active_reader(catalog, NOW - timedelta(days=3), f"{name}@example.org", zone)[0]

    # 08:00 on Monday 30 November in Tokyo is 23:00 UTC on Sunday 29.
    due_at(make("tokyo", "Asia/Tokyo"), datetime(2026, 11, 29, 23, 0, tzinfo=UTC))
    # 08:00 on Sunday 29 November in New York is 13:00 UTC.
    due_at(make("newyork", "America/New_York"), datetime(2026, 11, 29, 13, 0, tzinfo=UTC))
    due_at(make("evening", "UTC"), datetime(2026, 11, 30, 20, 0, tzinfo=UTC))
    due_at(make("paused", "UTC"), NOW + timedelta(days=1), EnrollmentState.PAUSED)
    due_at(make("later", "UTC"), NOW + timedelta(days=10))
    due_at(make("overdue", "UTC"), NOW - timedelta(hours=1))
    with session_scope() as session:  # a reader who left is on no list and gets nothing
        session.execute(
            update(Subscriber)
            .where(Subscriber.email == "later@example.org")
            .values(status=SubscriberStatus.UNSUBSCRIBED)
        )


def test_the_calendar_counts_next_lessons_and_issues_by_day_and_local_time(
    admin: FlaskClient, catalog: Catalog
) -> None:
    readers_across_the_world(catalog)
    with session_scope() as session:
        plan = forward.forward(session, catalog, NOW)
    sunday, monday, tuesday = date(2026, 11, 29), date(2026, 11, 30), date(2026, 12, 1)
    assert plan.days[0] == NOW.date()
    assert len(plan.days) == 7
    assert plan.lessons.cells == {
        sunday: {"night": 0, "morning": 2, "afternoon": 0, "evening": 0},
        monday: {"night": 0, "morning": 0, "afternoon": 0, "evening": 1},
    }
    assert plan.by_course == {"softening-sessions": 3}
    assert plan.overdue == 1
    # The issue of 1 December at 08:00 local: Tokyo's morning is still 30 November in UTC.
    assert plan.issues.get(monday, "morning") == 1
    assert plan.issues.get(tuesday, "morning") == 4  # New York and three in UTC
    (issue,) = plan.plans
    assert (issue.key, issue.readers, issue.sending) == (
        "remember-and-reclaim/naming-the-weather", 5, False
    )  # fmt: skip
    assert plan.short_courses == []
    with time_machine.travel(NOW):
        page = admin.get("/dashboard/calendar").text
    assert "1 lesson is\ndue already" in page
    assert "Letters due in the next 7 days" in page
    assert "Every course spaces its lessons a week or more apart" in page
    assert "Naming the Weather" in page or issue.subject in page
    no_inline_code(page)


def test_zones_whose_wave_has_gone_are_not_counted_again(db: None, catalog: Catalog) -> None:
    readers_across_the_world(catalog)
    key = "remember-and-reclaim/naming-the-weather"
    with session_scope() as session:
        broadcast = Broadcast(list="remember-and-reclaim", issue=key, subject="s",
                              status=BroadcastStatus.SENDING, send_at=NOW)  # fmt: skip
        session.add(broadcast)
        session.flush()
        session.add(
            BroadcastWave(
                broadcast_id=broadcast.id, due_at=NOW, zones=["Asia/Tokyo"], finished_at=NOW
            )
        )
    with session_scope() as session:
        plan = forward.forward(session, catalog, NOW)
    assert plan.issues.get(date(2026, 11, 30), "morning") == 0
    (issue,) = plan.plans
    assert (issue.readers, issue.sending) == (4, True)
    with session_scope() as session:
        session.execute(update(Broadcast).values(status=BroadcastStatus.CANCELLED))
        assert forward.forward(session, catalog, NOW).plans == []


def test_a_course_with_lessons_days_apart_is_named_as_undercounted(catalog: Catalog) -> None:
    course = catalog["softening-sessions"]
    assert forward.short_courses(catalog, NOW.date()) == []
    quick = type(catalog)(
        {course.slug: type(course)(**{**course.__dict__,
                                      "cadence": type(course.cadence)(every_days=3)})}
    )  # fmt: skip
    assert forward.short_courses(quick, NOW.date()) == [course.title]


@pytest.mark.parametrize(
    ("hour", "bucket"), [(0, "night"), (5, "night"), (6, "morning"), (12, "afternoon"),
                         (17, "afternoon"), (18, "evening"), (23, "evening")]
)  # fmt: skip
def test_local_hours_fall_into_four_parts_of_the_day(hour: int, bucket: str) -> None:
    assert forward.bucket_of(hour) == bucket


def test_the_calendar_says_when_nothing_is_due(admin: FlaskClient) -> None:
    page = admin.get("/dashboard/calendar").text
    assert "No lessons due in the next 7 days." in page
    assert "No newsletter issues due in the next 7 days." in page

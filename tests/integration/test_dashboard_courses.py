"""The courses pages: each course's readers by state, and its funnel, lesson by lesson."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient
from sqlalchemy import select

from core.config import Settings
from core.db import session_scope
from core.models import Delivery, Enrollment, Subscriber
from courses.model import Catalog
from emails.transports import OutboxTransport
from tasks import enrollments, events, readers, schedule
from tasks.reports import funnel as report
from tasks.sending import Sender
from tests.support.readers import active_reader

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
COURSE = "softening-sessions"


def tick_and_send(catalog: Catalog, settings: Settings, now: datetime) -> list[int]:
    """What a beat tick and a worker do at `now`: the deliveries sent."""
    due = schedule.tick(catalog, now)
    ids = [delivery for batch in due.batches.values() for delivery in batch]
    sender = Sender(settings, catalog, OutboxTransport(settings.outbox_dir))
    return sender.send(ids, now).sent


def reader_named(catalog: Catalog, name: str) -> tuple[int, str]:
    return active_reader(catalog, NOW, email=f"{name}@example.org")


def enrollment(session: object, reader: int) -> Enrollment:
    query = select(Enrollment).where(Enrollment.subscriber_id == reader)
    return session.scalars(query).one()  # type: ignore[attr-defined]


def provider_events(kind: str, delivery_ids: list[int], now: datetime) -> None:
    """SendGrid events of `kind` for these deliveries, stored and applied as the webhook's."""
    with session_scope() as session:
        query = (
            select(Delivery.id, Subscriber.email)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Delivery.id.in_(delivery_ids))
        )
        posted = [
            {"sg_event_id": f"{kind}-{delivery}", "event": kind, "email": email,
             "timestamp": now.timestamp(), "sg_message_id": f"m{delivery}",
             "tend_delivery": str(delivery)}
            for delivery, email in session.execute(query)
        ]  # fmt: skip
        stored = events.store(session, events.parse(posted, now))
        assert events.apply(session, stored, now) == len(delivery_ids)


def lesson_deliveries(lesson: str) -> list[int]:
    with session_scope() as session:
        query = select(Delivery.id).where(Delivery.lesson == lesson).order_by(Delivery.id)
        return list(session.scalars(query))


def a_course_in_motion(catalog: Catalog, settings: Settings) -> dict[str, int]:
    """Five readers: after the welcome one pauses and one leaves; after lesson 2 one slows
    down; lesson 2 reaches the other three, two of them delivered."""
    ids = {name: reader_named(catalog, name)[0] for name in ("ann", "bo", "cy", "di", "ed")}
    assert len(tick_and_send(catalog, settings, NOW)) == 5
    with session_scope() as session:
        enrollments.pause(enrollment(session, ids["ann"]), None)
        uid = session.get(Subscriber, ids["bo"]).uid  # type: ignore[union-attr]
        readers.unsubscribe(session, uid, "link", NOW + timedelta(days=1))
    second = NOW + timedelta(days=14, hours=1)
    assert len(tick_and_send(catalog, settings, second)) == 3
    provider_events("delivered", lesson_deliveries("acknowledge")[:2], second)
    with session_scope() as session:
        course = catalog[COURSE]
        enrollments.slow_down(enrollment(session, ids["cy"]), course, "UTC", 2)
    return ids


def test_the_courses_page_lists_each_course_with_its_readers_by_state(
    admin: FlaskClient, catalog: Catalog, settings: Settings
) -> None:
    a_course_in_motion(catalog, settings)
    with session_scope() as session:
        counts = report.course_counts(session, catalog.courses)[COURSE]
    assert counts == report.CourseCounts(enrolled=5, active=3, paused=1, completed=0, cancelled=1)
    page = admin.get("/dashboard/courses")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'href="/dashboard/courses/softening-sessions"' in text
    row = re.search(r"Softening Sessions</a>.*?</tr>", text, re.S)
    assert row is not None
    cells = re.findall(r'<td class="num">([\d,]+)</td>', row.group(0))
    assert cells == ["5", "5", "3", "1", "0", "1"]  # lessons, enrolled, active, paused, ...


def test_a_funnel_counts_each_lesson_and_who_stopped_after_it(
    db: None, catalog: Catalog, settings: Settings
) -> None:
    a_course_in_motion(catalog, settings)
    with session_scope() as session:
        funnel = report.funnel(session, catalog[COURSE])
    welcome, acknowledge, not_alone, *_ = funnel.steps
    assert [step.slug for step in funnel.steps] == [
        lesson.slug for lesson in catalog[COURSE].lessons
    ]
    assert funnel.counts.enrolled == 5
    assert (welcome.sent, welcome.delivered, welcome.paused_after) == (5, 0, 1)
    assert welcome.unsubscribed_after == 1
    assert welcome.share(welcome.paused_after) == 0.2
    assert (acknowledge.sent, acknowledge.delivered, acknowledge.waiting) == (3, 2, 0)
    assert (acknowledge.paused_after, acknowledge.unsubscribed_after) == (0, 0)
    assert acknowledge.slowed_at == 1
    assert (not_alone.sent, not_alone.paused_after) == (0, 0)
    assert funnel.tracking is False


def test_the_funnel_page_draws_bars_without_inline_style_and_says_tracking_is_off(
    admin: FlaskClient, catalog: Catalog, settings: Settings
) -> None:
    a_course_in_motion(catalog, settings)
    page = admin.get("/dashboard/courses/softening-sessions")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "style=" not in text
    assert "<script>" not in text
    assert re.search(r"\son[a-z]+=", text) is None, "no inline event handlers"
    svg = re.search(r'<svg class="chart funnel".*?</svg>', text, re.S)
    assert svg is not None
    bars = re.findall(r'width="([\d.]+)" height="22" rx="3" class="bar">', svg.group(0))
    widths = [float(width) for width in bars]
    # Enrolled (5) is the widest bar; the welcome was sent to all five, lesson 2 to three.
    assert widths[0] == widths[1] == 420.0
    assert widths[2] == 252.0  # lesson 2's bar: 3 of 5
    assert "Open and click tracking is off" in text
    assert "Opened" not in text
    lesson_row = re.search(r'id="lesson-welcome".*?</tr>', text, re.S)
    assert lesson_row is not None
    assert "20.0%" in lesson_row.group(0), "one of five paused after the welcome"


def test_opens_and_clicks_appear_beside_the_lessons_once_tracking_records_them(
    admin: FlaskClient, catalog: Catalog, settings: Settings
) -> None:
    a_course_in_motion(catalog, settings)
    welcome = lesson_deliveries("welcome")
    provider_events("open", welcome[:3], NOW + timedelta(hours=1))
    provider_events("click", welcome[:1], NOW + timedelta(hours=1))
    with session_scope() as session:
        funnel = report.funnel(session, catalog[COURSE])
    assert funnel.tracking is True
    assert (funnel.steps[0].opens, funnel.steps[0].clicks) == (3, 1)
    assert (funnel.steps[1].opens, funnel.steps[1].clicks) == (0, 0)
    text = admin.get("/dashboard/courses/softening-sessions").get_data(as_text=True)
    assert "Opened" in text
    assert "Clicked" in text
    assert "tracking is off" not in text


def test_a_course_no_one_has_joined_says_so_and_an_unknown_one_is_not_found(
    viewer: FlaskClient,
) -> None:
    page = viewer.get("/dashboard/courses/softening-sessions")
    assert page.status_code == 200
    assert "No one has enrolled in this course yet." in page.get_data(as_text=True)
    assert viewer.get("/dashboard/courses/no-such-course").status_code == 404

"""The engine's operations: pause, resume, restart, complete; and stopping all sending."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from click.testing import CliRunner
from sqlalchemy import select

from core.config import Settings
from core.db import session_scope
from core.models import Delivery, DeliveryStatus, EnrollmentState
from courses.model import Catalog
from emails.transports import OutboxTransport
from tasks import enrollments, schedule
from tasks.sending import Sender
from tests.support.readers import active_reader, enrollment_of
from web.cli import cli

START = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)  # readers here are in UTC
EMAIL = "reader@example.org"


def lessons() -> list[tuple[str | None, int]]:
    with session_scope() as session:
        rows = session.execute(select(Delivery.lesson, Delivery.round).order_by(Delivery.id))
        return [(row.lesson, row.round) for row in rows]


def act(*arguments: str) -> str:
    result = CliRunner().invoke(cli, list(arguments))
    assert result.exit_code == 0, result.output
    return result.output


def test_a_paused_course_sends_nothing_until_it_is_resumed_without_a_burst(
    db: None, catalog: Catalog
) -> None:
    reader, _ = active_reader(catalog, START)
    schedule.tick(catalog, START)
    act("enrollment", "pause", EMAIL, "softening-sessions")
    assert enrollment_of(reader).state is EnrollmentState.PAUSED
    for day in range(1, 90, 7):
        assert schedule.tick(catalog, START + timedelta(days=day)).claimed == 0
    back = datetime(2026, 5, 4, 15, 0, tzinfo=UTC)
    with session_scope() as session:
        found = enrollments.find(session, EMAIL, "softening-sessions")
        enrollments.resume(found, catalog["softening-sessions"], "UTC", back)
    assert schedule.tick(catalog, back).claimed == 1, "the next lesson goes the day they resume"
    assert schedule.tick(catalog, back + timedelta(days=13)).claimed == 0
    assert schedule.tick(catalog, back + timedelta(days=14)).claimed == 1
    assert lessons() == [("welcome", 1), ("acknowledge", 1), ("not-alone", 1)]


def test_a_pause_for_some_weeks_ends_by_itself(db: None, catalog: Catalog) -> None:
    reader, _ = active_reader(catalog, START)
    schedule.tick(catalog, START)
    with session_scope() as session:
        found = enrollments.find(session, EMAIL, "softening-sessions")
        enrollments.pause(found, until=START + timedelta(weeks=4))
    assert schedule.tick(catalog, START + timedelta(days=20)).claimed == 0
    ended = schedule.tick(catalog, START + timedelta(weeks=4))
    assert ended.resumed == 1
    assert enrollment_of(reader).state is EnrollmentState.ACTIVE
    assert schedule.tick(catalog, START + timedelta(weeks=4, minutes=1)).claimed == 1
    assert lessons() == [("welcome", 1), ("acknowledge", 1)]


def test_a_restart_sends_the_course_again_from_the_first_lesson(db: None, catalog: Catalog) -> None:
    reader, _ = active_reader(catalog, START)
    for day in (0, 14, 28):
        schedule.tick(catalog, START + timedelta(days=day))
    restart_at = START + timedelta(days=30)
    with session_scope() as session:
        found = enrollments.find(session, EMAIL, "softening-sessions")
        enrollments.restart(found, catalog["softening-sessions"], "UTC", restart_at)
    assert schedule.tick(catalog, restart_at).claimed == 1
    assert lessons()[-1] == ("welcome", 2)
    assert enrollment_of(reader).round == 2


def test_completing_a_course_stops_it(db: None, catalog: Catalog) -> None:
    reader, _ = active_reader(catalog, START)
    schedule.tick(catalog, START)
    act("enrollment", "complete", EMAIL, "softening-sessions")
    assert enrollment_of(reader).state is EnrollmentState.COMPLETED
    assert schedule.tick(catalog, START + timedelta(days=100)).claimed == 0


def test_an_operation_that_does_not_apply_says_why(db: None, catalog: Catalog) -> None:
    active_reader(catalog, START)
    result = CliRunner().invoke(cli, ["enrollment", "resume", EMAIL, "softening-sessions"])
    assert result.exit_code == 1
    assert "the course is active, not paused" in result.output
    result = CliRunner().invoke(
        cli, ["enrollment", "pause", "nobody@example.org", "softening-sessions"]
    )
    assert "nobody@example.org is not enrolled in softening-sessions" in result.output


def test_while_sending_is_stopped_ticks_count_and_send_nothing(
    db: None, catalog: Catalog, settings: Settings
) -> None:
    for number in range(3):
        active_reader(catalog, START, email=f"reader{number}@example.org")
    first = schedule.tick(catalog, START)
    queued = [delivery for ids in first.batches.values() for delivery in ids]
    assert "Sending is stopped" in act("sending", "stop", "--reason", "checking a complaint")
    assert "checking a complaint" in act("sending", "status")

    sender = Sender(settings, catalog, OutboxTransport(settings.outbox_dir))
    assert sender.send(queued, START).held == queued
    later = START + timedelta(days=15)
    held = schedule.tick(catalog, later)
    assert (held.due, held.held, held.claimed) == (3, 3, 0)
    with session_scope() as session:
        statuses = session.scalars(select(Delivery.status)).all()
    assert statuses == [DeliveryStatus.QUEUED] * 3

    act("sending", "start")
    resumed = schedule.tick(catalog, later)
    assert resumed.claimed == 3
    assert resumed.requeued == 3, "the welcomes held in the queue go again"
    assert "Sending is on." in act("sending", "status")


def test_slowing_down_keeps_the_next_lesson_and_spaces_the_rest_twice_as_far(
    db: None, catalog: Catalog
) -> None:
    reader, _ = active_reader(catalog, START)
    schedule.tick(catalog, START)  # the welcome, 2 February
    act("enrollment", "slow-down", EMAIL, "softening-sessions", "--pace", "2")
    enrollment = enrollment_of(reader)
    assert enrollment.pace == 2
    # Lesson 2 keeps its day (16 February); lesson 3 comes 28 days after it, not 14.
    assert enrollment.next_due_at == datetime(2026, 2, 16, 8, 0, tzinfo=UTC)
    assert schedule.tick(catalog, datetime(2026, 2, 16, 8, 0, tzinfo=UTC)).claimed == 1
    assert enrollment_of(reader).next_due_at == datetime(2026, 3, 16, 8, 0, tzinfo=UTC)
    assert schedule.tick(catalog, datetime(2026, 3, 2, 8, 0, tzinfo=UTC)).claimed == 0
    assert schedule.tick(catalog, datetime(2026, 3, 16, 8, 0, tzinfo=UTC)).claimed == 1
    act("enrollment", "slow-down", EMAIL, "softening-sessions", "--pace", "1")
    assert enrollment_of(reader).next_due_at == datetime(2026, 4, 13, 8, 0, tzinfo=UTC)

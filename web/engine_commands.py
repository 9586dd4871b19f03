"""`tend sending ...` and `tend enrollment ...`: the engine's operations from a shell."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from datetime import timedelta

import click

from core.clock import utcnow
from core.db import session_scope
from core.models import Enrollment, Subscriber
from courses.model import Course
from tasks import enrollments, jobs, switches
from tasks.catalog import get_catalog


@click.group()
def sending() -> None:
    """Stop all sending at once, or let it go on."""


@sending.command("stop")
@click.option("--reason", help="Why, for whoever looks next.")
@click.option("--by", default=getpass.getuser, show_default="your user name", help="Who.")
def sending_stop(reason: str | None, by: str) -> None:
    """Stop: ticks count what is due and send nothing; queued mail stays queued."""
    with session_scope() as session:
        switch = switches.stop_sending(session, by, utcnow(), reason)
        click.echo(
            f"Sending is stopped (by {switch.set_by} at {switch.set_at:%Y-%m-%d %H:%M} UTC)."
        )


@sending.command("start")
def sending_start() -> None:
    """Let sending go on; what fell due meanwhile goes out one letter a day per reader."""
    with session_scope() as session:
        lifted = switches.resume_sending(session)
    if not lifted:
        click.echo("Sending was not stopped.")
        return
    click.echo(f"Sending goes on: {jobs.queue_waiting():,} held letters queued again.")


@sending.command("status")
def sending_status() -> None:
    with session_scope() as session:
        switch = switches.sending_stopped(session)
        if switch is None:
            click.echo("Sending is on.")
        else:
            why = f": {switch.reason}" if switch.reason else ""
            click.echo(f"Sending is stopped, by {switch.set_by} at "
                       f"{switch.set_at:%Y-%m-%d %H:%M} UTC{why}")  # fmt: skip


@click.group()
def enrollment() -> None:
    """Pause, resume, restart or complete a reader's course."""


@enrollment.command("pause")
@click.argument("email")
@click.argument("course")
@click.option("--weeks", type=click.IntRange(1, 52), help="Resume by itself after this long.")
def enrollment_pause(email: str, course: str, weeks: int | None) -> None:
    """Hold COURSE for the reader at EMAIL (until resumed, or for --weeks)."""
    until = utcnow() + timedelta(weeks=weeks) if weeks else None
    _change(email, course, lambda found, _reader, _course: enrollments.pause(found, until))
    click.echo(f"Paused {course} for {email}" + (f" until {until:%Y-%m-%d}." if until else "."))


@enrollment.command("resume")
@click.argument("email")
@click.argument("course")
def enrollment_resume(email: str, course: str) -> None:
    """Go on from the next lesson, due today, without the ones missed meanwhile at once."""
    now = utcnow()
    _change(email, course, lambda found, reader, known: enrollments.resume(
        found, known, reader.timezone, now))  # fmt: skip
    click.echo(f"Resumed {course} for {email}.")


@enrollment.command("slow-down")
@click.argument("email")
@click.argument("course")
@click.option(
    "--pace",
    type=click.IntRange(1, 4),
    default=2,
    show_default=True,
    help="Lessons this many times as far apart; 1 goes back to the course's own.",
)
def enrollment_slow_down(email: str, course: str, pace: int) -> None:
    """Space the reader's lessons further apart (twice-monthly becomes monthly)."""
    _change(email, course, lambda found, reader, known: enrollments.slow_down(
        found, known, reader.timezone, pace))  # fmt: skip
    click.echo(f"{course} for {email} now goes at pace {pace}.")


@enrollment.command("restart")
@click.argument("email")
@click.argument("course")
def enrollment_restart(email: str, course: str) -> None:
    """Begin COURSE again from its first lesson."""
    now = utcnow()
    _change(email, course, lambda found, reader, known: enrollments.restart(
        found, known, reader.timezone, now))  # fmt: skip
    click.echo(f"Restarted {course} for {email}.")


@enrollment.command("complete")
@click.argument("email")
@click.argument("course")
def enrollment_complete(email: str, course: str) -> None:
    """End COURSE for the reader here; no further lesson is sent."""
    now = utcnow()
    _change(email, course, lambda found, _reader, _course: enrollments.complete(found, now))
    click.echo(f"Completed {course} for {email}.")


Change = Callable[[Enrollment, Subscriber, Course], None]


def _change(email: str, course_slug: str, change: Change) -> None:
    known = get_catalog().get(course_slug)
    if known is None:
        raise click.ClickException(f"no course {course_slug!r}")
    with session_scope() as session:
        try:
            found = enrollments.find(session, email, course_slug)
            reader = session.get(Subscriber, found.subscriber_id)
            assert reader is not None
            change(found, reader, known)
        except (LookupError, enrollments.EnrollmentError) as error:
            raise click.ClickException(str(error)) from None

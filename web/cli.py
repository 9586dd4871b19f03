"""The `tend` command."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from core.clock import utcnow
from core.config import SettingsError, get_settings
from core.db import session_scope
from core.migrate import revision, upgrade
from core.models import OperatorRole, Subscriber
from courses.calendar import calendar as course_calendar
from courses.loader import read_catalog
from courses.model import Course, CourseError, Problem
from emails.checks import check_catalog
from tasks import enrollments, jobs, operators, previews
from tasks.catalog import get_catalog
from tasks.plan import upcoming
from tasks.zones import zone_of
from web.dev import run
from web.engine_commands import enrollment, sending


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Tend: newsletters and drip courses, written in Markdown, sent on a calm cadence."""


@cli.command()
@click.option("--port", default=5000, show_default=True, help="Port for the web site.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
def dev(port: int, host: str) -> None:
    """Run web, worker and beat on the embedded default (SQLite, a local Redis, the outbox)."""
    sys.exit(run(host=host, port=port))


@cli.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
@click.argument("target", default="head")
def db_upgrade(target: str) -> None:
    """Migrate the database to the latest schema (or to TARGET)."""
    upgrade(get_settings().database, target)
    click.echo(f"Database is at {target}.")


@db.command("revision")
@click.option("-m", "--message", required=True, help="What the migration changes.")
def db_revision(message: str) -> None:
    """Write a migration for what the models changed (compared with the database)."""
    revision(get_settings().database, message)


@cli.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
def lint(path: Path | None) -> None:
    """Check every course and newsletter under PATH (default: TEND_COURSES_DIR).

    Prints `path:line: level: message` for each problem; exits 1 if any is an error.
    """
    root = path or get_settings().courses_path
    problems: list[Problem] = []
    catalog = read_catalog(root, problems)
    problems += check_catalog(catalog)
    for problem in sorted(problems, key=lambda p: (str(p.path), p.line)):
        click.echo(str(problem))
    errors = sum(problem.level == "error" for problem in problems)
    letters = sum(len(c.lessons) for c in catalog.courses.values()) + sum(
        len(n.issues) for n in catalog.newsletters.values()
    )
    click.echo(
        f"{len(catalog.courses)} courses, {len(catalog.newsletters)} newsletters, "
        f"{letters} letters: {errors} errors, {len(problems) - errors} warnings",
        err=True,
    )
    sys.exit(1 if errors else 0)


@cli.command("signup-form")
def signup_form() -> None:
    """Print an HTML signup form to paste into another site (it posts to /subscribe)."""
    from flask import render_template

    from web import create_app
    from web.forms import CONSENT_TEXT

    settings = get_settings()
    offered = get_catalog().offered_on_signup()
    with create_app(settings).app_context():
        click.echo(
            render_template(
                "embed_snippet.html",
                base_url=settings.base_url,
                title=offered[0].title if offered else "your letters",
                consent=CONSENT_TEXT,
            )
        )


@cli.command("send-test")
@click.argument("letter", metavar="COURSE/LESSON")
@click.option("--to", "address", required=True, help="Where to send it.")
@click.option("--name", help="A first name to fill in, as a reader's would be.")
def send_test(letter: str, address: str, name: str | None) -> None:
    """Send one lesson (or newsletter issue) to ADDRESS, marked [Test] in the subject."""
    settings = get_settings()
    try:
        outcome = previews.send_test(settings, get_catalog(), letter, address, name)
    except LookupError as error:
        raise click.ClickException(str(error)) from None
    if outcome.error is not None:
        raise click.ClickException(f"not sent: {outcome.error}")
    where = (
        settings.outbox_dir / str(outcome.provider_id)
        if settings.transport == "outbox"
        else outcome.provider_id
    )
    click.echo(f"Sent {letter} to {address} through {settings.transport}: {where}")


@cli.command()
@click.argument("course_slug", metavar="COURSE")
@click.option(
    "--start", help="When the reader joins: YYYY-MM-DD (at noon) or YYYY-MM-DDTHH:MM. Default: now."
)
@click.option("--tz", "zone_name", default="UTC", show_default=True, help="The reader's time zone.")
@click.option("--reader", "email", help="Instead: what this reader, mid-course, gets next.")
def calendar(course_slug: str, start: str | None, zone_name: str, email: str | None) -> None:
    """The dry-run timeline of a reader who joins COURSE at --start in --tz.

    With --reader, the lessons an existing reader has still to get, under the course's
    files as they are now: run it on an edited course before publishing the edit.
    """
    course = get_catalog().get(course_slug)
    if course is None:
        raise click.ClickException(f"no course {course_slug!r}")
    if email:
        _reader_calendar(course, email)
        return
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.ClickException(f"unknown time zone {zone_name!r}") from None
    started_at = parse_start(start, zone)
    click.echo(f"{course.title}: {course.cadence.kind}, for a reader in {zone_name} "
               f"who joins {started_at.astimezone(zone):%a %d %b %Y %H:%M}")  # fmt: skip
    for entry in course_calendar(course, started_at, zone):
        click.echo(f"{entry.number:>3}  {entry.local:%a %d %b %Y %H:%M %Z}  "
                   f"{entry.utc:%Y-%m-%d %H:%M} UTC  {entry.lesson.subject}")  # fmt: skip


def _reader_calendar(course: Course, email: str) -> None:
    with session_scope() as session:
        try:
            enrollment = enrollments.find(session, email, course.slug)
        except LookupError as error:
            raise click.ClickException(str(error)) from None
        reader = session.get(Subscriber, enrollment.subscriber_id)
        assert reader is not None
        had = enrollments.lessons_had(session, enrollment)
        plan = upcoming(
            course,
            enrollment.position,
            had,
            enrollment.started_at,
            reader.timezone,
            enrollment.pace,
        )
        zone = zone_of(reader.timezone)
        click.echo(f"{course.title} for {email} ({reader.timezone}): had {len(had)}, "
                   f"{len(plan)} to come, {enrollment.state}")  # fmt: skip
        for lesson, due in plan:
            click.echo(f"     {due.astimezone(zone):%a %d %b %Y %H:%M %Z}  "
                       f"{due:%Y-%m-%d %H:%M} UTC  {lesson.subject}")  # fmt: skip


def parse_start(text: str | None, zone: ZoneInfo) -> datetime:
    if text is None:
        return utcnow()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            "write YYYY-MM-DD or YYYY-MM-DDTHH:MM", param_hint="--start"
        ) from None
    if len(text) == 10:
        parsed = parsed.replace(hour=12)
    return parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed


@cli.command()
def tick() -> None:
    """Claim what is due now and queue it, as the beat does every minute."""
    click.echo(jobs.tick())


@cli.command("create-operator")
@click.argument("email")
@click.option(
    "--role",
    type=click.Choice([role.value for role in OperatorRole]),
    default=OperatorRole.ADMIN.value,
    show_default=True,
    help="An admin acts; a viewer only looks.",
)
@click.option(
    "--password-file",
    type=click.File("r"),
    help="Read the password from the first line of this file ('-' for standard input).",
)
def create_operator(email: str, role: str, password_file: TextIO | None) -> None:
    """Add an operator who can log in to the dashboard (the password is asked for)."""
    if password_file is not None:
        password = password_file.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with session_scope() as session:
        try:
            operators.create_operator(session, email, password, OperatorRole(role), utcnow())
        except operators.OperatorError as error:
            raise click.ClickException(str(error)) from None
    click.echo(f"{email} can now log in, as {role}, at {get_settings().base_url}/dashboard/")


cli.add_command(sending)
cli.add_command(enrollment)


def main() -> None:
    try:
        cli()
    except (SettingsError, CourseError) as error:
        click.secho(str(error), fg="red", err=True)
        sys.exit(2)

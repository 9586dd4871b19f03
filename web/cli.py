"""The `tend` command."""

from __future__ import annotations

import sys

import click

from core.config import SettingsError, get_settings
from core.migrate import revision, upgrade
from courses.loader import load_catalog
from courses.model import CourseError
from tasks import jobs
from web.dev import run


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
def lint() -> None:
    """Check every course and lesson; print each mistake with its file and line."""
    catalog = load_catalog(get_settings().courses_path)
    for course in catalog.courses.values():
        click.echo(f"{course.slug}: {len(course.lessons)} lessons, all good")


@cli.command()
def tick() -> None:
    """Claim what is due now and queue it, as the beat does every minute."""
    click.echo(jobs.tick())


def main() -> None:
    try:
        cli()
    except (SettingsError, CourseError) as error:
        click.secho(str(error), fg="red", err=True)
        sys.exit(2)

"""Author previews at /author/: every letter as a reader will see it, and its calendar.

Open under `tend dev`, where files are read again on every page, so an edit shows on
reload. Elsewhere they need an operator's login, as the dashboard does.
"""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, render_template, request

from core.clock import utcnow
from courses.calendar import calendar
from courses.loader import read_catalog
from courses.model import Catalog, Course, Letter, Problem, Publication
from emails.checks import check_catalog
from tasks.previews import SampleReader, find_letter, sample_message
from web import context
from web.dashboard.access import require_operator
from web.forms import timezone_choices
from web.security import letter_response

bp = Blueprint("author", __name__, url_prefix="/author")


@bp.before_request
def only_operators() -> Response | tuple[object, int] | None:
    if context.settings().dev:
        return None
    return require_operator()


def fresh_catalog() -> tuple[Catalog, list[Problem]]:
    """The files as they are now, with every problem `tend lint` would report."""
    problems: list[Problem] = []
    catalog = read_catalog(context.settings().courses_path, problems)
    return catalog, problems + check_catalog(catalog)


def sample_reader() -> SampleReader:
    zone = request.args.get("timezone", "UTC")
    if zone not in dict(timezone_choices()):
        zone = "UTC"
    name = request.args.get("first_name", "Sam")
    return SampleReader(first_name=name.strip()[:100] or None, timezone=zone)


@bp.get("/")
def index() -> str:
    catalog, problems = fresh_catalog()
    return render_template("author/index.html", catalog=catalog, problems=problems)


@bp.get("/<publication>/<letter>")
def letter(publication: str, letter: str) -> str:
    catalog, problems = fresh_catalog()
    found, chosen = letter_or_404(catalog, publication, letter)
    reader = sample_reader()
    message = sample_message(context.settings(), found, chosen, reader)
    entries = []
    if isinstance(found, Course):
        zone = ZoneInfo(reader.timezone)
        entries = calendar(found, start_of_sample(zone), zone)
    return render_template(
        "author/letter.html",
        publication=found,
        letter=chosen,
        message=message,
        mime=message.to_mime(),
        reader=reader,
        zones=timezone_choices(),
        entries=entries,
        problems=[p for p in problems if p.path == chosen.path],
        query=request.query_string.decode(),
    )


@bp.get("/<publication>/<letter>/html")
def letter_html(publication: str, letter: str) -> Response:
    catalog, _ = fresh_catalog()
    found, chosen = letter_or_404(catalog, publication, letter)
    message = sample_message(context.settings(), found, chosen, sample_reader())
    # The letter's own policy: its inline styles show, nothing in it runs.
    return letter_response(message.html)


def letter_or_404(catalog: Catalog, publication: str, letter: str) -> tuple[Publication, Letter]:
    try:
        return find_letter(catalog, f"{publication}/{letter}")
    except LookupError:
        abort(404)


def start_of_sample(zone: ZoneInfo) -> datetime:
    """A sample reader joins today at noon, or on ?start=YYYY-MM-DD."""
    try:
        day = datetime.fromisoformat(request.args["start"]).date()
    except (KeyError, ValueError):
        day = utcnow().astimezone(zone).date()
    return datetime.combine(day, time(12), tzinfo=zone)

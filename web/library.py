"""A reader's library (from the signed preferences link): every letter they have received,
readable on the web with their own name and links, and what is still to come."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import Blueprint, Response, abort, render_template
from sqlalchemy.orm import Session

from core.db import session_scope
from core.links import link
from core.tokens import Purpose
from courses.model import Catalog
from emails.render import PREFERENCES_URL, UNSUBSCRIBE_URL, long_date, render
from tasks.library import Reader, Shelf, find_reader, has_received, library
from tasks.zones import zone_of
from web import context
from web.security import letter_response
from web.tokens import link_limited, read_token

bp = Blueprint("library", __name__)


@bp.get("/library/<token>")
@link_limited
def page(token: str) -> str:
    with session_scope() as session:
        reader, shelves = _library_of(session, token, context.catalog())
    return render_template(
        "library.html", token=token, shelves=shelves, received_on=_day_in(reader.timezone)
    )


@bp.get("/library/<token>/<publication>/<letter>")
@link_limited
def read(token: str, publication: str, letter: str) -> Response:
    """A letter the reader has received, as they got it; any other is not here for them."""
    catalog = context.catalog()  # once: the letter must be one of the library's
    with session_scope() as session:
        reader, shelves = _library_of(session, token, catalog)
    if not has_received(shelves, publication, letter):
        abort(404)
    found, chosen = catalog.letter(f"{publication}/{letter}")
    page, _ = render(found, chosen, context.settings().base_url).for_reader(_values(reader))
    return letter_response(page)


@bp.after_request
def _private(response: Response) -> Response:
    # The address carries the reader's token: keep it out of shared caches and out of the
    # Referer sent to sites the letter links to.
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _library_of(session: Session, token: str, catalog: Catalog) -> tuple[Reader, list[Shelf]]:
    reader = find_reader(session, read_token(Purpose.PREFERENCES, token))
    if reader is None:
        abort(404)  # a good link to a reader since deleted
    return reader, library(session, reader.id, catalog)


def _values(reader: Reader) -> dict[str, str | None]:
    base_url, signer = context.settings().base_url, context.signer()
    return {
        UNSUBSCRIBE_URL: link(base_url, signer, Purpose.UNSUBSCRIBE, reader.uid),
        PREFERENCES_URL: link(base_url, signer, Purpose.PREFERENCES, reader.uid),
        "first_name": reader.first_name,
    }


def _day_in(timezone: str) -> Callable[[datetime], str]:
    """Dates on the page are the reader's own day, not UTC's."""
    zone = zone_of(timezone)
    return lambda when: long_date(when.astimezone(zone).date())

"""Leaving: the unsubscribe page and the RFC 8058 one-click endpoint, at one address.

The address is the one in every message's List-Unsubscribe header. A mail provider POSTs
`List-Unsubscribe=One-Click` to it without cookies, so the POST needs no CSRF token (the
signed token in the address is the proof) and answers without a redirect.

The page also offers a pause instead of leaving: a reader who only needs a rest keeps
their place in the course. That button is an ordinary form, with its CSRF token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from core.clock import utcnow
from core.db import session_scope
from core.models import EnrollmentState
from core.tokens import Purpose
from emails.render import long_date
from tasks import preferences, readers
from tasks.zones import zone_of
from web import context
from web.forms import ButtonForm
from web.security import csrf
from web.tokens import link_limited, read_token

bp = Blueprint("leave", __name__)

PAUSE = timedelta(weeks=4)
# The category of this page's note, so that it shows here and nowhere else.
FLASHED = "paused"


@dataclass(frozen=True)
class PauseOffer:
    """What "pause instead" would pause, and what it would not."""

    courses: list[str]  # titles of the courses going on now
    newsletters: list[str]  # titles of the newsletters that would still come


@bp.get("/u/<token>")
@link_limited
def page(token: str) -> str:
    uid = read_token(Purpose.UNSUBSCRIBE, token)
    with session_scope() as session:
        offer = _pause_offer(session, uid)
    return render_template(
        "unsubscribe.html",
        form=ButtonForm(),
        offer=offer,
        token=token,
        preferences_url=_preferences_url(uid),
    )


@bp.post("/u/<token>")
@link_limited
@csrf.exempt
def unsubscribe(token: str) -> tuple[str, int]:
    uid = read_token(Purpose.UNSUBSCRIBE, token)
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    with session_scope() as session:
        subscriber = readers.unsubscribe(
            session, uid, "one-click" if one_click else "unsubscribe page", utcnow()
        )
    if subscriber is None:
        return render_template("link_problem.html", reason="invalid"), 400
    return render_template("goodbye.html"), 200


@bp.post("/u/<token>/pause")
@link_limited
def pause_instead(token: str) -> Response | tuple[str, int]:
    """Pause every course going on now for four weeks; unsubscribe nothing."""
    uid = read_token(Purpose.UNSUBSCRIBE, token)
    until = utcnow() + PAUSE
    with session_scope() as session:
        reader = preferences.find_reader(session, uid)
        if reader is None:
            return render_template("link_problem.html", reason="invalid"), 400
        paused = preferences.pause_everything(session, reader, until) if reader.is_active else []
        day = long_date(until.astimezone(zone_of(reader.timezone)).date())
    flash(_paused_note(len(paused), day), FLASHED)
    return redirect(url_for("leave.page", token=token), code=303)


def _paused_note(count: int, day: str) -> str:
    if count == 0:
        return "There was nothing to pause: none of your courses is going on just now."
    if count == 1:
        return f"Your course is paused until {day}. Then it goes on from where you left off."
    return f"Your courses are paused until {day}. Then they go on from where you left off."


def _pause_offer(session: Session, uid: str) -> PauseOffer | None:
    """None when there is nothing to pause (or no reader): the page offers only leaving."""
    reader = preferences.find_reader(session, uid)
    if reader is None or not reader.is_active:
        return None
    catalog = context.catalog()
    going_on = [
        course.title
        for enrollment in preferences.enrollments_of(session, reader)
        if enrollment.state is EnrollmentState.ACTIVE
        and (course := catalog.get(enrollment.course)) is not None
    ]
    if not going_on:
        return None
    joined = preferences.lists_of(session, reader)
    newsletters = [n.title for n in catalog.newsletters.values() if n.list in joined]
    return PauseOffer(going_on, newsletters)


def _preferences_url(uid: str) -> str:
    return url_for("preferences.page", token=context.signer().sign(Purpose.PREFERENCES, uid))

"""Signing up and confirming (double opt-in)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint, redirect, render_template, url_for
from werkzeug.wrappers import Response

from core.clock import utcnow
from core.db import session_scope
from core.tokens import Purpose
from tasks import jobs, readers
from web import context
from web.forms import CONSENT_VERSION, ButtonForm, SignupForm
from web.tokens import read_token

bp = Blueprint("signup", __name__)
log = logging.getLogger(__name__)


@bp.route("/", methods=["GET", "POST"])
def form() -> str | Response:
    signup_form = SignupForm()
    if not signup_form.validate_on_submit():
        courses = context.catalog().offered_on_signup()
        status = 400 if signup_form.is_submitted() else 200
        return render_template("signup.html", form=signup_form, courses=courses), status
    signup = readers.Signup(
        email=signup_form.email.data,
        first_name=signup_form.first_name.data,
        timezone=signup_form.timezone.data,
        ip=context.client_ip(),
        user_agent=context.user_agent(),
        source="hosted form",
        consent_text_version=CONSENT_VERSION,
    )
    with session_scope() as session:
        delivery_id = readers.subscribe(session, signup, utcnow())
    if delivery_id is not None:
        _queue(jobs.queue_send, [delivery_id])
    # The same answer for a new, pending, active or unsubscribed address.
    return redirect(url_for("signup.check_inbox"), code=303)


@bp.get("/check-your-inbox")
def check_inbox() -> str:
    return render_template("check_inbox.html")


@bp.get("/confirm/<token>")
def confirm_page(token: str) -> str | tuple[str, int]:
    read_token(Purpose.CONFIRM, token)
    return render_template("confirm.html", form=ButtonForm())


@bp.post("/confirm/<token>")
def confirm(token: str) -> str | tuple[str, int]:
    uid = read_token(Purpose.CONFIRM, token)
    if not ButtonForm().validate_on_submit():
        return render_template("confirm.html", form=ButtonForm(), stale=True), 400
    with session_scope() as session:
        subscriber = readers.confirm(
            session,
            uid,
            context.catalog(),
            utcnow(),
            ip=context.client_ip(),
            user_agent=context.user_agent(),
        )
    if subscriber is None:
        return render_template("link_problem.html", reason="invalid"), 400
    # The first lesson is due on confirmation: tick now rather than at the next minute.
    _queue(jobs.tick.delay)
    courses = context.catalog().offered_on_signup()
    return render_template("confirmed.html", courses=courses)


def _queue(enqueue: Callable[..., object], *args: object) -> None:
    """Queue work after the commit. If the broker is down, the tick's sweep sends it later."""
    try:
        enqueue(*args)
    except Exception:
        log.exception("could not queue work; the next tick will pick it up")

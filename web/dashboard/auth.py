"""Logging in and out of the dashboard."""

from __future__ import annotations

import logging

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import login_user, logout_user
from werkzeug.wrappers import Response
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from core.clock import utcnow
from core.db import session_scope
from tasks.operators import authenticate
from web import context
from web.dashboard.access import safe_next, signed_in
from web.dashboard.blueprint import bp
from web.forms import PostedForm
from web.security import limiter

log = logging.getLogger(__name__)


class LoginForm(PostedForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1000)])


def _login_limits() -> str:
    return context.settings().login_limits


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limits, methods=["POST"])
def login() -> str | tuple[str, int] | Response:
    form = LoginForm()
    if not form.validate_on_submit():
        status = 400 if form.is_submitted() else 200
        return render_template("dashboard/login.html", form=form), status
    with session_scope() as db:
        operator = authenticate(db, form.email.data or "", form.password.data or "", utcnow())
        who = signed_in(operator) if operator else None
    if who is None:
        log.warning("a dashboard login failed", extra={"ip": context.client_ip()})
        form.password.errors = ["That email and password do not match an operator, or the "
                                "account is locked for a while after many tries."]  # fmt: skip
        return render_template("dashboard/login.html", form=form), 400
    # A new session on login: whatever was in the cookie before stays behind.
    session.clear()
    login_user(who)
    log.info("operator logged in", extra={"operator": who.email})
    return redirect(safe_next(request.args.get("next")) or url_for("dashboard.overview"))


@bp.post("/logout")
def logout() -> Response:
    logout_user()
    session.clear()
    flash("You have logged out.")
    return redirect(url_for("dashboard.login"))

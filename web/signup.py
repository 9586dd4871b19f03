"""Signing up and confirming (double opt-in).

Three ways in, one way through: the hosted page at `/` (with a CSRF token), and
`/subscribe` for forms embedded on other sites (a plain HTML form, which cannot carry
our CSRF token) and for pages that post JSON with JavaScript (CORS, for the origins in
TEND_SIGNUP_ORIGINS). All three are rate limited per IP and per address, ignore robots
that fill in the hidden field, and answer the same whether the address is new, pending,
active or gone, so no one can learn from the answer who reads what.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as BaseResponse

from core.clock import utcnow
from core.db import session_scope, statement_scope
from core.tokens import Purpose
from tasks import jobs, readers
from tasks.handoff import handoff
from web import context
from web.forms import CONSENT_VERSION, ButtonForm, SignupForm
from web.security import address_key, csrf, json_body, limiter
from web.tokens import link_limited, read_token

bp = Blueprint("signup", __name__)
log = logging.getLogger(__name__)

CHECK_INBOX = "Thank you. Check your inbox: a link to confirm is on its way."


def _per_ip() -> str:
    return context.settings().signup_limits


def _per_address() -> str:
    return context.settings().address_limits


def limited(view: Callable[..., object]) -> Callable[..., object]:
    """Signups from one IP, and for one address, are limited (POST only)."""
    view = limiter.limit(_per_address, key_func=address_key, methods=["POST"])(view)
    return limiter.limit(_per_ip, methods=["POST"])(view)


@bp.route("/", methods=["GET", "POST"])
@limited
def form() -> str | tuple[str, int] | BaseResponse:
    signup_form = SignupForm(offered=_offered())
    if not signup_form.validate_on_submit():
        status = 400 if signup_form.is_submitted() else 200
        return _page(signup_form), status
    _sign_up(signup_form, "hosted form")
    # The same answer for a new, pending, active or unsubscribed address.
    return redirect(url_for("signup.check_inbox"), code=303)


@bp.route("/subscribe", methods=["POST", "OPTIONS"])
@csrf.exempt  # posted from other sites: rate limits, the hidden field and opt-in guard it
@limited
def subscribe() -> BaseResponse | tuple[BaseResponse | str, int]:
    origin = request.headers.get("Origin")
    allowed = origin is not None and origin.rstrip("/") in context.settings().signup_origins
    if request.method == "OPTIONS":
        return _cors(Response(status=204), origin if allowed else None, preflight=True)
    if request.is_json:
        if origin is not None and not allowed:
            return _cors(jsonify(error="this site may not post signups here"), None), 403
        return _json_signup(origin if allowed else None)
    signup_form = SignupForm(offered=_offered(), meta={"csrf": False})
    if not signup_form.validate():
        return _page(signup_form), 400
    _sign_up(signup_form, "embedded form")
    return redirect(url_for("signup.check_inbox"), code=303)


def _json_signup(origin: str | None) -> BaseResponse | tuple[BaseResponse, int]:
    body = json_body()
    if not isinstance(body, dict):
        return _cors(jsonify(errors={"body": ["Send a JSON object."]}), origin), 400
    fields = MultiDict(
        {
            name: "y" if name == "consent" and value is True else str(value)
            for name, value in body.items()
            if isinstance(value, str | bool | int) and value is not False and name != "wanted"
        }
    )
    wanted = body.get("wanted")
    if isinstance(wanted, list):  # a choice of courses and newsletters, by slug
        fields.setlist("wanted", [str(slug) for slug in wanted])
        fields["chosen"] = "y"
    signup_form = SignupForm(formdata=fields, offered=_offered(), meta={"csrf": False})
    signup_form.timezone.data = signup_form.timezone.data or "UTC"
    if not signup_form.validate():
        return _cors(jsonify(errors=signup_form.errors), origin), 400
    _sign_up(signup_form, "api")
    return _cors(jsonify(message=CHECK_INBOX), origin), 202


def _cors(response: BaseResponse, origin: str | None, preflight: bool = False) -> BaseResponse:
    response.headers["Vary"] = "Origin"
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        if preflight:
            response.headers["Access-Control-Allow-Methods"] = "POST"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type"
            response.headers["Access-Control-Max-Age"] = "600"
    return response


def _offered() -> list[tuple[str, str]]:
    return [(publication.slug, publication.title) for publication in context.catalog().offered()]


def _page(signup_form: SignupForm) -> str:
    catalog = context.catalog()
    return render_template(
        "signup.html",
        form=signup_form,
        courses=catalog.offered_on_signup(),
        offered=catalog.offered(),
    )


def _sign_up(signup_form: SignupForm, source: str) -> None:
    if signup_form.is_robot:
        log.info("ignored a signup with the hidden field filled in", extra={"source": source})
        return
    signup = readers.Signup(
        email=signup_form.email.data,
        first_name=signup_form.first_name.data,
        timezone=signup_form.timezone.data,
        ip=context.client_ip(),
        user_agent=context.user_agent(),
        source=source,
        consent_text_version=CONSENT_VERSION,
        wanted=signup_form.choice,
    )
    with statement_scope() as session:  # on PostgreSQL, a signup is one statement
        delivery_id = readers.subscribe(session, signup, utcnow())
    if delivery_id is not None:
        handoff.put(delivery_id)  # published by a thread of its own, with others


@bp.get("/check-your-inbox")
def check_inbox() -> str:
    return render_template("check_inbox.html")


@bp.get("/confirm/<token>")
@link_limited
def confirm_page(token: str) -> str | tuple[str, int]:
    read_token(Purpose.CONFIRM, token)
    return render_template("confirm.html", form=ButtonForm())


@bp.post("/confirm/<token>")
@link_limited
def confirm(token: str) -> str | tuple[str, int]:
    uid = read_token(Purpose.CONFIRM, token)
    if not ButtonForm().validate_on_submit():
        return render_template("confirm.html", form=ButtonForm(), stale=True), 400
    catalog = context.catalog()
    with session_scope() as session:
        subscriber = readers.confirm(
            session,
            uid,
            catalog,
            utcnow(),
            ip=context.client_ip(),
            user_agent=context.user_agent(),
        )
        wanted = subscriber.wanted if subscriber else None
    if subscriber is None:
        return render_template("link_problem.html", reason="invalid"), 400
    # The first lesson is due on confirmation: tick now rather than at the next minute.
    _queue(jobs.tick.delay)
    chosen = [p for p in catalog.offered() if wanted is None or p.slug in wanted]
    courses = [p for p in chosen if p.slug in catalog.courses]
    return render_template("confirmed.html", courses=courses, chosen=chosen)


def _queue(enqueue: Callable[..., object], *args: object) -> None:
    """Queue work after the commit. If the broker is down, the tick's sweep sends it later."""
    try:
        enqueue(*args)
    except Exception:
        log.exception("could not queue work; the next tick will pick it up")

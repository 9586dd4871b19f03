"""Leaving: the unsubscribe page and the RFC 8058 one-click endpoint, at one address.

The address is the one in every message's List-Unsubscribe header. A mail provider POSTs
`List-Unsubscribe=One-Click` to it without cookies, so the POST needs no CSRF token (the
signed token in the address is the proof) and answers without a redirect.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request

from core.clock import utcnow
from core.db import session_scope
from core.tokens import Purpose
from tasks import readers
from web.forms import ButtonForm
from web.security import csrf
from web.tokens import read_token

bp = Blueprint("leave", __name__)


@bp.get("/u/<token>")
def page(token: str) -> str:
    read_token(Purpose.UNSUBSCRIBE, token)
    return render_template("unsubscribe.html", form=ButtonForm())


@bp.post("/u/<token>")
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

"""The dashboard's blueprint, closed to anyone who has not logged in."""

from __future__ import annotations

from flask import Blueprint, request
from werkzeug.wrappers import Response

from web import context
from web.dashboard.access import require_operator

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")


@bp.before_request
def _only_operators() -> Response | tuple[object, int] | None:
    if request.endpoint == "dashboard.login":
        return None
    # Anyone logged in may log out; every other change needs an admin.
    return require_operator(actions_need_admin=request.endpoint != "dashboard.logout")


@bp.context_processor
def _navigation() -> dict[str, object]:
    # The outbox viewer only has something to show when mail goes to the outbox.
    return {"dashboard_outbox": context.settings().transport == "outbox"}

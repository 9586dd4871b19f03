"""Who may see and do what: every dashboard and author page needs an operator's login,
and everything that changes something needs an admin. Viewers only look.

Sessions carry a stamp of the operator's password hash, so a new password (or a removed
operator) ends every session opened with the old one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Flask, jsonify, redirect, render_template, request, url_for
from flask_login import LoginManager, UserMixin, current_user
from werkzeug.wrappers import Response

from core.db import session_scope
from core.models import Operator, OperatorRole

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
login_manager = LoginManager()


@dataclass(frozen=True)
class SignedInOperator(UserMixin):
    """The operator of this request, detached from the database session."""

    id: int
    email: str
    role: OperatorRole
    stamp: str

    @property
    def is_admin(self) -> bool:
        return self.role is OperatorRole.ADMIN

    def get_id(self) -> str:
        return f"{self.id}:{self.stamp}"


def signed_in(operator: Operator) -> SignedInOperator:
    return SignedInOperator(operator.id, operator.email, operator.role, _stamp(operator))


def _stamp(operator: Operator) -> str:
    return hashlib.sha256(operator.password_hash.encode()).hexdigest()[:16]


@login_manager.user_loader
def _load(session_id: str) -> SignedInOperator | None:
    operator_id, _, stamp = session_id.partition(":")
    if not operator_id.isdigit():
        return None
    with session_scope() as session:
        operator = session.get(Operator, int(operator_id))
        if operator is None or _stamp(operator) != stamp:
            return None
        return signed_in(operator)


@login_manager.unauthorized_handler
def _unauthorized() -> Response | tuple[Response, int]:
    if wants_json():
        return jsonify(error="log in first"), 401
    return redirect(url_for("dashboard.login", next=request.full_path.rstrip("?")))


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.session_protection = "basic"
    app.before_request(_read_operator)


def _read_operator() -> None:
    # Flask-Login reads the signed-in operator when a template is first rendered. A view
    # that renders inside its own transaction would then open a second one, which on SQLite
    # waits for the first's write lock until the busy timeout: read it before any view.
    # A request without cookies names no operator (a reader's, a signup from another site).
    if request.cookies:
        _ = current_user.is_authenticated


def wants_json() -> bool:
    if request.path.endswith(".json"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def require_operator(actions_need_admin: bool = True) -> Response | tuple[object, int] | None:
    """For a blueprint's before_request: None to go on, else the answer to give."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if actions_need_admin and request.method not in SAFE_METHODS and not current_user.is_admin:
        if wants_json():
            return jsonify(error="only an admin may do this"), 403
        return forbidden()
    return None


def forbidden() -> tuple[str, int]:
    message = "Viewers can look at everything here; changing it takes an admin."
    return render_template(
        "dashboard/message.html", title="Only an admin may do this", message=message
    ), 403


def safe_next(target: str | None) -> str | None:
    """A path on this site to go on to after logging in; None for anywhere else."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return None
    return target

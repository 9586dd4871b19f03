"""Operators for dashboard tests: made in the database, logged in through the form."""

from __future__ import annotations

from flask.testing import FlaskClient

from core.clock import utcnow
from core.db import session_scope
from core.models import OperatorRole
from tasks.operators import create_operator
from tests.support.web import csrf_token

PASSWORD = "a long enough password"


def make_operator(email: str, role: OperatorRole = OperatorRole.ADMIN) -> str:
    with session_scope() as session:
        create_operator(session, email, PASSWORD, role, utcnow())
    return email


def log_in(client: FlaskClient, email: str, password: str = PASSWORD) -> None:
    form = {"csrf_token": csrf_token(client, "/dashboard/login"), "email": email}
    answer = client.post("/dashboard/login", data={**form, "password": password})
    assert answer.status_code == 302, f"could not log in as {email}: {answer.status_code}"


def form_token(client: FlaskClient) -> str:
    """A CSRF token for this client's session, for posting dashboard actions."""
    return csrf_token(client, "/dashboard/login")

"""Who may reach what: the whole attack surface in one list.

Every route the app registers is here, either behind the operators' login (the dashboard
and, outside `tend dev`, the author previews: tests/integration/test_dashboard_access.py
walks each of those for the login and the admin role) or open, with what guards it. A new
route fails this test until it is put in one or the other, so nothing is opened by
accident. /metrics without a token from another machine is held by
tests/integration/test_ops_endpoints.py.
"""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

# The blueprints whose every route needs an operator's login.
CLOSED = {"dashboard", "author"}
# Every open route, with what guards it.
OPEN = {
    "dashboard.login": "the login form: CSRF, rate limit per IP, lockout per account",
    "signup.form": "CSRF, rate limits per IP and per address, hidden field, double opt-in",
    "signup.subscribe": "for other sites: rate limits, hidden field, CORS list, double opt-in",
    "signup.check_inbox": "static words",
    "signup.confirm_page": "signed link (7 days); GET only shows a button",
    "signup.confirm": "signed link (7 days) and CSRF",
    "leave.page": "signed link; GET only shows buttons",
    "leave.unsubscribe": "signed link (RFC 8058 one-click: no cookie, no CSRF)",
    "leave.pause_instead": "signed link and CSRF",
    "preferences.page": "signed link",
    "preferences.details": "signed link and CSRF",
    "preferences.course": "signed link and CSRF",
    "preferences.newsletter_list": "signed link and CSRF",
    "preferences.unsubscribe": "signed link and CSRF",
    "preferences.read": "public letters, with placeholders in place of a reader's links",
    "privacy.data_page": "signed link; GET only shows a button",
    "privacy.download": "signed link and CSRF",
    "privacy.erase_page": "signed link; GET only shows a button",
    "privacy.erase": "signed link and CSRF",
    "library.page": "signed link",
    "library.read": "signed link, and only letters that reader received",
    "hooks.sendgrid_events": "ECDSA signature and a recent timestamp",
    "ops.healthz": "says only whether the database and Redis answer",
    "ops.metrics": "bearer token, or this machine only",
    "static": "our own CSS, scripts and images",
}


def test_every_route_is_behind_the_login_or_listed_with_its_guard(app: Flask) -> None:
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    closed = {e for e in endpoints if e.split(".")[0] in CLOSED and e not in OPEN}
    assert len(closed) > 30, "the walk found the dashboard"
    assert endpoints - closed == set(OPEN), "a route is neither behind the login nor listed"


def test_no_closed_route_opens_to_someone_not_logged_in(app: Flask, client: FlaskClient) -> None:
    """A spot check of the rule the dashboard test walks: outside `tend dev`, the author
    previews are closed too, including the letter's own HTML."""
    for path in ("/author/", "/author/softening-sessions/welcome/html", "/dashboard/"):
        answer = client.get(path)
        assert answer.status_code == 302, path
        assert answer.headers["Location"].startswith("/dashboard/login"), path

"""Every dashboard and author page is closed without a login, and every action to a viewer."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from core.clock import utcnow
from core.db import session_scope
from core.models import Operator, OperatorRole
from tasks.operators import LOCK_AFTER, authenticate, find_operator, set_password
from tests.support.operators import PASSWORD, form_token, log_in, make_operator
from tests.support.web import csrf_token
from web.cli import cli

OPEN = {"dashboard.login"}
ACTIONS = {"POST", "PUT", "PATCH", "DELETE"}


def closed_rules(app: Flask) -> list[Rule]:
    rules = [
        rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.split(".")[0] in {"dashboard", "author"} and rule.endpoint not in OPEN
    ]
    assert len(rules) > 10, "the dashboard's routes are not registered"
    return rules


def concrete(rule: Rule) -> str:
    """The rule's path with a plausible value in each variable."""
    values = {name: 1 if "int" in type(converter).__name__.lower() else "x"
              for name, converter in rule._converters.items()}  # fmt: skip
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: str(values[m.group(1)]), rule.rule)


def test_every_page_and_action_needs_a_login(app: Flask, client: FlaskClient) -> None:
    # With a valid CSRF token, so that it is the login that turns each request away.
    token = form_token(client)
    for rule in closed_rules(app):
        path = concrete(rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            answer = client.open(path, method=method, data={"csrf_token": token})
            if path.endswith(".json"):
                assert answer.status_code == 401, f"{method} {path}"
            else:
                assert answer.status_code == 302, f"{method} {path}: {answer.status_code}"
                assert "/dashboard/login" in answer.headers["Location"], f"{method} {path}"


def test_json_asked_for_gets_401_not_a_redirect(client: FlaskClient) -> None:
    answer = client.get("/dashboard/", headers={"Accept": "application/json"})
    assert answer.status_code == 401
    assert answer.json == {"error": "log in first"}


def test_a_viewer_may_look_but_never_act(app: Flask, viewer: FlaskClient) -> None:
    token = form_token(viewer)
    refused = []
    for rule in closed_rules(app):
        path = concrete(rule)
        for method in sorted((rule.methods or set()) & ACTIONS):
            if rule.endpoint == "dashboard.logout":
                continue
            answer = viewer.open(path, method=method, data={"csrf_token": token})
            assert answer.status_code == 403, f"{method} {path}: {answer.status_code}"
            refused.append(rule.endpoint)
    # Stop and resume sending, retries, cancel and resume an issue, the reader actions,
    # imports: if these are not all here, the walk above proved little.
    assert len(refused) >= 15, refused


def test_an_admin_sees_the_overview_and_a_viewer_too(
    admin: FlaskClient, viewer: FlaskClient
) -> None:
    for client in (admin, viewer):
        page = client.get("/dashboard/")
        assert page.status_code == 200
        assert "Log out" in page.text


def test_login_goes_on_to_the_page_asked_for_but_never_off_site(
    app: Flask, client: FlaskClient
) -> None:
    make_operator("ops@example.org")
    asked = client.get("/dashboard/readers?status=active")
    assert asked.headers["Location"].endswith(
        "/dashboard/login?next=/dashboard/readers?status%3Dactive"
    )
    for target, expected in [
        ("/dashboard/readers?status=active", "/dashboard/readers?status=active"),
        ("https://evil.example/", "/dashboard/"),
        ("//evil.example/", "/dashboard/"),
        ("/\\evil.example", "/dashboard/"),
    ]:
        fresh = app.test_client()
        form = {"csrf_token": csrf_token(fresh, "/dashboard/login"), "email": "ops@example.org"}
        answer = fresh.post(f"/dashboard/login?next={target}", data={**form, "password": PASSWORD})
        assert answer.status_code == 302
        assert answer.headers["Location"] == expected, target


def test_a_wrong_password_and_an_unknown_address_get_the_same_answer(client: FlaskClient) -> None:
    make_operator("ops@example.org")
    answers = []
    for email, password in [("ops@example.org", "not the password"), ("who@example.org", PASSWORD)]:
        form = {"csrf_token": csrf_token(client, "/dashboard/login"), "email": email}
        answer = client.post("/dashboard/login", data={**form, "password": password})
        # Each page carries its own CSRF token (signed with the time): the rest must match.
        page = re.sub(r"[\w.-]{60,}", "TOKEN", answer.text.replace(email, ""))
        answers.append((answer.status_code, page))
    assert answers[0] == answers[1]
    assert answers[0][0] == 400


def test_repeated_wrong_passwords_lock_the_account_for_a_while(db: None) -> None:
    make_operator("ops@example.org")
    now = utcnow()
    with session_scope() as session:
        for _ in range(LOCK_AFTER):
            assert authenticate(session, "ops@example.org", "wrong password!", now) is None
    with session_scope() as session:
        # Locked: even the right password is refused, until the lock runs out.
        assert authenticate(session, "ops@example.org", PASSWORD, now) is None
        later = now + timedelta(minutes=16)
        assert authenticate(session, "ops@example.org", PASSWORD, later) is not None


def test_logging_out_ends_the_session(admin: FlaskClient) -> None:
    answer = admin.post("/dashboard/logout", data={"csrf_token": form_token(admin)})
    assert answer.status_code == 302
    assert admin.get("/dashboard/").status_code == 302


def test_a_new_password_ends_sessions_opened_with_the_old_one(admin: FlaskClient) -> None:
    with session_scope() as session:
        operator = find_operator(session, "admin@example.org")
        assert operator is not None
        set_password(operator, "another long password")
    assert admin.get("/dashboard/").status_code == 302


def test_actions_without_a_csrf_token_are_refused(admin: FlaskClient) -> None:
    assert admin.post("/dashboard/logout").status_code == 400
    assert admin.get("/dashboard/").status_code == 200


def test_session_cookie_is_httponly_and_samesite_lax(app: Flask) -> None:
    client = app.test_client()
    make_operator("ops@example.org")
    form = {"csrf_token": csrf_token(client, "/dashboard/login"), "email": "ops@example.org"}
    answer = client.post("/dashboard/login", data={**form, "password": PASSWORD})
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_create_operator_from_the_command_line(db: None, tmp_path) -> None:
    secret = tmp_path / "password"
    secret.write_text("correct horse battery staple\n")
    runner = CliRunner()
    made = runner.invoke(
        cli,
        ["create-operator", "Ana@Example.org", "--role", "viewer", "--password-file", str(secret)],
    )
    assert made.exit_code == 0, made.output
    assert "can now log in" in made.output
    again = runner.invoke(
        cli, ["create-operator", "ana@example.org", "--password-file", str(secret)]
    )
    assert again.exit_code != 0
    assert "already an operator" in again.output
    short = runner.invoke(
        cli, ["create-operator", "b@example.org", "--password-file", "-"], input="short\n"
    )
    assert short.exit_code != 0
    assert "at least 12 characters" in short.output
    prompted = runner.invoke(
        cli, ["create-operator", "c@example.org"], input="a password typed twice\n" * 2
    )
    assert prompted.exit_code == 0, prompted.output
    with session_scope() as session:
        ana = find_operator(session, "ana@example.org")
        assert ana is not None
        assert ana.role is OperatorRole.VIEWER
        assert ana.password_hash.startswith("$argon2id$")
        assert session.query(Operator).count() == 2


def test_author_pages_need_a_login_outside_tend_dev(app: Flask, admin: FlaskClient) -> None:
    assert app.test_client().get("/author/").status_code == 302
    assert admin.get("/author/").status_code == 200


@pytest.mark.parametrize("role", [OperatorRole.ADMIN, OperatorRole.VIEWER])
def test_log_in_helper_works_for_both_roles(app: Flask, role: OperatorRole) -> None:
    client = app.test_client()
    log_in(client, make_operator(f"{role}@example.org", role))
    assert client.get("/dashboard/").status_code == 200

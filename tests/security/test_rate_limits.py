"""Rate limits on what a robot would hammer: the signup, the dashboard login, and every
page reached by a signed link. Each limit, set small through its setting, refuses with a
429 that says when to come back (Retry-After), counts per address, and lets requests
through again once its window has passed.

tests/integration/test_signup.py holds the signup's default limits per IP and per
address; here are the windows' ends, the login, and the links.
"""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from core.clock import utcnow
from core.config import Settings
from core.tokens import Purpose, Signer
from courses.model import Catalog
from tests.support.operators import PASSWORD, make_operator
from tests.support.processes import wait_for
from tests.support.readers import active_reader
from tests.support.web import csrf_token, sign_up
from web import create_app

# Small limits with a short window (counted in Redis, whose keys expire in real time), so
# that a test can wait for it to pass; long enough that a test's requests fit in one.
WINDOW = 3
ALLOWED = 3
FEW = f"{ALLOWED}/{WINDOW}second"
PURPOSES = {"confirm": Purpose.CONFIRM, "u": Purpose.UNSUBSCRIBE}


def app_with(settings: Settings, **limits: str) -> Flask:
    app = create_app(settings.model_copy(update=limits))
    app.config["TESTING"] = True
    return app


def from_ip(app: Flask, ip: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    return client


def refused_with_retry_after(answer: TestResponse) -> bool:
    if answer.status_code != 429:
        return False
    assert 0 < int(answer.headers["Retry-After"]) <= WINDOW, "comes back within the window"
    assert "Slow down a little" in answer.text
    return True


def log_in(client: FlaskClient, password: str) -> TestResponse:
    form = {"csrf_token": csrf_token(client, "/dashboard/login"), "email": "admin@example.org"}
    return client.post("/dashboard/login", data={**form, "password": password})


def test_signups_are_let_through_again_once_the_window_has_passed(
    db: None, settings: Settings
) -> None:
    client = from_ip(app_with(settings, signup_limits=FEW), "10.0.0.1")
    statuses = [sign_up(client, f"r{n}@example.org").status_code for n in range(ALLOWED)]
    assert statuses == [303] * ALLOWED
    assert refused_with_retry_after(sign_up(client, "one-more@example.org"))
    wait_for(
        lambda: sign_up(client, "later@example.org").status_code == 303,
        timeout=WINDOW + 5,
        what="the signup limit's window to pass",
    )


def test_login_attempts_from_one_address_are_limited_and_reset(
    db: None, settings: Settings
) -> None:
    make_operator("admin@example.org")
    app = app_with(settings, login_limits=FEW)
    prober = from_ip(app, "10.0.0.2")
    assert [log_in(prober, "wrong").status_code for _ in range(ALLOWED)] == [400] * ALLOWED
    assert refused_with_retry_after(log_in(prober, PASSWORD)), "even the right password waits"
    assert log_in(from_ip(app, "10.0.0.3"), PASSWORD).status_code == 302, "others may log in"
    wait_for(
        lambda: log_in(prober, PASSWORD).status_code == 302,
        timeout=WINDOW + 5,
        what="the login limit's window to pass",
    )


def link_routes(app: Flask) -> list[tuple[str, Rule]]:
    found = [
        (method, rule)
        for rule in app.url_map.iter_rules()
        if "token" in rule.arguments
        for method in sorted((rule.methods or set()) & {"GET", "POST"})
    ]
    assert len(found) >= 16, "the walk found the link routes"
    return found


def address(rule: Rule, token: str) -> str:
    extra = {"publication": "softening-sessions", "letter": "welcome"}
    return rule.build({"token": token, **{k: extra[k] for k in rule.arguments - {"token"}}})[1]


def open_link(client: FlaskClient, method: str, url: str) -> TestResponse:
    return client.open(url, method=method, data={"csrf_token": csrf_token(client, "/")})


def test_bad_links_from_one_address_are_limited_on_every_link_route_and_reset(
    db: None, settings: Settings, catalog: Catalog
) -> None:
    _, uid = active_reader(catalog, utcnow())
    app = app_with(settings, link_limits=FEW)
    guesser = from_ip(app, "10.0.0.4")
    for n in range(ALLOWED):
        assert guesser.get(f"/p/not-a-token-{n}").status_code == 400
    signer = Signer(settings.require_secret_key())
    for method, rule in link_routes(app):
        good = signer.sign(PURPOSES.get(rule.rule.split("/")[1], Purpose.PREFERENCES), uid)
        answer = open_link(guesser, method, address(rule, good))
        assert refused_with_retry_after(answer), f"{method} {rule.rule} is not limited"
    reader = from_ip(app, "10.0.0.5")
    assert reader.get("/p/" + signer.sign(Purpose.PREFERENCES, uid)).status_code == 200
    wait_for(
        lambda: guesser.get("/p/" + signer.sign(Purpose.PREFERENCES, uid)).status_code == 200,
        timeout=WINDOW + 5,
        what="the link limit's window to pass",
    )


def test_good_links_never_count_so_one_click_from_a_mail_provider_is_never_slowed(
    db: None, settings: Settings, catalog: Catalog
) -> None:
    app = app_with(settings, link_limits=FEW)
    provider = from_ip(app, "10.0.0.6")
    signer = Signer(settings.require_secret_key())
    for n in range(ALLOWED * 3):
        _, uid = active_reader(catalog, utcnow(), email=f"reader{n}@example.org")
        link = "/u/" + signer.sign(Purpose.UNSUBSCRIBE, uid)
        assert provider.post(link, data={"List-Unsubscribe": "One-Click"}).status_code == 200

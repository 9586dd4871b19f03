"""Open redirects: no address a visitor supplies sends a browser to another site.

The login's `next` (test_dashboard_access.py tries three forms) meets every way a browser
can be talked into leaving: absolute URLs, scheme-relative and backslash forms, tabs and
line breaks browsers drop, user-info tricks, script URLs and percent-encoded versions of
each. Then every route of the app is sent the usual redirect parameters, as a reader and
as an operator, and no answer may point off the site.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from flask import Flask
from flask.testing import FlaskClient

from tests.support.operators import PASSWORD, make_operator
from tests.support.web import csrf_token
from web.dashboard.access import safe_next

EVIL = "evil.example"
TARGETS = (
    f"https://{EVIL}/",
    f"http://{EVIL}",
    f"//{EVIL}",
    f"///{EVIL}",
    f"////{EVIL}/",
    f"/\\{EVIL}",
    f"\\\\{EVIL}",
    f"\\/{EVIL}",
    f"/\t/{EVIL}",
    f"/\n/{EVIL}",
    f" //{EVIL}",
    f"https:{EVIL}",
    f"https:/{EVIL}",
    f"http://127.0.0.1:5000@{EVIL}/",
    f"//127.0.0.1:5000@{EVIL}",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    f"%2F%2F{EVIL}",
    f"/%2F{EVIL}",
    f"%5C%5C{EVIL}",
    f"/%5C{EVIL}",
    f"https%3A%2F%2F{EVIL}",
    f"%252F%252F{EVIL}",
)
REDIRECT_FIELDS = ("next", "url", "redirect", "redirect_to", "return", "return_to", "back")
SITE_HOSTS = {"", "127.0.0.1:5000", "localhost"}


def stays_on_site(location: str) -> bool:
    """Whether a browser following `location` stays here. Browsers drop tabs and line
    breaks and read a backslash as a slash, so the check does too."""
    seen = "".join(c for c in location if c not in "\t\r\n").strip().replace("\\", "/")
    parts = urlsplit(seen)
    if parts.scheme:
        # "https:evil.example" from an http page is https://evil.example/ to a browser.
        return parts.scheme in {"http", "https"} and parts.netloc in SITE_HOSTS - {""}
    return parts.netloc == "" and not seen.startswith("//")


def test_the_check_knows_an_escape_when_it_sees_one() -> None:
    assert stays_on_site("/dashboard/readers?status=active")
    assert stays_on_site("/%2F%2Fevil.example")  # a path on this site, however odd
    for escape in TARGETS[:17]:
        assert not stays_on_site(escape), escape


def test_no_next_target_is_taken_for_a_path_on_this_site() -> None:
    for target in TARGETS:
        kept = safe_next(target)
        assert kept is None or stays_on_site(kept), f"{target!r} -> {kept!r}"


def test_after_login_the_browser_never_leaves_the_site(app: Flask) -> None:
    """End to end, for one target of each kind (logging in takes a password hash's time)."""
    make_operator("ops@example.org")
    for target in (TARGETS[0], TARGETS[3], TARGETS[5], TARGETS[8], TARGETS[11], TARGETS[13]):
        client = app.test_client()
        form = {"csrf_token": csrf_token(client, "/dashboard/login"), "email": "ops@example.org"}
        answer = client.post(
            f"/dashboard/login?next={quote(target, safe='%')}",
            data={**form, "password": PASSWORD},
        )
        assert answer.status_code == 302, target
        assert stays_on_site(answer.headers["Location"]), f"{target!r}: {answer.headers}"


def test_no_route_redirects_off_site_whatever_it_is_sent(
    app: Flask, client: FlaskClient, admin: FlaskClient
) -> None:
    paths = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if not rule.arguments and "GET" in (rule.methods or set())
    ]
    assert len(paths) > 15, "the walk found the pages"
    for path in paths:
        # The operators' pages as an operator (a stranger is only sent to the login).
        visitor = admin if path.startswith(("/dashboard", "/author")) else client
        for n in range(0, len(TARGETS), 3):
            # Every third target in `next`, the others in the other usual names, in turn:
            # each target is in some field (seven fields, eight rounds).
            query = {f: TARGETS[(n + i) % len(TARGETS)] for i, f in enumerate(REDIRECT_FIELDS)}
            location = visitor.get(path, query_string=query).headers.get("Location")
            if location is not None:
                assert stays_on_site(location), f"{path}?{query!r} -> {location}"

"""Driving the reader's pages with Flask's test client, as a browser would."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask.testing import FlaskClient
from werkzeug.test import TestResponse


def csrf_token(client: FlaskClient, path: str) -> str:
    page = client.get(path)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def sign_up(client: FlaskClient, email: str, **fields: str) -> TestResponse:
    form = {
        "csrf_token": csrf_token(client, "/"),
        "email": email,
        "first_name": "",
        "timezone": "Europe/Paris",
        "consent": "y",
        **fields,
    }
    return client.post("/", data=form)


def path_of(url: str) -> str:
    return urlsplit(url).path


def press_button(client: FlaskClient, url: str) -> TestResponse:
    """Open a link's page and press its one button (confirm, unsubscribe)."""
    path = path_of(url)
    return client.post(path, data={"csrf_token": csrf_token(client, path)})

"""Protection for every form and every answer: CSRF (Flask-WTF), rate limits
(Flask-Limiter, in Redis) and the security headers each response carries.

The limits are counted in Redis so that every web process on every machine shares
them; a process that cannot reach Redis lets the request through rather than failing
it (`swallow_errors`), since a signup is worth more than a perfect count.

Every page runs under a strict Content-Security-Policy: scripts and styles only from our
own static files, or an inline block carrying this request's nonce (`csp_nonce()` in
templates). A letter's HTML is the one exception: MJML output needs inline styles, so a
response that is a letter gets a policy of its own that allows those and nothing that
runs, and may be framed only by our own pages (`letter_response`).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

from flask import Flask, Request, Response, abort, g, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import RequestEntityTooLarge

from core.config import Settings

csrf = CSRFProtect()
limiter = Limiter(
    key_func=get_remote_address,
    # No X-RateLimit headers on every answer: each costs a Redis round trip, and they tell
    # a robot how far it may go. A refusal says when to come back (Retry-After, errors.py).
    headers_enabled=False,
    swallow_errors=True,
    key_prefix="tend:limits",
    # One INCR a limit, where a moving window runs a script over a list of hits: the
    # signup's largest fixed cost after the database. The window's edge lets a burst of up
    # to twice a limit through, which double opt-in and the per-address limit absorb.
    strategy="fixed-window",
)


# The policy of every page; {nonce} is this request's. No 'unsafe-inline' anywhere: the
# dashboard's htmx runs with includeIndicatorStyles false and allowEval false for this.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'nonce-{nonce}'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# A letter's HTML: its own inline styles and remote images, nothing that runs, no forms
# (`sandbox` with no allowances), and shown only inside our own previews.
LETTER_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data: https: http:; "
    "font-src https: data:; frame-ancestors 'self'; sandbox"
)
# Pages of other modules whose answer is a letter as a reader received it, on its own.
HSTS = "max-age=31536000; includeSubDomains"


class NamedFieldsRequest(Request):
    """A request whose form fields all have names.

    Werkzeug files a multipart part sent without a name under None, and Flask-WTF's CSRF
    check (as any code reading a form) expects text and fails with a 500. Such a part
    names no field of ours, so it is dropped.
    """

    def _load_form_data(self) -> None:
        super()._load_form_data()
        form, files = self.__dict__["form"], self.__dict__["files"]
        if None in form:
            self.__dict__["form"] = _named(form)
        if None in files:
            for upload in files.getlist(None):
                upload.close()  # the request closes only the files it still holds
            self.__dict__["files"] = _named(files)


def _named(fields: Any) -> Any:
    return type(fields)((k, v) for k, v in fields.items(multi=True) if k is not None)


def init_app(app: Flask, settings: Settings) -> None:
    app.request_class = NamedFieldsRequest
    csrf.init_app(app)
    app.before_request(refuse_nul)
    app.config["RATELIMIT_STORAGE_URI"] = settings.redis_url or "memory://"
    limiter.init_app(app)
    app.context_processor(lambda: {"csp_nonce": csp_nonce})
    strict_transport = settings.base_url.startswith("https://")

    @app.after_request
    def _security_headers(response: Response) -> Response:
        return secure(response, strict_transport)


def refuse_nul() -> None:
    """A NUL in a query or form field is a plain 400. No field of ours holds one, and
    PostgreSQL refuses to compare text that does: a search or a login would fail as a 500.
    (A multipart body is left to its view: the import reads it under a larger limit.)"""
    fields = [request.args]
    if request.mimetype == "application/x-www-form-urlencoded":
        fields.append(request.form)
    for multidict in fields:
        if any("\x00" in name or "\x00" in value for name, value in multidict.items(multi=True)):
            abort(400)


def csp_nonce() -> str:
    """This request's nonce: fresh and unguessable for each request, the same within it."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return str(g.csp_nonce)


def letter_response(html: str) -> Response:
    """A letter's HTML as an answer of its own, under the letter's policy."""
    g.letter_response = True
    return Response(html, mimetype="text/html")


def secure(response: Response, strict_transport: bool) -> Response:
    """Set the security headers on an answer. A header a view set itself is kept (the
    library's stricter Referrer-Policy, for one)."""
    headers = response.headers
    letter = g.get("letter_response", False)
    if letter:
        headers["Content-Security-Policy"] = LETTER_POLICY
    else:
        headers["Content-Security-Policy"] = PAGE_POLICY.format(nonce=csp_nonce())
    headers.setdefault("X-Frame-Options", "SAMEORIGIN" if letter else "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    # Reader links carry their token in the path: no other site may see one in a Referer.
    headers.setdefault("Referrer-Policy", "same-origin")
    if strict_transport:
        # Only behind https: on http://127.0.0.1 under `tend dev` it would pin the browser
        # to https for every port of localhost for a year.
        headers["Strict-Transport-Security"] = HSTS
    return response


def retry_after() -> int:
    """Seconds until the limit this request ran into lets requests through again."""
    limit = limiter.current_limit
    if limit is None:
        return 60
    return max(1, int(limit.reset_at - time.time()))


def address_key() -> str:
    """The submitted address, hashed: a limit per address that keeps no address in Redis."""
    try:
        submitted = _json_email() if request.is_json else request.form.get("email")
        address = (submitted or "").strip().lower()
    except RequestEntityTooLarge:
        # The view refuses this body (413). Raised here, the limiter logs it as an error
        # and skips every limit of the request.
        address = ""
    return "address:" + hashlib.sha256(address.encode()).hexdigest()[:32]


def _json_email() -> str:
    body = json_body()
    value = body.get("email") if isinstance(body, dict) else None
    return value if isinstance(value, str) else ""


def json_body() -> Any:
    """The request's JSON, or None if it is not JSON (nested too deep to parse included)."""
    try:
        return request.get_json(silent=True)
    except RecursionError:
        return None

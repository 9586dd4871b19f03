"""Protection for every form: CSRF (Flask-WTF) and rate limits (Flask-Limiter, in Redis).

The limits are counted in Redis so that every web process on every machine shares
them; a process that cannot reach Redis lets the request through rather than failing
it (`swallow_errors`), since a signup is worth more than a perfect count.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

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


def init_app(app: Flask, settings: Settings) -> None:
    csrf.init_app(app)
    app.config["RATELIMIT_STORAGE_URI"] = settings.redis_url or "memory://"
    limiter.init_app(app)


def retry_after() -> int:
    """Seconds until the limit this request ran into lets requests through again."""
    limit = limiter.current_limit
    if limit is None:
        return 60
    return max(1, int(limit.reset_at - time.time()))


def address_key() -> str:
    """The submitted address, hashed: a limit per address that keeps no address in Redis."""
    address = (request.form.get("email") or _json_email() or "").strip().lower()
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

"""SendGrid's signed event webhook, at /hooks/sendgrid.

A request is believed only if its ECDSA signature (over the timestamp and the raw body)
checks out with the public key from SendGrid's settings, and its timestamp is recent: an
old, signed request replayed later is refused. Anything that fails is a 403, never a 500.

The events are stored in the request and applied by a task, so SendGrid gets its answer
at once; if the task is lost, the tick applies what was left.
"""

from __future__ import annotations

import functools
import json
import logging
import time

from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from flask import Blueprint, Response, current_app, jsonify, request
from sendgrid.helpers.eventwebhook import EventWebhook
from sendgrid.helpers.eventwebhook.eventwebhook_header import EventWebhookHeader

from core.clock import utcnow
from core.config import Settings
from core.db import session_scope
from tasks import events, jobs
from web.security import csrf

log = logging.getLogger(__name__)

bp = Blueprint("hooks", __name__)

MAX_BODY = 4 * 1024 * 1024  # SendGrid posts batches of up to about 768 KB


@bp.post("/hooks/sendgrid")
@csrf.exempt  # a signed machine-to-machine post: the signature is the proof, not a cookie
def sendgrid_events() -> tuple[Response, int]:
    settings: Settings = current_app.extensions["tend.settings"]
    if not settings.sendgrid_webhook_public_key:
        return _answer("the event webhook is off: SENDGRID_WEBHOOK_PUBLIC_KEY is not set", 404)
    request.max_content_length = MAX_BODY
    body = request.get_data(cache=False)
    problem = _refused(body, settings)
    if problem:
        log.warning("refused a SendGrid event post: %s", problem)
        return _answer(problem, 403)
    try:
        rows = events.parse(json.loads(body, parse_constant=_no_constants), utcnow())
    except (ValueError, RecursionError, events.EventError) as error:
        return _answer(f"not a batch of SendGrid events: {error}", 400)
    with session_scope() as session:
        new = events.store(session, rows)
    if new:
        jobs.queue_events(new)
    return _answer(f"{len(new)} new of {len(rows)} events", 200)


def _refused(body: bytes, settings: Settings) -> str | None:
    """Why this post is not believed, or None if its signature and time check out."""
    signature = request.headers.get(EventWebhookHeader.SIGNATURE, "")
    stamp = request.headers.get(EventWebhookHeader.TIMESTAMP, "")
    if not signature or not stamp:
        return "no signature"
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        return "timestamp is missing or outside the allowed window"
    if abs(time.time() - int(stamp)) > settings.webhook_max_age:
        return "timestamp is missing or outside the allowed window"
    key = _public_key(settings.sendgrid_webhook_public_key or "")
    try:
        # The helper raises, rather than answering False, on a signature it cannot parse.
        valid = EventWebhook().verify_signature(body.decode(), signature, stamp, key)
    except Exception:
        valid = False
    return None if valid else "signature does not match"


def _no_constants(name: str) -> None:
    # NaN and Infinity parse in Python, but are not JSON, and no database stores them.
    raise ValueError(f"{name} is not a JSON value")


@functools.cache
def _public_key(text: str) -> EllipticCurvePublicKey:
    key = EventWebhook().convert_public_key_to_ecdsa(text)
    assert isinstance(key, EllipticCurvePublicKey)
    return key


def _answer(message: str, status: int) -> tuple[Response, int]:
    return jsonify(message=message), status

"""Each request's id, on every line logged while it is served, and its one access line.

The id is the caller's `X-Request-ID` when it is safe to log and echo (a proxy's or load
balancer's, so one id follows a request through both logs), else a new one; the answer
carries it back. The access line is logged by Flask itself rather than by gunicorn, so it
has the request's id and is JSON when the other lines are (the Procfile turns gunicorn's
own access log off).
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, g, request
from werkzeug.wrappers import Response

from core import logs

HEADER = "X-Request-ID"
# Short, and nothing that could break a log line or a header: no spaces, quotes, newlines.
_SANE = re.compile(r"[A-Za-z0-9._-]{1,64}")

access = logging.getLogger("web.access")


def init_app(app: Flask) -> None:
    """Call first in create_app: hooks run in the order they were added, so every other
    hook's lines (rate limits, refusals) come after the id is set."""
    app.before_request(_begin)
    # after_request hooks run in reverse: added first, this one sees the final answer.
    app.after_request(_answer)
    app.teardown_request(_end)


def request_id(incoming: str | None) -> str:
    if incoming and _SANE.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


def _begin() -> None:
    g.request_id = request_id(request.headers.get(HEADER))
    g.request_started = time.perf_counter()
    g.request_log = logs.bind(request_id=g.request_id)


def _answer(response: Response) -> Response:
    if "request_id" not in g:  # the request failed before its first hook
        _begin()
    response.headers[HEADER] = g.request_id
    took = round((time.perf_counter() - g.request_started) * 1000, 1)
    fields = {
        "method": request.method,
        "path": request.path,
        "status": response.status_code,
        "duration_ms": took,
    }
    access.info("%(method)s %(path)s %(status)d %(duration_ms).1f ms", fields, extra=fields)
    return response


def _end(_error: BaseException | None) -> None:
    token = g.pop("request_log", None)
    if token is not None:
        logs.unbind(token)

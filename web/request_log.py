"""Each request's id, on every line logged while it is served, and its one access line.

The id is the caller's `X-Request-ID` when it is safe to log and echo (a proxy's or load
balancer's, so one id follows a request through both logs), else a new one; the answer
carries it back. The access line is logged by Flask itself rather than by gunicorn, so it
has the request's id and is JSON when the other lines are (the Procfile turns gunicorn's
own access log off). Its path never holds a signed link's token: a token opens a reader's
preferences and data, and logs are read by more people, and kept longer, than mail.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import TypeVar

from flask import Flask, current_app, g, request
from werkzeug.routing import Map
from werkzeug.wrappers import Response

from core import logs

HEADER = "X-Request-ID"
# Short, and nothing that could break a log line or a header: no spaces, quotes, newlines.
_SANE = re.compile(r"[A-Za-z0-9._-]{1,64}")
# A route's `<token>` (or `<string:token>`) argument.
_TOKEN_ARGUMENT = re.compile(r"<(?:[^<>:]+:)?token>")

access = logging.getLogger("web.access")

Chunk = TypeVar("Chunk")


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
        "path": loggable_path(request.path),
        "status": response.status_code,
        "duration_ms": took,
    }
    access.info("%(method)s %(path)s %(status)d %(duration_ms).1f ms", fields, extra=fields)
    return response


def loggable_path(path: str) -> str:
    """The path with a signed link's token as `<token>`, whether or not the rest matched a
    route (a mangled link that ends in 404 can still carry a good token)."""
    if "token_paths" not in current_app.extensions:  # every route is added by now
        current_app.extensions["token_paths"] = token_paths(current_app.url_map)
    pattern = current_app.extensions["token_paths"]
    return pattern.sub(r"\1<token>", path) if pattern else path


def token_paths(url_map: Map) -> re.Pattern[str] | None:
    """What comes before `<token>` in the app's routes (`/p/`, `/u/`, ...), then the token."""
    prefixes = {
        _TOKEN_ARGUMENT.split(rule.rule, 1)[0]
        for rule in url_map.iter_rules()
        if "token" in rule.arguments
    }
    if not prefixes:
        return None
    alternatives = "|".join(re.escape(prefix) for prefix in sorted(prefixes))
    return re.compile(f"^({alternatives})[^/]+")


def streamed(chunks: Iterable[Chunk]) -> Iterator[Chunk]:
    """A response body that is made while it is sent, after the request's hooks are done;
    the lines logged while each part is made (its queries, its errors) carry the request's
    id all the same."""
    return _bound_to(g.request_id, iter(chunks))  # read now: the request is over by the first part


def _bound_to(request_id: str, parts: Iterator[Chunk]) -> Iterator[Chunk]:
    while True:
        # Bound around each part only: between parts the server's own code runs.
        with logs.bound(request_id=request_id):
            try:
                part = next(parts)
            except StopIteration:
                return
        yield part


def _end(_error: BaseException | None) -> None:
    token = g.pop("request_log", None)
    if token is not None:
        logs.unbind(token)

"""Endpoints for the machines that watch Tend: /healthz for a load balancer or an
orchestrator, /metrics for Prometheus.

/healthz needs no login and says only whether the database and Redis answer. /metrics
says more (how much mail, how busy), so it answers to a bearer token when
TEND_METRICS_TOKEN is set, and otherwise only to this machine itself: a request relayed by
a proxy carries the proxy's loopback address, so any forwarding header turns it away.
"""

from __future__ import annotations

import hmac
from datetime import timedelta

from flask import Blueprint, Response, jsonify, request

from core.clock import utcnow
from core.db import session_scope
from core.models import DeliveryStatus
from tasks import heartbeat
from tasks.reports.overview import recent_outcomes
from tasks.switches import sending_stopped
from web import context

bp = Blueprint("ops", __name__)

LOOPBACK = {"127.0.0.1", "::1"}
FORWARDING_HEADERS = ("X-Forwarded-For", "X-Real-IP", "Forwarded")
RECENT = timedelta(hours=24)
PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    url = context.settings().redis_url
    checks = {
        "database": "ok" if heartbeat.database_reachable() else "down",
        "redis": "ok" if url and heartbeat.redis_reachable(heartbeat.client(url)) else "down",
    }
    healthy = all(state == "ok" for state in checks.values())
    answer = jsonify(checks)
    answer.headers["Cache-Control"] = "no-store"
    return answer, 200 if healthy else 503


@bp.get("/metrics")
def metrics() -> Response:
    refused = _refuse()
    if refused is not None:
        return refused
    now = utcnow()
    with session_scope() as session:
        outcomes = recent_outcomes(session, now - RECENT)
        stopped = sending_stopped(session) is not None
    state = heartbeat.live(context.settings().require_redis_url())
    body = exposition(outcomes, state, stopped)
    return Response(body, content_type=PROMETHEUS_TYPE, headers={"Cache-Control": "no-store"})


def _refuse() -> Response | None:
    """None if this request may read the metrics, else the answer that turns it away."""
    token = context.settings().metrics_token
    if token:
        given = request.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(value.encode(), token.encode()):
            return None
        return Response(
            "A bearer token is needed.\n",
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            content_type="text/plain; charset=utf-8",
        )
    local = request.remote_addr in LOOPBACK
    if local and not any(name in request.headers for name in FORWARDING_HEADERS):
        return None
    return Response(
        "Metrics answer only on this machine unless TEND_METRICS_TOKEN is set.\n",
        status=403,
        content_type="text/plain; charset=utf-8",
    )


def exposition(outcomes: dict[DeliveryStatus, int], state: heartbeat.Live, stopped: bool) -> str:
    """The Prometheus text format. A figure nobody could read (Redis down) is left out,
    as Prometheus expects, rather than shown as a false zero."""
    lines: list[str] = []

    def gauge(name: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        if not samples:
            return
        lines.extend([f"# HELP {name} {help_text}", f"# TYPE {name} gauge"])
        lines.extend(f"{name}{labels} {_value(value)}" for labels, value in samples)

    gauge(
        "tend_deliveries_last_24h",
        "Deliveries by status, among those whose status changed in the last 24 hours.",
        [(f'{{status="{status.value}"}}', count) for status, count in outcomes.items()],
    )
    gauge("tend_redis_up", "1 if Redis answered.", [("", 1 if state.redis_ok else 0)])
    gauge("tend_sending_stopped", "1 while an operator has stopped all sending.",
          [("", 1 if stopped else 0)])  # fmt: skip
    gauge("tend_queue_depth", "Tasks waiting in the broker for a worker.",
          _known(state.queue_depth))  # fmt: skip
    gauge("tend_workers_live", "Celery workers that answered a ping in the last seconds.",
          _known(state.workers))  # fmt: skip
    tick = state.tick
    gauge("tend_tick_duration_seconds", "How long the last finished tick took.",
          _known(tick.seconds if tick else None))  # fmt: skip
    gauge("tend_last_tick_timestamp_seconds", "When the last tick finished (Unix time).",
          _known(tick.finished_at.timestamp() if tick else None))  # fmt: skip
    return "\n".join(lines) + "\n"


def _known(value: float | None) -> list[tuple[str, float]]:
    return [] if value is None else [("", value)]


def _value(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))

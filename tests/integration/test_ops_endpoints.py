"""/healthz for load balancers and /metrics for Prometheus, and who may read the metrics."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.clock import utcnow
from core.config import Settings
from core.db import session_scope
from core.models import DeliveryStatus
from tasks import jobs
from tasks.switches import stop_sending
from tests.integration.test_dashboard_overview import with_status
from web import create_app
from web.embedded_redis import free_port

TOKEN = "a-metrics-token-for-the-tests"
ELSEWHERE = {"REMOTE_ADDR": "203.0.113.9"}


def app_with(settings: Settings, **changes: object) -> Flask:
    app = create_app(settings.model_copy(update=changes))
    app.config["TESTING"] = True
    return app


def samples(text: str) -> dict[str, float]:
    """Each sample line of the Prometheus text format: {"name{labels}": value}."""
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
    return found


def test_healthz_says_the_database_and_redis_answer(client: FlaskClient) -> None:
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json == {"database": "ok", "redis": "ok"}
    assert answer.headers["Cache-Control"] == "no-store"


def test_healthz_names_what_is_down(db: None, settings: Settings) -> None:
    # Nothing listens on a port just found free: Redis there does not answer.
    app = app_with(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    answer = app.test_client().get("/healthz")
    assert answer.status_code == 503
    assert answer.json == {"database": "ok", "redis": "down"}


def test_metrics_speak_prometheus_on_this_machine(client: FlaskClient) -> None:
    now = utcnow()
    with_status(3, DeliveryStatus.DELIVERED, now, first=0)
    with_status(1, DeliveryStatus.BOUNCED, now, first=10)
    jobs.tick.run()
    jobs.send_batch.delay([1])  # no worker runs here: it waits in the queue
    answer = client.get("/metrics")  # the test client comes from 127.0.0.1
    assert answer.status_code == 200
    assert answer.content_type == "text/plain; version=0.0.4; charset=utf-8"
    text = answer.text
    assert "# TYPE tend_deliveries_last_24h gauge" in text
    found = samples(text)
    assert found['tend_deliveries_last_24h{status="delivered"}'] == 3
    assert found['tend_deliveries_last_24h{status="bounced"}'] == 1
    assert found['tend_deliveries_last_24h{status="failed"}'] == 0
    assert found["tend_queue_depth"] >= 1
    assert found["tend_workers_live"] == 0
    assert found["tend_sending_stopped"] == 0
    assert found["tend_redis_up"] == 1
    assert 0 <= found["tend_tick_duration_seconds"] < 60
    assert abs(found["tend_last_tick_timestamp_seconds"] - now.timestamp()) < 60
    for line in text.splitlines():  # every line is a comment or a well-formed sample
        assert re.fullmatch(
            r"# (HELP|TYPE) tend_\w+ .+|tend_\w+(\{\w+=\"\w+\"\})? [0-9.e+-]+", line
        )


def test_metrics_leave_out_what_is_unknown_and_show_the_switch(client: FlaskClient) -> None:
    with session_scope() as session:
        stop_sending(session, "ops@example.org", utcnow(), "testing")
    found = samples(client.get("/metrics").text)
    assert found["tend_sending_stopped"] == 1
    assert "tend_last_tick_timestamp_seconds" not in found, "no tick yet: no false zero"
    assert "tend_tick_duration_seconds" not in found


def test_without_a_token_metrics_answer_only_to_this_machine(client: FlaskClient) -> None:
    assert client.get("/metrics", environ_base=ELSEWHERE).status_code == 403
    # A proxy on this machine relays others' requests from 127.0.0.1: not local.
    proxied = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.status_code == 403
    assert client.get("/metrics", headers={"Forwarded": "for=203.0.113.9"}).status_code == 403
    assert client.get("/metrics").status_code == 200


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 401),
        ("Bearer wrong-token", 401),
        (f"Basic {TOKEN}", 401),
        (f"Bearer {TOKEN}x", 401),
        (f"Bearer {TOKEN}", 200),
        (f"bearer {TOKEN}", 200),
    ],
)
def test_with_a_token_metrics_need_it_from_everywhere(
    db: None, settings: Settings, authorization: str | None, status: int
) -> None:
    client = app_with(settings, metrics_token=TOKEN).test_client()
    headers = {"Authorization": authorization} if authorization else {}
    for where in ({}, ELSEWHERE):  # this machine too: the token is the rule now
        answer = client.get("/metrics", headers=headers, environ_base=where)
        assert answer.status_code == status, (authorization, where)
        if status == 401:
            assert answer.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'


def test_healthz_and_metrics_need_no_dashboard_login(client: FlaskClient) -> None:
    for path in ("/healthz", "/metrics"):
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert "Location" not in answer.headers

"""Every line logged while a request is served or a task runs says which one it belongs
to: the web process's lines carry the request's id (also sent back in X-Request-ID), a
worker's carry the task's id and name, and a batch's lines name its deliveries."""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from core import logs
from core.clock import utcnow
from core.config import Settings
from core.db import session_scope
from core.models import Delivery, DeliveryStatus
from core.tokens import Purpose, Signer
from courses.model import Catalog
from tasks import jobs
from tests.support.log_lines import Lines
from tests.support.processes import stop, wait_for, wait_for_log
from tests.support.readers import active_reader, many_due
from tests.support.web import csrf_token
from tests.support.worker import running_worker

GENERATED = re.compile(r"[0-9a-f]{32}")
WAIT = 30.0  # seconds a worker may take to send a small batch
PROCFILE = Path(__file__).resolve().parents[2] / "Procfile"


@pytest.fixture
def lines() -> Iterator[Lines]:
    """The process's JSON lines from INFO up, SQLAlchemy's statements among them."""
    root, engine = logging.getLogger(), logging.getLogger("sqlalchemy.engine")
    levels = root.level, engine.level
    handler = Lines()
    logs.format_handler(handler, "json")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    engine.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(levels[0])
        engine.setLevel(levels[1])


def json_env() -> dict[str, str]:
    """This run's settings (conftest.py), with JSON logs, for a process of Tend's."""
    return {**os.environ, "TEND_LOG_FORMAT": "json"}


def signup_form(client: FlaskClient, **fields: str) -> dict[str, str]:
    return {
        "csrf_token": csrf_token(client, "/"),
        "email": "reader@example.org",
        "timezone": "Europe/Paris",
        "consent": "y",
        **fields,
    }


def one_id(lines: list[dict[str, Any]]) -> str:
    ids = {line.get("request_id") for line in lines}
    assert len(ids) == 1, f"lines of one request with other ids: {ids}"
    return str(ids.pop())


def test_every_line_of_a_request_ours_and_sqlalchemys_carries_the_id_it_answers_with(
    client: FlaskClient, lines: Lines
) -> None:
    form = signup_form(client)
    lines.lines.clear()
    answer = client.post("/", data=form)
    assert answer.status_code == 303
    during = lines.json()
    loggers = {line["logger"] for line in during}
    assert {"sqlalchemy.engine.Engine", "web.access"} <= loggers
    assert one_id(during) == answer.headers["X-Request-ID"]
    assert GENERATED.fullmatch(answer.headers["X-Request-ID"])
    [access] = [line for line in during if line["logger"] == "web.access"]
    assert (access["method"], access["path"], access["status"]) == ("POST", "/", 303)
    assert isinstance(access["duration_ms"], float)

    logging.getLogger("tests").warning("after the request")
    assert "request_id" not in lines.json()[-1], "a request's id outlives it"


def test_each_request_has_an_id_of_its_own(client: FlaskClient, lines: Lines) -> None:
    first, second = client.get("/"), client.get("/")
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]
    ids = [line["request_id"] for line in lines.json() if line["logger"] == "web.access"]
    assert ids == [first.headers["X-Request-ID"], second.headers["X-Request-ID"]]


def test_a_callers_sane_id_is_kept_on_the_apps_own_lines_too(
    client: FlaskClient, lines: Lines
) -> None:
    form = signup_form(client, website="https://spam.example")  # a robot's signup
    lines.lines.clear()
    answer = client.post("/", data=form, headers={"X-Request-ID": "lb-7f3a.9_Z"})
    assert answer.headers["X-Request-ID"] == "lb-7f3a.9_Z"
    during = lines.json()
    messages = [line["message"] for line in during]
    assert "ignored a signup with the hidden field filled in" in messages
    assert one_id(during) == "lb-7f3a.9_Z"


def test_the_access_line_never_holds_a_signed_links_token(
    client: FlaskClient, lines: Lines, settings: Settings, catalog: Catalog
) -> None:
    _, uid = active_reader(catalog, utcnow())
    signer = Signer(settings.require_secret_key())
    preferences, leave = (
        signer.sign(Purpose.PREFERENCES, uid),
        signer.sign(Purpose.UNSUBSCRIBE, uid),
    )
    asked = {
        f"/p/{preferences}": "/p/<token>",
        f"/p/{preferences}/data": "/p/<token>/data",
        f"/u/{leave}": "/u/<token>",
        f"/library/{preferences}": "/library/<token>",
        f"/p/{preferences}/no-such-page": "/p/<token>/no-such-page",  # a mangled link
    }
    statuses = [client.get(path).status_code for path in asked]
    assert statuses == [200, 200, 200, 200, 404]

    access = [line for line in lines.json() if line["logger"] == "web.access"]
    assert [line["path"] for line in access] == list(asked.values())
    logged = "\n".join(lines.lines)
    assert preferences not in logged
    assert leave not in logged


def test_the_lines_logged_while_an_export_streams_carry_its_requests_id(
    admin: FlaskClient, lines: Lines, catalog: Catalog
) -> None:
    active_reader(catalog, utcnow())
    lines.lines.clear()
    answer = admin.get("/dashboard/export/readers.csv")  # the body is made as it is read
    assert "reader@example.org" in answer.get_data(as_text=True)

    logged = lines.json()
    [after_hooks] = [n for n, line in enumerate(logged) if line["logger"] == "web.access"]
    streaming = logged[after_hooks + 1 :]
    assert any("FROM subscribers" in line["message"] for line in streaming), streaming
    assert one_id(streaming) == answer.headers["X-Request-ID"]
    logging.getLogger("tests").warning("after the export")
    assert "request_id" not in lines.json()[-1], "the export's id outlives it"


@pytest.mark.parametrize(
    "incoming",
    ["x" * 65, "two words", 'quote"d', "semi;colon", "slash/../up", "tab\tin"],
)
def test_an_unsafe_incoming_id_is_replaced_by_a_new_one(
    client: FlaskClient, lines: Lines, incoming: str
) -> None:
    answer = client.get("/", headers={"X-Request-ID": incoming})
    assert GENERATED.fullmatch(answer.headers["X-Request-ID"])
    assert one_id(lines.json()) == answer.headers["X-Request-ID"]


def test_an_unexpected_error_is_one_json_line_with_the_requests_id_and_traceback(
    app: Flask, lines: Lines
) -> None:
    def broken() -> str:
        raise RuntimeError("the disk is full")

    app.add_url_rule("/broken", view_func=broken)
    answer = app.test_client().get("/broken")
    assert answer.status_code == 500
    during = lines.json()
    assert one_id(during) == answer.headers["X-Request-ID"]
    [error] = [line for line in during if line["message"] == "unexpected error"]
    assert error["level"] == "error"
    assert "RuntimeError: the disk is full" in error["error"]
    assert [line["status"] for line in during if line["logger"] == "web.access"] == [500]


def test_the_web_process_writes_json_lines_with_the_request_id_to_stderr(db: None) -> None:
    """web/wsgi.py, as gunicorn and `tend dev` load it, in a process of its own."""
    script = (
        "from web.wsgi import app\n"
        "print(app.test_client().get('/', headers={'X-Request-ID': 'wsgi-1'}).status_code)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=json_env(), capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "200", done.stderr
    lines = [json.loads(text) for text in done.stderr.splitlines()]
    [access] = [line for line in lines if line["logger"] == "web.access"]
    assert (access["request_id"], access["path"], access["status"]) == ("wsgi-1", "/", 200)


def test_gunicorn_as_the_procfile_runs_it_writes_json_lines_only(db: None, tmp_path: Path) -> None:
    """Its master's lines too (web/gunicorn_conf.py), and one access line a request, the
    app's own, with the request's id (gunicorn's access log is off)."""
    web = next(line for line in PROCFILE.read_text().splitlines() if line.startswith("web:"))
    # On loopback, on a port the system picks.
    bind = web.replace("0.0.0.0:${PORT:-8000}", "127.0.0.1:0")
    assert bind != web, f"the Procfile's web line binds elsewhere: {web}"
    arguments = shlex.split(bind.removeprefix("web:"))
    assert arguments[0] == "gunicorn"
    command = [sys.executable, "-m", "gunicorn", *arguments[1:], "--no-control-socket"]
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env=json_env(), cwd=PROCFILE.parent
        )
    try:
        wait_for_log(process, log, [b"Listening at: "], 30, "gunicorn")
        port = re.search(rb"Listening at: http://127.0.0.1:(\d+)", log.read_bytes())
        assert port, log.read_text()
        request = Request(f"http://127.0.0.1:{int(port[1])}/", headers={"X-Request-ID": "gu-1"})
        with urlopen(request, timeout=30) as answer:
            assert answer.headers["X-Request-ID"] == "gu-1"
    finally:
        stop(process, grace=20)
    lines = [json.loads(text) for text in log.read_text().splitlines()]
    assert "gunicorn.error" in {line["logger"] for line in lines}
    [access] = [line for line in lines if line["logger"] == "web.access"]
    assert (access["request_id"], access["status"]) == ("gu-1", 200)


# The worker


def worker_lines(log: Path) -> list[str]:
    return log.read_text(errors="replace").splitlines()


def parsed(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def finished(log: Path, task_id: str) -> bool:
    return f"[{task_id}] succeeded" in log.read_text(errors="replace")


def split_at_task(log: Path, task_id: str) -> tuple[list[str], list[str]]:
    """The worker's lines from handing the task to its pool to Celery's line saying it
    succeeded (all logged while it ran: the solo pool does nothing else meanwhile), and
    the lines after it. The consumer's lines before (the task was received, the pool
    applies it) come before the task starts; like the banner, they are exempt."""
    texts = worker_lines(log)
    handed = next(
        n for n, text in enumerate(texts) if "TaskPool: Apply" in text and task_id in text
    )
    done = next(n for n, text in enumerate(texts) if f"[{task_id}] succeeded" in text)
    return texts[handed + 1 : done + 1], texts[done + 1 :]


def sent(ids: list[int]) -> bool:
    with session_scope() as session:
        statuses = session.scalars(select(Delivery.status).where(Delivery.id.in_(ids))).all()
    return all(status is DeliveryStatus.SENT for status in statuses)


@pytest.mark.worker
def test_every_line_a_worker_logs_in_a_task_is_json_with_its_id_and_names_the_deliveries(
    db: None,
) -> None:
    ids = many_due(3, "welcome", utcnow())
    env = {"TEND_LOG_FORMAT": "json"}
    # At DEBUG, Celery's and kombu's own lines inside the task are checked too.
    with running_worker("json-logs", env=env, options=["--loglevel", "DEBUG"]) as (_, log):
        task_id = jobs.send_batch.delay(ids).id
        wait_for(lambda: finished(log, task_id), WAIT, f"the batch to be sent (log: {log})")
    assert sent(ids)
    inside, after = split_at_task(log, task_id)
    assert len(inside) >= 2, f"too few lines in the task to check: {inside}"
    for text in inside:
        line = parsed(text)
        assert line is not None, f"not a JSON line: {text!r}"
        assert (line.get("task_id"), line.get("task")) == (task_id, "tasks.jobs.send_batch"), text
    # Lines of the sending itself (ours, markdown's) also say which deliveries.
    sending = [
        line for text in inside if not (line := json.loads(text))["logger"].startswith("celery")
    ]
    assert {line["logger"] for line in sending} > {"tasks.jobs"}, "no library line to check"
    for line in sending:
        batch = (line.get("deliveries"), line.get("delivery_first"), line.get("delivery_last"))
        assert batch == (3, min(ids), max(ids)), line
    [summary] = [line for line in sending if line["logger"] == "tasks.jobs"]
    assert summary["delivery_ids"] == sorted(ids)
    assert summary["sent"] == 3
    # Once it is over, the worker's lines (its shutdown here) no longer carry its id.
    leaked = [text for text in after if "task_id" in (parsed(text) or {})]
    assert not leaked, "lines after the task still carry its id"

"""The SendGrid stand-in answers as SendGrid documents, fails on cue and signs its events."""

from __future__ import annotations

import base64
import http.client
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from queue import Empty, Queue
from typing import Any
from unittest.mock import ANY
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest
from cryptography.hazmat.primitives.serialization import load_der_public_key
from python_http_client.exceptions import HTTPError as SendGridError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.eventwebhook import EventWebhook

from tests.support.sendgrid_standin import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Delivered,
    SendGridStandIn,
    validate_mail_send,
)

KEY = "SG.test"
ROOT = Path(__file__).resolve().parents[2]
DROPPED = (OSError, http.client.HTTPException)  # what a client sees of a lost connection


# --- helpers ---------------------------------------------------------------------------


def body_for(readers: int, **extra: Any) -> dict[str, Any]:
    """A request like Tend's: the letter once, a personalization a reader."""
    body: dict[str, Any] = {
        "from": {"email": "letters@tend.example", "name": "Tend"},
        "subject": "Lesson 1",
        "content": [
            {"type": "text/plain", "value": "Hello %%name:text%%"},
            {"type": "text/html", "value": "<p>Hello %%name%%</p>"},
        ],
        "headers": {"List-Id": "<lessons.tend.example>"},
        "categories": ["lesson"],
        "custom_args": {"campaign": "c1"},
        "personalizations": [
            {
                "to": [{"email": f"reader{i}@example.com", "name": f"Reader {i}"}],
                "custom_args": {"delivery_id": str(i)},
                "headers": {"List-Unsubscribe": f"<https://tend.example/u/{i}>"},
                "substitutions": {"%%name%%": f"Reader {i}", "%%name:text%%": f"Reader {i}"},
            }
            for i in range(readers)
        ],
    }
    body.update(extra)
    return body


def client(sg: SendGridStandIn, key: str = KEY, timeout: float = 5) -> SendGridAPIClient:
    sendgrid = SendGridAPIClient(key, host=sg.url)
    sendgrid.client.timeout = timeout
    return sendgrid


def post(
    sg: SendGridStandIn, body: object, key: str | None = KEY, timeout: float = 5
) -> tuple[int, dict[str, str], bytes]:
    """POST with urllib: (status, headers, body), whatever the status."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    request = Request(f"{sg.url}/v3/mail/send", data=data, headers=headers, method="POST")
    try:
        with urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


def get_json(url: str) -> Any:
    with urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def fields(error_body: bytes | str) -> list[str | None]:
    return [problem["field"] for problem in json.loads(error_body)["errors"]]


@pytest.fixture
def sg() -> Iterator[SendGridStandIn]:
    with SendGridStandIn(api_key=KEY) as standin:
        yield standin


class Receiver:
    """A tiny event webhook: checks signatures with SendGrid's helper, answers as scripted."""

    def __init__(self, statuses: tuple[int, ...] = ()) -> None:
        self.statuses = deque(statuses)
        self.posts: list[tuple[bool, list[dict[str, Any]]]] = []
        self.changed = threading.Condition()
        self.key: Any = None
        webhook = EventWebhook()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                payload = self.rfile.read(int(self.headers["Content-Length"]))
                valid = webhook.verify_signature(
                    payload.decode(),
                    self.headers[SIGNATURE_HEADER],
                    self.headers[TIMESTAMP_HEADER],
                    receiver.key,
                )
                with receiver.changed:
                    status = receiver.statuses.popleft() if receiver.statuses else 200
                    status = status if valid else 403
                    receiver.posts.append((valid, json.loads(payload)))
                    receiver.changed.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = False  # server_close() joins the handlers
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}
        )

    def trust(self, public_key: str) -> Receiver:
        self.key = EventWebhook().convert_public_key_to_ecdsa(public_key)
        return self

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/webhooks/sendgrid"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.thread.join(5)
        self.server.server_close()

    def wait_for(self, check: Callable[[], bool], timeout: float = 5) -> None:
        with self.changed:
            assert self.changed.wait_for(check, timeout), f"webhook got only {self.posts}"


# --- accepting -------------------------------------------------------------------------


def test_a_full_request_of_1000_readers_is_accepted_and_recorded(sg: SendGridStandIn) -> None:
    response = client(sg).send(body_for(1000))

    assert response.status_code == 202
    assert response.body in (b"", "")
    message_id = response.headers["X-Message-Id"]
    assert len(message_id) == 22
    [accepted] = sg.accepted
    assert accepted.message_id == message_id
    assert len(accepted.body["personalizations"]) == 1000
    assert abs(accepted.received_at - time.time()) < 60
    recipients = sg.recipients()
    assert [r.email for r in recipients] == [f"reader{i}@example.com" for i in range(1000)]
    assert sg.count_by_address()["reader999@example.com"] == 1
    assert sg.requests == 1
    assert sg.responses == Counter({"202": 1})


def test_recipients_carry_what_sendgrid_merges_for_each(sg: SendGridStandIn) -> None:
    body = body_for(2)
    body["personalizations"][1]["subject"] = "Your own subject"
    body["personalizations"][1]["to"].append({"email": "Friend@Example.com"})
    status, headers, _ = post(sg, body)
    assert status == 202

    first, second, friend = sg.recipients()
    assert first == Delivered(
        message_id=headers["X-Message-Id"],
        email="reader0@example.com",
        custom_args={"campaign": "c1", "delivery_id": "0"},
        categories=["lesson"],
        subject="Lesson 1",
        headers={
            "List-Id": "<lessons.tend.example>",
            "List-Unsubscribe": "<https://tend.example/u/0>",
        },
        substitutions={"%%name%%": "Reader 0", "%%name:text%%": "Reader 0"},
    )
    assert second.subject == friend.subject == "Your own subject"
    assert friend.email == "Friend@Example.com"
    assert sg.count_by_address()["friend@example.com"] == 1


def _subject_in_every_personalization(body: dict[str, Any]) -> None:
    del body["subject"]
    for personalization in body["personalizations"]:
        personalization["subject"] = "Your own"


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda b: b.update(template_id="d-123", content=[]), id="template"),
        pytest.param(_subject_in_every_personalization, id="subject-in-each"),
        pytest.param(lambda b: b.update(send_at=int(time.time()) + 71 * 3600), id="send-at"),
        pytest.param(
            lambda b: b["content"].append({"type": "text/calendar", "value": "BEGIN"}),
            id="other-content-after",
        ),
        pytest.param(
            lambda b: b["personalizations"][0].update(cc=[{"email": "c@example.com"}]), id="cc"
        ),
    ],
)
def test_what_sendgrid_allows_is_accepted(
    sg: SendGridStandIn, change: Callable[[dict[str, Any]], object]
) -> None:
    body = body_for(3)
    change(body)
    status, _, error = post(sg, body)
    assert (status, error) == (202, b"")


def test_sandbox_mode_answers_200_and_delivers_nothing(sg: SendGridStandIn) -> None:
    response = client(sg).send(body_for(2, mail_settings={"sandbox_mode": {"enable": True}}))

    assert response.status_code == 200
    assert sg.accepted == []
    assert len(sg.sandboxed) == 1
    assert sg.recipients() == []
    assert sg.responses == Counter({"200": 1})


# --- refusing --------------------------------------------------------------------------


def _duplicate_across(b: dict[str, Any]) -> None:
    b["personalizations"][2]["to"][0]["email"] = "READER0@example.com"


def _html_first(b: dict[str, Any]) -> None:
    b["content"].reverse()


def _big_args(b: dict[str, Any]) -> None:
    b["personalizations"][1]["custom_args"]["blob"] = "x" * 10_001


def _big_merged_args(b: dict[str, Any]) -> None:
    b["custom_args"]["blob"] = "x" * 6000
    b["personalizations"][1]["custom_args"]["more"] = "y" * 6000


def _too_many_recipients(b: dict[str, Any]) -> None:
    for index, personalization in enumerate(b["personalizations"]):
        personalization["bcc"] = [{"email": f"b{index}.{n}@example.com"} for n in range(400)]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param(lambda b: b.update(body_for(1001)), "personalizations", id="1001"),
        pytest.param(lambda b: b.update(personalizations=[]), "personalizations", id="none"),
        pytest.param(_duplicate_across, "personalizations.2.to.0.email", id="duplicate"),
        pytest.param(
            lambda b: b["personalizations"][0].update(bcc=[{"email": "reader0@example.com"}]),
            "personalizations.0.bcc.0.email",
            id="duplicate-to-bcc",
        ),
        pytest.param(_too_many_recipients, "personalizations", id="1203-recipients"),
        pytest.param(_html_first, "content", id="html-first"),
        pytest.param(lambda b: b["content"][0].update(value=""), "content.0.value", id="empty"),
        pytest.param(lambda b: b.pop("content"), "content", id="no-content"),
        pytest.param(
            lambda b: b.update(categories=[f"c{n}" for n in range(11)]),
            "categories",
            id="11-categories",
        ),
        pytest.param(lambda b: b.update(categories=["a", "a"]), "categories.1", id="dup-cat"),
        pytest.param(lambda b: b.update(categories=["x" * 256]), "categories.0", id="long-cat"),
        pytest.param(
            lambda b: b["personalizations"][1]["headers"].update({"Reply-To": "x@example.com"}),
            "personalizations.1.headers",
            id="reserved-header",
        ),
        pytest.param(
            lambda b: b["headers"].update({"DKIM-Signature": "v=1"}), "headers", id="dkim"
        ),
        pytest.param(
            lambda b: b["headers"].update({"X-Count": 3}), "headers.X-Count", id="header-int"
        ),
        pytest.param(_big_args, "personalizations.1.custom_args", id="big-args"),
        pytest.param(_big_merged_args, "personalizations.1.custom_args", id="big-merged"),
        pytest.param(
            lambda b: b["personalizations"][0]["custom_args"].update(delivery_id=7),
            "personalizations.0.custom_args.delivery_id",
            id="int-arg",
        ),
        pytest.param(
            lambda b: b["personalizations"][0]["substitutions"].update({"%%n%%": None}),
            "personalizations.0.substitutions.%%n%%",
            id="null-substitution",
        ),
        pytest.param(
            lambda b: b["personalizations"][0]["substitutions"].update({"%%n%%": "z" * 10_000}),
            "personalizations.0.substitutions",
            id="big-substitutions",
        ),
        pytest.param(lambda b: b.pop("from"), "from.email", id="no-from"),
        pytest.param(lambda b: b.update({"from": {"email": "nobody"}}), "from.email", id="from"),
        pytest.param(
            lambda b: b["personalizations"][0]["to"][0].update(email="a b@example.com"),
            "personalizations.0.to.0.email",
            id="bad-to",
        ),
        pytest.param(
            lambda b: b["personalizations"][0].update(to=[]), "personalizations.0.to", id="no-to"
        ),
        pytest.param(lambda b: b.pop("subject"), "subject", id="no-subject"),
        pytest.param(
            lambda b: b.update(send_at=int(time.time()) + 73 * 3600), "send_at", id="send-at"
        ),
        pytest.param(lambda b: b.update(send_at="soon"), "send_at", id="send-at-string"),
        pytest.param(
            lambda b: b.update(mail_settings={"sandbox_mode": {"enable": "true"}}),
            "mail_settings.sandbox_mode.enable",
            id="sandbox-string",
        ),
    ],
)
def test_what_sendgrid_refuses_is_a_400_naming_the_field(
    sg: SendGridStandIn, change: Callable[[dict[str, Any]], object], field: str
) -> None:
    body = body_for(3)
    change(body)

    with pytest.raises(SendGridError) as raised:
        client(sg).send(body)

    assert raised.value.status_code == 400
    errors = json.loads(raised.value.body)["errors"]
    assert field in [error["field"] for error in errors], errors
    assert all(error["message"] and error["help"] is None for error in errors)
    assert sg.accepted == []
    assert sg.responses == Counter({"400": 1})


def test_every_problem_is_reported_at_once() -> None:
    body = body_for(2, categories=["a", "a"])
    body.pop("from")
    body["personalizations"][1]["headers"]["Subject"] = "no"

    assert set(fields(json.dumps({"errors": validate_mail_send(body)}))) == {
        "from.email",
        "categories.1",
        "personalizations.1.headers",
    }


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'"a string"', b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_is_a_400(sg: SendGridStandIn, raw: bytes) -> None:
    status, _, error = post(sg, raw)
    assert status == 400
    assert json.loads(error)["errors"][0]["message"]


@pytest.mark.parametrize("key", [None, "SG.wrong", ""])
def test_a_missing_or_wrong_key_is_a_401(sg: SendGridStandIn, key: str | None) -> None:
    status, _, error = post(sg, body_for(1), key=key)

    assert status == 401
    assert json.loads(error) == {"errors": [{"message": ANY, "field": None, "help": None}]}
    assert sg.accepted == []


def test_the_official_client_with_a_wrong_key_gets_a_401(sg: SendGridStandIn) -> None:
    with pytest.raises(SendGridError) as raised:
        client(sg, key="SG.other").send(body_for(1))
    assert raised.value.status_code == 401


def test_a_body_over_the_size_limit_is_a_413() -> None:
    with SendGridStandIn(api_key=KEY, max_body_bytes=50_000) as sg:
        status, _, error = post(sg, body_for(300))
        assert status == 413
        assert json.loads(error)["errors"]
        assert post(sg, body_for(3))[0] == 202


def test_a_request_that_is_not_json_by_content_type_is_a_415(sg: SendGridStandIn) -> None:
    request = Request(
        f"{sg.url}/v3/mail/send",
        data=json.dumps(body_for(1)).encode(),
        headers={"Authorization": f"Bearer {KEY}"},  # urllib's default: form-urlencoded
        method="POST",
    )
    with pytest.raises(HTTPError) as raised:
        urlopen(request, timeout=5)
    with raised.value as error:
        assert error.code == 415


# --- faults ----------------------------------------------------------------------------


def test_a_429_says_when_to_come_back(sg: SendGridStandIn) -> None:
    sg.inject("429", reset_in=3)

    with pytest.raises(SendGridError) as raised:
        client(sg).send(body_for(1))

    error = raised.value
    assert error.status_code == 429
    assert error.headers["X-RateLimit-Remaining"] == "0"
    assert int(error.headers["X-RateLimit-Limit"]) > 0
    assert 2 <= int(error.headers["X-RateLimit-Reset"]) - time.time() <= 4.1
    assert json.loads(error.body)["errors"][0]["message"] == "too many requests"
    assert sg.accepted == []
    assert client(sg).send(body_for(1)).status_code == 202  # one fault, then normal


@pytest.mark.parametrize("code", ["500", "502", "503"])
def test_a_server_error_is_not_accepted(sg: SendGridStandIn, code: str) -> None:
    sg.inject(code, times=2)

    for _ in range(2):
        with pytest.raises(SendGridError) as raised:
            client(sg).send(body_for(2))
        assert raised.value.status_code == int(code)
        assert json.loads(raised.value.body)["errors"]

    assert sg.accepted == []
    assert client(sg).send(body_for(2)).status_code == 202
    assert sg.responses == Counter({code: 2, "202": 1})
    assert sg.faults == Counter({code: 2})


def test_an_injected_400_carries_its_message(sg: SendGridStandIn) -> None:
    sg.inject("400", message="The from address does not match a verified Sender Identity.")
    status, _, error = post(sg, body_for(1))
    assert status == 400
    assert "Sender Identity" in json.loads(error)["errors"][0]["message"]
    assert sg.accepted == []


def test_latency_delays_a_request_that_is_then_accepted(sg: SendGridStandIn) -> None:
    sg.inject("latency", seconds=0.3)
    started = time.monotonic()
    status, _, _ = post(sg, body_for(1))
    assert status == 202
    assert time.monotonic() - started >= 0.3
    assert len(sg.accepted) == 1


def test_drop_before_loses_the_request(sg: SendGridStandIn) -> None:
    sg.inject("drop_before")
    with pytest.raises(DROPPED):
        client(sg).send(body_for(1000))
    assert sg.accepted == []
    assert sg.responses == Counter({"drop_before": 1})
    assert client(sg).send(body_for(1)).status_code == 202


def test_drop_after_accepts_but_the_client_never_hears(sg: SendGridStandIn) -> None:
    sg.inject("drop_after")
    with pytest.raises(DROPPED):
        client(sg).send(body_for(3))
    assert [r.email for r in sg.recipients()] == [f"reader{i}@example.com" for i in range(3)]
    assert sg.responses == Counter({"drop_after": 1})


def test_hang_after_holds_the_answer_until_released(sg: SendGridStandIn) -> None:
    sg.inject("hang_after")
    outcome: Queue[BaseException | int] = Queue()

    def send() -> None:
        try:
            outcome.put(client(sg, timeout=10).send(body_for(2)).status_code)
        except (SendGridError, *DROPPED) as error:
            outcome.put(error)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        assert sg.wait_for_hang(5) == 1
        assert len(sg.accepted) == 1  # taken before the hold
        assert outcome.empty()
    finally:
        sg.release()
        sender.join(10)
    assert isinstance(outcome.get(timeout=1), DROPPED)  # closed without an answer
    assert sg.responses == Counter({"hang_after": 1})


def test_hang_after_outlasts_a_client_timeout_and_stop_lets_go() -> None:
    sg = SendGridStandIn(api_key=KEY).start()
    try:
        sg.inject("hang_after", seconds=30)
        with pytest.raises(TimeoutError):
            client(sg, timeout=0.3).send(body_for(1))
        assert len(sg.accepted) == 1
    finally:
        started = time.monotonic()
        sg.stop()
    assert time.monotonic() - started < 3


def test_wait_for_hang_fails_clearly_when_nothing_hangs(sg: SendGridStandIn) -> None:
    with pytest.raises(AssertionError, match="no request was held"):
        sg.wait_for_hang(0.1)


def test_an_unknown_fault_is_refused(sg: SendGridStandIn) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        sg.inject("418")


def _chaos_run(seed: int) -> tuple[list[int | str], Counter[str]]:
    with SendGridStandIn(api_key=KEY) as sg:
        sg.chaos(0.5, seed=seed, kinds=("429", "500", "latency", "drop_before"), seconds=0.001)
        outcomes: list[int | str] = []
        for _ in range(30):
            try:
                outcomes.append(post(sg, body_for(1))[0])
            except DROPPED:
                outcomes.append("dropped")
        return outcomes, sg.responses


def test_chaos_is_the_same_for_the_same_seed() -> None:
    first, responses = _chaos_run(7)

    assert _chaos_run(7) == (first, responses)
    assert _chaos_run(8)[0] != first
    assert {"429", "500", "drop_before", "202"} <= set(responses)
    assert first.count(202) == responses["202"]


def test_chaos_off_is_all_accepted(sg: SendGridStandIn) -> None:
    sg.chaos(1.0, kinds=("503",))
    assert post(sg, body_for(1))[0] == 503
    sg.chaos(0)
    assert [post(sg, body_for(1))[0] for _ in range(5)] == [202] * 5


# --- stats and life cycle --------------------------------------------------------------


def test_stats_count_requests_outcomes_and_duplicates(sg: SendGridStandIn) -> None:
    first = body_for(3)
    second = body_for(4)
    second["personalizations"] = second["personalizations"][1:]  # readers 1, 2, 3
    assert post(sg, first)[0] == 202
    assert post(sg, second)[0] == 202
    assert post(sg, first, key="SG.wrong")[0] == 401

    stats = get_json(f"{sg.url}/_standin/stats")
    assert stats["requests"] == 3
    assert stats["responses"] == {"202": 2, "401": 1}
    assert stats["accepted_requests"] == 2
    assert stats["accepted_emails"] == 6
    assert stats["duplicates"] == 2
    assert sg.count_by_address() == Counter(
        {"reader0@example.com": 1, "reader1@example.com": 2, "reader2@example.com": 2}
        | {"reader3@example.com": 1}
    )

    with urlopen(Request(f"{sg.url}/_standin/reset", data=b"", method="POST"), timeout=5) as r:
        assert r.status == 200
    stats = get_json(f"{sg.url}/_standin/stats")
    assert (stats["requests"], stats["accepted_emails"], stats["responses"]) == (0, 0, {})
    assert sg.accepted == []


def test_without_bodies_only_the_counts_are_kept() -> None:
    with SendGridStandIn(api_key=KEY, keep_bodies=False) as sg:
        assert post(sg, body_for(3))[0] == 202
        assert post(sg, body_for(2))[0] == 202
        assert (sg.accepted, sg.recipients()) == ([], [])
        stats = sg.stats()
        assert (stats["accepted_requests"], stats["accepted_emails"]) == (2, 5)
        assert stats["duplicates"] == 2


def test_stop_closes_idle_keep_alive_connections_and_joins() -> None:
    sg = SendGridStandIn(api_key=KEY).start()
    host, port = sg.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.request(
            "POST",
            "/v3/mail/send",
            body=json.dumps(body_for(1)),
            headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        response.read()
        assert response.status == 202
        started = time.monotonic()
        sg.stop()  # the connection is still open, idle
        assert time.monotonic() - started < 3
    finally:
        connection.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("sendgrid-standin")]
    with pytest.raises(ConnectionRefusedError), socket.create_connection((host, int(port)), 1):
        pass


def test_a_1000_reader_request_is_handled_in_well_under_a_second(sg: SendGridStandIn) -> None:
    raw = json.dumps(body_for(1000)).encode()
    started = time.perf_counter()
    for _ in range(10):
        assert post(sg, raw)[0] == 202
    assert time.perf_counter() - started < 10  # generous: a few ms each on a laptop
    assert sg.stats()["accepted_emails"] == 10_000


# --- signed events ---------------------------------------------------------------------


def test_the_public_key_is_what_sendgrid_shows_and_its_helper_takes() -> None:
    sg = SendGridStandIn()
    assert "\n" not in sg.public_key
    assert "BEGIN" not in sg.public_key
    load_der_public_key(base64.b64decode(sg.public_key))  # DER SubjectPublicKeyInfo

    payload = b'[{"email":"reader0@example.com","event":"processed"}]'
    headers = sg.sign(payload)
    webhook = EventWebhook(sg.public_key)
    key = webhook.convert_public_key_to_ecdsa(sg.public_key)
    signature, timestamp = headers[SIGNATURE_HEADER], headers[TIMESTAMP_HEADER]

    assert abs(int(timestamp) - time.time()) < 60
    assert webhook.verify_signature(payload.decode(), signature, timestamp, key) is True
    tampered = payload.decode().replace("processed", "delivered")
    assert webhook.verify_signature(tampered, signature, timestamp, key) is False
    assert webhook.verify_signature(payload.decode(), signature, "1", key) is False
    assert sg.sign(payload, "1700000000")[TIMESTAMP_HEADER] == "1700000000"


def test_events_carry_custom_args_on_top_and_the_message_id(sg: SendGridStandIn) -> None:
    status, headers, _ = post(sg, body_for(3))
    assert status == 202
    message_id = headers["X-Message-Id"]

    events = sg.events("delivered")

    assert [e["email"] for e in events] == [f"reader{i}@example.com" for i in range(3)]
    for index, event in enumerate(events):
        assert event["event"] == "delivered"
        assert event["delivery_id"] == str(index)  # custom args at the top level
        assert event["campaign"] == "c1"
        assert event["sg_message_id"].startswith(f"{message_id}.")
        assert event["category"] == ["lesson"]
        assert isinstance(event["timestamp"], int)
        assert event["smtp-id"].startswith("<")
    assert len({e["sg_event_id"] for e in events}) == 3
    again = sg.events("open", ["READER1@example.com"])
    assert [e["sg_message_id"] for e in again] == [events[1]["sg_message_id"]]
    assert post(sg, body_for(1))[0] == 202
    first_request, second_request = sg.accepted
    assert len(sg.events("processed", [second_request])) == 1
    assert len(sg.events("processed", [first_request])) == 3
    assert len(sg.events("processed", ["reader0@example.com"])) == 2  # in both requests
    with pytest.raises(ValueError, match="no accepted recipient"):
        sg.events("processed", ["stranger@example.com"])


def test_events_of_each_kind_have_their_fields(sg: SendGridStandIn) -> None:
    assert post(sg, body_for(1))[0] == 202

    [bounce] = sg.events("bounce")
    assert (bounce["type"], bounce["status"]) == ("bounce", "5.1.1")
    assert bounce["reason"]
    assert sg.events("bounce", type="blocked")[0]["type"] == "blocked"
    assert sg.events("dropped")[0]["reason"]
    deferred = sg.events("deferred")[0]
    assert deferred["response"]
    assert deferred["attempt"]
    assert isinstance(sg.events("group_unsubscribe")[0]["asm_group_id"], int)
    [override] = sg.events("spamreport", timestamp=1_700_000_000, reason="mine")
    assert (override["timestamp"], override["reason"]) == (1_700_000_000, "mine")
    with pytest.raises(ValueError, match="unknown event kind"):
        sg.events("exploded")


def test_posted_events_are_verified_by_the_receiver(sg: SendGridStandIn) -> None:
    assert post(sg, body_for(2))[0] == 202
    events = sg.events("delivered")
    with Receiver().trust(sg.public_key) as receiver:
        assert sg.post_events(receiver.url, events) == 200
        assert sg.post_events(receiver.url, events, tamper=True) == 403
        assert sg.post_events(receiver.url, events, timestamp="1700000000") == 200
    assert [valid for valid, _ in receiver.posts] == [True, False, True]
    assert receiver.posts[0][1] == events
    with pytest.raises(ValueError, match="loopback"):
        sg.post_events("http://example.com/hook", events)


def test_accepted_requests_post_processed_events_by_themselves() -> None:
    # The first post is refused: the stand-in tries again, as SendGrid does.
    with (
        Receiver(statuses=(500,)) as receiver,
        SendGridStandIn(api_key=KEY, events_url=receiver.url) as sg,
    ):
        receiver.trust(sg.public_key)
        sg.inject("drop_after")  # the client never hears, the events come all the same
        with pytest.raises(DROPPED):
            client(sg).send(body_for(3))
        receiver.wait_for(lambda: len(receiver.posts) == 2)
    (first_valid, first), (valid, events) = receiver.posts
    assert first_valid
    assert valid
    assert first == events
    [accepted] = sg.accepted
    assert [(e["event"], e["email"], e["delivery_id"]) for e in events] == [
        ("processed", f"reader{i}@example.com", str(i)) for i in range(3)
    ]
    assert all(e["sg_message_id"].startswith(f"{accepted.message_id}.") for e in events)
    assert sg.event_posts == Counter({500: 1, 200: 1})


# --- on its own ------------------------------------------------------------------------


def test_it_runs_on_its_own_and_sums_up_on_sigterm() -> None:
    command = [sys.executable, "-m", "tests.support.sendgrid_standin", "--port", "0"]
    with subprocess.Popen(
        [*command, "--api-key", "SG.cli"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    ) as process:
        lines: Queue[str] = Queue()
        reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stdout or []])
        reader.start()
        try:
            url = lines.get(timeout=20).strip().removeprefix("SENDGRID_API_HOST=")
            public_key = lines.get(timeout=5).strip()
            assert public_key.startswith("SENDGRID_WEBHOOK_PUBLIC_KEY=")
            sendgrid = SendGridAPIClient("SG.cli", host=url)
            sendgrid.client.timeout = 5
            assert sendgrid.send(body_for(2)).status_code == 202
            assert get_json(f"{url}/_standin/stats")["accepted_emails"] == 2
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=10)
            reader.join(5)
        assert process.returncode == 0
        summary = []
        while True:
            try:
                summary.append(lines.get_nowait())
            except Empty:
                break
    assert "requests=1 accepted_emails=2 duplicates=0" in "".join(summary)

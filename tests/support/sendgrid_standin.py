"""SendGrid's v3 Mail Send API on loopback, for Tend's delivery tests, crash tests and bench.

`SendGridStandIn` answers `POST /v3/mail/send` the way SendGrid documents it: it checks the
key and the request, answers 202 with an `X-Message-Id`, and records what it accepted so a
test can ask who would have received what. Scripted faults (`inject`) and random ones
(`chaos`) play SendGrid's bad days: rate limits, 5xx, slow answers, connections dropped
before or after the request was taken, answers that never come. It also signs event
webhook posts with its own key pair, as SendGrid does, and can post a `processed` event
for every accepted request by itself, so Tend can settle deliveries whose answer was lost.

Run it on its own for a benchmark in another process:

    python -m tests.support.sendgrid_standin --port 8090 [--api-key KEY] \
        [--fail-rate 0.3 --seed 1] [--latency 0.05] [--events-url URL]

It prints `SENDGRID_API_HOST=<url>` and `SENDGRID_WEBHOOK_PUBLIC_KEY=<key>` and serves
`GET /_standin/stats` until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import queue
import random
import re
import secrets
import signal
import socket
import sys
import threading
import time
import zlib
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

__all__ = [
    "EVENT_KINDS",
    "MAX_BODY_BYTES",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "AcceptedRequest",
    "Delivered",
    "SendGridStandIn",
    "main",
    "validate_mail_send",
]

# SendGrid's documented limits for one Mail Send request.
MAX_BODY_BYTES = 30 * 1024 * 1024  # "the total message size must be less than 30MB"
MAX_PERSONALIZATIONS = 1000
MAX_RECIPIENTS = 1000  # to + cc + bcc over every personalization
MAX_CATEGORIES = 10
MAX_CATEGORY_LENGTH = 255
MAX_ARGS_BYTES = 10_000  # custom_args and substitutions, per personalization
MAX_SCHEDULE_AHEAD = 72 * 3600  # send_at at most 72 hours ahead
RESERVED_HEADERS = frozenset(
    {
        "x-sg-id",
        "x-sg-eid",
        "received",
        "dkim-signature",
        "content-type",
        "content-transfer-encoding",
        "to",
        "from",
        "subject",
        "reply-to",
        "cc",
        "bcc",
    }
)
# SendGrid's own check is lenient: something, an @, a domain with a dot, no spaces.
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")
_FAULT_KINDS = frozenset({"429", "400", "latency", "drop_before", "drop_after", "hang_after"})
_STR_ONLY = frozenset({str})
_SERVER_ERROR = re.compile(r"5\d\d")
_FAULT_DEFAULTS: dict[str, dict[str, Any]] = {
    "429": {"reset_in": 1.0, "limit": 600},
    "400": {"message": "Bad Request"},
    "latency": {"seconds": 0.1},
    "hang_after": {"seconds": 60.0},
}
EVENT_KINDS = frozenset(
    {
        "processed",
        "delivered",
        "deferred",
        "bounce",
        "dropped",
        "spamreport",
        "unsubscribe",
        "group_unsubscribe",
        "open",
        "click",
    }
)
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})

Problem = tuple[str | None, str]  # (field, message), as SendGrid's `errors` list carries them


@dataclass(frozen=True, slots=True)
class AcceptedRequest:
    """A Mail Send request the stand-in answered 202 (or took before dropping the answer)."""

    message_id: str
    body: dict[str, Any]
    received_at: float


@dataclass(frozen=True, slots=True)
class Delivered:
    """One `to` address of an accepted request, with what SendGrid would have applied to it."""

    message_id: str
    email: str
    custom_args: dict[str, str]  # message-level merged with the personalization's
    categories: list[str]
    subject: str | None  # the personalization's, else the message's
    headers: dict[str, str]  # message-level merged with the personalization's
    substitutions: dict[str, str]


@dataclass(slots=True)
class _Fault:
    kind: str
    options: dict[str, Any]

    def option(self, name: str) -> Any:
        return self.options.get(name, _FAULT_DEFAULTS.get(self.kind, {}).get(name))


# --- Validation -------------------------------------------------------------------------
# Linear in the request, and light: a benchmark sends ~1 MB requests of 1,000
# personalizations many times a second, so each check is a loop over what is there, and
# exact sizes are only computed when a cheap upper bound says they might be too big.


def validate_mail_send(body: object, *, now: float | None = None) -> list[dict[str, Any]]:
    """SendGrid's `errors` for a Mail Send body: empty when SendGrid would take it."""
    problems, _ = _validate(body, time.time() if now is None else now)
    return _errors(problems)


def _errors(problems: Iterable[Problem]) -> list[dict[str, Any]]:
    return [{"message": message, "field": where, "help": None} for where, message in problems]


def _validate(body: object, now: float) -> tuple[list[Problem], list[str]]:
    """Every problem with the request, and its `to` addresses lower-cased, in order."""
    if not isinstance(body, dict):
        return [(None, "The request body must be a JSON object.")], []
    problems: list[Problem] = []
    templated = isinstance(body.get("template_id"), str) and bool(body["template_id"])
    _check_sender(body, problems)
    _check_content(body.get("content"), templated, problems)
    message_args = _check_string_map(body.get("custom_args"), "custom_args", problems)
    _check_headers(body.get("headers"), "headers", problems)
    _check_categories(body.get("categories"), problems)
    _check_send_at(body.get("send_at"), "send_at", now, problems)
    _check_mail_settings(body.get("mail_settings"), problems)
    subject = body.get("subject")
    has_subject = isinstance(subject, str) and bool(subject)
    if "subject" in body and not isinstance(subject, str):
        problems.append(("subject", "The subject must be a string."))
    to_emails, every_one_has_subject = _check_personalizations(
        body.get("personalizations"), message_args, now, problems
    )
    if not (has_subject or templated or every_one_has_subject):
        problems.append(
            (
                "subject",
                "The subject is required. You can get around this requirement if you use a"
                " template with a subject defined or if every personalization has a subject"
                " defined.",
            )
        )
    return problems, to_emails


def _check_sender(body: dict[str, Any], problems: list[Problem]) -> None:
    sender = body.get("from")
    if not isinstance(sender, dict) or not _valid_email(sender.get("email")):
        problems.append(
            (
                "from.email",
                "The from object must be provided for every email send. It is an object that"
                " requires the email parameter, but may also contain a name parameter.",
            )
        )
    if "reply_to" in body:
        reply_to = body["reply_to"]
        if not isinstance(reply_to, dict) or not _valid_email(reply_to.get("email")):
            problems.append(
                ("reply_to.email", "The reply_to email does not contain a valid address.")
            )


def _valid_email(email: object) -> bool:
    return isinstance(email, str) and _EMAIL.fullmatch(email) is not None


def _check_content(content: object, templated: bool, problems: list[Problem]) -> None:
    if content is None or content == []:
        if not templated:
            problems.append(
                (
                    "content",
                    "Unless a valid template_id is provided, the content parameter is"
                    " required. There must be at least one defined content block.",
                )
            )
        return
    if not isinstance(content, list):
        problems.append(("content", "The content parameter must be an array."))
        return
    types: list[object] = []
    for index, item in enumerate(content):
        if not isinstance(item, dict):
            problems.append((f"content.{index}", "Each content item must be an object."))
            types.append(None)
            continue
        kind = item.get("type")
        types.append(kind)
        if not isinstance(kind, str) or not kind:
            problems.append((f"content.{index}.type", "The content type must be a string."))
        value = item.get("value")
        if not isinstance(value, str) or not value:
            problems.append(
                (
                    f"content.{index}.value",
                    "The content value must be a string at least one character in length.",
                )
            )
    _check_content_order(types, problems)


def _check_content_order(types: list[object], problems: list[Problem]) -> None:
    # SendGrid builds the MIME parts in this order: text/plain first, then text/html,
    # before anything else; it refuses a request that lists them otherwise.
    expected = [kind for kind in ("text/plain", "text/html") if kind in types]
    if types[: len(expected)] != expected:
        problems.append(
            (
                "content",
                "If present, text/plain and text/html may only be provided in order, and must"
                " be listed before all other content types.",
            )
        )


def _check_string_map(value: object, where: str, problems: list[Problem]) -> dict[str, Any]:
    """An object of string values (custom_args, substitutions, headers); {} when absent."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append((where, f"Invalid type. Expected: object, given: {_json_type(value)}."))
        return {}
    if _STR_ONLY.issuperset(map(type, value.values())):  # the usual case, checked in C
        return value
    for key, item in value.items():
        if not isinstance(item, str):
            problems.append(
                (f"{where}.{key}", f"The {where.rsplit('.', 1)[-1]} values must be strings.")
            )
    return value


def _json_type(value: object) -> str:
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}
    return "null" if value is None else names.get(type(value), "object")


def _map_bound(mapping: Mapping[str, Any]) -> int:
    # An upper bound on the compact JSON size: a character is at most 6 bytes once escaped
    # (\u001f) and a key-value pair adds 6 bytes of quotes, colon and comma.
    try:
        chars = sum(map(len, mapping)) + sum(map(len, mapping.values()))
    except TypeError:  # a value that is not a string: reported already, bound it anyway
        chars = sum(len(str(key)) + len(str(value)) for key, value in mapping.items())
    return 6 * chars + 6 * len(mapping) + 2


def _json_size(mapping: Mapping[str, Any]) -> int:
    return len(json.dumps(mapping, ensure_ascii=False, separators=(",", ":")).encode())


ARGS_TOO_BIG = "The total size of your custom arguments cannot exceed 10,000 bytes."


def _check_message_args_size(message_args: dict[str, Any], problems: list[Problem]) -> int:
    """Message-level custom_args alone too big: said once. Their size bound, for the rest."""
    bound = _map_bound(message_args)
    if bound > MAX_ARGS_BYTES and _json_size(message_args) > MAX_ARGS_BYTES:
        problems.append(("custom_args", ARGS_TOO_BIG))
        return 0  # already said; judge each personalization by its own args
    return bound


def _check_args_size(
    message_args: dict[str, Any],
    message_bound: int,
    own: dict[str, Any],
    where: str,
    problems: list[Problem],
) -> None:
    """The personalization's args merged over the message's, as SendGrid applies them."""
    if not own or message_bound + _map_bound(own) <= MAX_ARGS_BYTES:
        return
    if _json_size({**message_args, **own}) > MAX_ARGS_BYTES:
        problems.append((where, ARGS_TOO_BIG))


def _check_headers(headers: object, where: str, problems: list[Problem]) -> None:
    checked = _check_string_map(headers, where, problems)
    for name in checked:
        if name.lower() in RESERVED_HEADERS:
            problems.append(
                (
                    where,
                    f"The header {name!r} is reserved and cannot be set with the headers"
                    f" parameter ({', '.join(sorted(RESERVED_HEADERS))}).",
                )
            )


def _check_categories(categories: object, problems: list[Problem]) -> None:
    if categories is None:
        return
    if not isinstance(categories, list):
        problems.append(("categories", "The categories parameter must be an array of strings."))
        return
    if len(categories) > MAX_CATEGORIES:
        problems.append(("categories", "The categories parameter may not have more than 10 items."))
    seen: set[str] = set()
    for index, category in enumerate(categories):
        if not isinstance(category, str) or len(category) > MAX_CATEGORY_LENGTH:
            problems.append(
                (f"categories.{index}", "A category must be a string of at most 255 characters.")
            )
        elif category in seen:
            problems.append((f"categories.{index}", f"The category {category!r} is duplicated."))
        else:
            seen.add(category)


def _check_send_at(send_at: object, where: str, now: float, problems: list[Problem]) -> None:
    if send_at is None:
        return
    if not isinstance(send_at, int) or isinstance(send_at, bool):
        problems.append((where, "send_at must be a Unix timestamp (an integer)."))
    elif send_at > now + MAX_SCHEDULE_AHEAD:
        problems.append((where, "send_at cannot be scheduled more than 72 hours in advance."))


def _check_mail_settings(settings: object, problems: list[Problem]) -> None:
    if not isinstance(settings, dict):
        return
    sandbox = settings.get("sandbox_mode")
    if isinstance(sandbox, dict) and not isinstance(sandbox.get("enable", False), bool):
        problems.append(
            (
                "mail_settings.sandbox_mode.enable",
                "The sandbox mode enable param should be a boolean value.",
            )
        )


def _check_personalizations(
    personalizations: object,
    message_args: dict[str, Any],
    now: float,
    problems: list[Problem],
) -> tuple[list[str], bool]:
    """Each personalization; the `to` addresses lower-cased, and whether each has a subject."""
    if not isinstance(personalizations, list) or not personalizations:
        problems.append(("personalizations", "You must have at least one personalization."))
        return [], False
    if len(personalizations) > MAX_PERSONALIZATIONS:
        problems.append(
            (
                "personalizations",
                "The personalization block is limited to 1000 personalizations per API"
                f" request. You have provided {len(personalizations)} personalizations.",
            )
        )
    seen: set[str] = set()
    to_emails: list[str] = []
    every_one_has_subject = True
    total = 0
    message_bound = _check_message_args_size(message_args, problems)
    for index, personalization in enumerate(personalizations):
        where = f"personalizations.{index}"
        if not isinstance(personalization, dict):
            problems.append((where, "Each personalization must be an object."))
            every_one_has_subject = False
            continue
        subject = personalization.get("subject")
        if not isinstance(subject, str) or not subject:
            every_one_has_subject = False
        total += _check_recipients(personalization, where, seen, to_emails, problems)
        own_args = _check_string_map(
            personalization.get("custom_args"), f"{where}.custom_args", problems
        )
        _check_args_size(message_args, message_bound, own_args, f"{where}.custom_args", problems)
        _check_headers(personalization.get("headers"), f"{where}.headers", problems)
        _check_substitutions(personalization.get("substitutions"), where, problems)
        _check_send_at(personalization.get("send_at"), f"{where}.send_at", now, problems)
    if total > MAX_RECIPIENTS:
        problems.append(
            (
                "personalizations",
                "There is a limit of 1000 total recipients (to + cc + bcc) per request.",
            )
        )
    return to_emails, every_one_has_subject


def _check_recipients(
    personalization: dict[str, Any],
    where: str,
    seen: set[str],
    to_emails: list[str],
    problems: list[Problem],
) -> int:
    """to, cc and bcc of one personalization; each address once in the whole request.

    Returns how many addresses it lists.
    """
    listed = 0
    to = personalization.get("to")
    if not isinstance(to, list) or not to:
        problems.append(
            (
                f"{where}.to",
                "The to array is required for all personalization objects, and must have at"
                " least one email object with a valid email address.",
            )
        )
    for kind in ("to", "cc", "bcc"):
        addresses = personalization.get(kind)
        if addresses is None or (kind == "to" and not isinstance(addresses, list)):
            continue
        if not isinstance(addresses, list):
            problems.append((f"{where}.{kind}", f"The {kind} parameter must be an array."))
            continue
        listed += len(addresses)
        for position, address in enumerate(addresses):
            email = address.get("email") if isinstance(address, dict) else None
            if not isinstance(email, str) or _EMAIL.fullmatch(email) is None:
                problems.append(
                    (f"{where}.{kind}.{position}.email", "Does not contain a valid address.")
                )
                continue
            lowered = email.lower()
            if lowered in seen:
                problems.append(
                    (
                        f"{where}.{kind}.{position}.email",
                        "Each email address in the personalization block should be unique"
                        " between to, cc, and bcc. We found the first duplicate instance of"
                        f" [{email}] in the {where}.{kind} field.",
                    )
                )
                continue
            seen.add(lowered)
            if kind == "to":
                to_emails.append(lowered)
    return listed


def _check_substitutions(substitutions: object, where: str, problems: list[Problem]) -> None:
    checked = _check_string_map(substitutions, f"{where}.substitutions", problems)
    if checked and _map_bound(checked) > MAX_ARGS_BYTES and _json_size(checked) > MAX_ARGS_BYTES:
        problems.append(
            (
                f"{where}.substitutions",
                "The total size of your substitutions cannot exceed 10,000 bytes per"
                " personalization object.",
            )
        )


# --- What was accepted, as recipients and as events -------------------------------------


def _deliveries(accepted: AcceptedRequest) -> list[Delivered]:
    """One Delivered per `to` address of an accepted request, in the request's order."""
    body = accepted.body
    message_args = body.get("custom_args") or {}
    message_headers = body.get("headers") or {}
    categories = body.get("categories") or []
    delivered = []
    for personalization in body["personalizations"]:
        custom_args = {**message_args, **(personalization.get("custom_args") or {})}
        headers = {**message_headers, **(personalization.get("headers") or {})}
        subject = personalization.get("subject") or body.get("subject")
        substitutions = dict(personalization.get("substitutions") or {})
        delivered.extend(
            Delivered(
                accepted.message_id,
                address["email"],
                custom_args,
                list(categories),
                subject,
                headers,
                substitutions,
            )
            for address in personalization["to"]
        )
    return delivered


def _event_details(kind: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """What SendGrid adds to an event of this kind beyond the common fields."""
    if kind == "bounce":
        if fields.get("type") == "blocked":
            return {
                "type": "blocked",
                "status": "5.7.1",
                "reason": "550 5.7.1 Message rejected by the receiving server's policy",
                "bounce_classification": "Reputation",
            }
        return {
            "type": "bounce",
            "status": "5.1.1",
            "reason": "550 5.1.1 The email account that you tried to reach does not exist.",
            "bounce_classification": "Invalid Address",
        }
    return dict(_EVENT_DETAILS.get(kind, {}))


_EVENT_DETAILS: dict[str, dict[str, Any]] = {
    "delivered": {"response": "250 2.0.0 OK", "ip": "127.0.0.1", "tls": 1},
    "dropped": {"reason": "Bounced Address", "status": "5.0.0"},
    "deferred": {"response": "451 4.7.1 Please try again later", "attempt": "1"},
    "group_unsubscribe": {"asm_group_id": 1},
    "open": {"useragent": "Mozilla/5.0", "ip": "127.0.0.1", "sg_machine_open": False},
    "click": {"useragent": "Mozilla/5.0", "ip": "127.0.0.1", "url": "https://example.com/"},
}


def _event(
    kind: str, delivered: Delivered, timestamp: int, fields: Mapping[str, Any]
) -> dict[str, Any]:
    message_id = delivered.message_id
    # Each recipient's copy has its own id that starts with the request's X-Message-Id;
    # derived from the address so every event about that copy carries the same one.
    copy = zlib.crc32(delivered.email.lower().encode())
    event: dict[str, Any] = dict(delivered.custom_args)  # SendGrid flattens custom args
    event.update(
        email=delivered.email,
        timestamp=timestamp,
        event=kind,
        sg_event_id=secrets.token_urlsafe(16),
        sg_message_id=f"{message_id}.filterdrecv-{copy:08x}-1-0",
        category=list(delivered.categories),
    )
    event["smtp-id"] = f"<{message_id}@ismtpd0001p1.sendgrid.net>"
    event.update(_event_details(kind, fields))
    event.update(fields)
    return event


def _check_loopback(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or parts.hostname not in _LOOPBACK:
        raise ValueError(f"the stand-in only posts events to loopback http(s) URLs, not {url!r}")


# --- The server ---------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    """Threads per connection, each tracked so `stop()` can unblock and join them all."""

    daemon_threads = True
    block_on_close = False  # we join our own threads, with a bound

    def __init__(self, address: tuple[str, int], standin: SendGridStandIn) -> None:
        self.standin = standin
        self._live: dict[threading.Thread, socket.socket] = {}
        self._live_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name="sendgrid-standin-connection",
            daemon=True,
        )
        with self._live_lock:
            self._live[thread] = request
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._live_lock:
                self._live.pop(threading.current_thread(), None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-answer is a test's doing, not news: stay quiet."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def close_connections(self, timeout: float) -> None:
        """Wake handlers blocked on idle keep-alive connections, then join them."""
        with self._live_lock:
            live = dict(self._live)
        for connection in live.values():
            with contextlib.suppress(OSError):  # already closed by its handler
                connection.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for thread in live:
            thread.join(max(0.0, deadline - time.monotonic()))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive for clients that want it
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a benchmark sends thousands of requests."""

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == "/_standin/stats":
            self.answer(200, json.dumps(self.server.standin.stats()).encode())
        else:
            self.answer(404, _error_body("not found"))

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/v3/mail/send":
            self.server.standin._mail_send(self)
        elif path == "/_standin/reset":
            self.drain()
            self.server.standin.reset()
            self.answer(200, b'{"reset":true}')
        else:
            self.drain()
            self.answer(404, _error_body("not found"))

    def content_length(self) -> int:
        try:
            return max(0, int(self.headers.get("Content-Length", "0")))
        except ValueError:
            return -1

    def drain(self, limit: int = 4 * MAX_BODY_BYTES) -> None:
        """Read and discard the body, so answering does not reset the connection."""
        remaining = self.content_length()
        if remaining < 0 or remaining > limit:
            self.close_connection = True  # too much to read: answer and close
            return
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                break
            remaining -= len(chunk)

    def answer(
        self, status: int, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> None:
        self.send_response(status)
        if body:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(body)

    def drop(self) -> None:
        """Close without an answer; unread request bytes make the kernel reset it."""
        self.close_connection = True


def _error_body(message: str, where: str | None = None) -> bytes:
    return json.dumps({"errors": _errors([(where, message)])}).encode()


class SendGridStandIn:
    """A loopback SendGrid v3 Mail Send API; see the module's docstring."""

    def __init__(
        self,
        api_key: str = "SG.test",
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        events_url: str | None = None,
        latency: float = 0.0,
        max_body_bytes: int = MAX_BODY_BYTES,
        keep_bodies: bool = True,
    ) -> None:
        if events_url is not None:
            _check_loopback(events_url)
        self.api_key = api_key
        self.events_url = events_url
        self.latency = latency  # added to every Mail Send request, as a network would
        self.max_body_bytes = max_body_bytes
        # A 1,000-reader request is ~2.5 MB once parsed: a long benchmark keeps counts only.
        self.keep_bodies = keep_bodies
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._hold_changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._faults: deque[_Fault] = deque()
        self._chaos: tuple[float, random.Random, tuple[str, ...], dict[str, Any]] | None = None
        self._held: list[threading.Event] = []
        self._server: _Server | None = None
        self._serving: threading.Thread | None = None
        self._event_queue: queue.Queue[AcceptedRequest | None] = queue.Queue()
        self._poster: threading.Thread | None = None
        self._private_key = ec.generate_private_key(ec.SECP256R1())
        der = self._private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public_key = base64.b64encode(der).decode()
        self.reset()

    # -- life cycle

    def __enter__(self) -> SendGridStandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> SendGridStandIn:
        assert self._server is None, "the stand-in is already running"
        self._stopping.clear()
        self._server = _Server((self._host, self._port), self)
        self._serving = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="sendgrid-standin",
            daemon=True,
        )
        self._serving.start()
        if self.events_url is not None:
            self._poster = threading.Thread(
                target=self._post_accepted_events, name="sendgrid-standin-events", daemon=True
            )
            self._poster.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving, let go of held and sleeping requests, and join every thread."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        self.release()
        server.shutdown()
        assert self._serving is not None
        self._serving.join(timeout)
        server.close_connections(timeout)
        server.server_close()
        if self._poster is not None:
            self._event_queue.put(None)
            self._poster.join(timeout)
            self._poster = None

    @property
    def url(self) -> str:
        assert self._server is not None, "the stand-in is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- records

    def reset(self) -> None:
        """Forget every request and count; scripted faults and chaos stay as they are."""
        with self._lock:
            self._accepted: list[AcceptedRequest] = []
            self._sandboxed: list[AcceptedRequest] = []
            self._accepted_requests = 0
            self._sandboxed_requests = 0
            self._addresses: Counter[str] = Counter()
            self._accepted_emails = 0
            self._requests = 0
            self._responses: Counter[str] = Counter()
            self._faults_applied: Counter[str] = Counter()
            # What the events_url posts got: HTTP status, or the error's name.
            self.event_posts: Counter[int | str] = Counter()

    @property
    def accepted(self) -> list[AcceptedRequest]:
        with self._lock:
            return list(self._accepted)

    @property
    def sandboxed(self) -> list[AcceptedRequest]:
        """Requests answered 200 in sandbox mode: valid, never delivered."""
        with self._lock:
            return list(self._sandboxed)

    @property
    def requests(self) -> int:
        """Mail Send requests seen, whatever became of them."""
        with self._lock:
            return self._requests

    @property
    def responses(self) -> Counter[str]:
        """Outcomes by status code ("202", "429", ...) or by fault ("drop_before", ...)."""
        with self._lock:
            return Counter(self._responses)

    @property
    def faults(self) -> Counter[str]:
        """Faults applied, scripted or chaos, by kind (latency included)."""
        with self._lock:
            return Counter(self._faults_applied)

    def recipients(self) -> list[Delivered]:
        return [delivered for accepted in self.accepted for delivered in _deliveries(accepted)]

    def count_by_address(self) -> Counter[str]:
        """How many accepted requests carried each `to` address (lower-cased)."""
        with self._lock:
            return Counter(self._addresses)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self._requests,
                "responses": dict(self._responses),
                "accepted_requests": self._accepted_requests,
                "accepted_emails": self._accepted_emails,
                "duplicates": self._accepted_emails - len(self._addresses),
                "sandboxed_requests": self._sandboxed_requests,
                "faults": dict(self._faults_applied),
            }

    # -- faults

    def inject(self, kind: str, times: int = 1, **options: Any) -> None:
        """Apply `kind` to the next `times` Mail Send requests (after those already queued)."""
        _check_fault_kind(kind)
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._faults.extend(_Fault(kind, dict(options)) for _ in range(times))

    def chaos(
        self,
        rate: float = 0.3,
        seed: int = 1234,
        kinds: Sequence[str] = ("429", "500", "503", "latency", "drop_before"),
        **options: Any,
    ) -> None:
        """Each request suffers a fault from `kinds` with probability `rate`; 0 turns it off.

        Scripted faults come first; the random draw is made for every request all the same,
        so a run's faults depend only on the seed and the order of the requests.
        """
        for kind in kinds:
            _check_fault_kind(kind)
        with self._lock:
            self._chaos = (rate, random.Random(seed), tuple(kinds), options) if rate > 0 else None

    def release(self) -> None:
        """Let go of every request a hang_after fault holds (each closes without an answer)."""
        with self._lock:
            held, self._held = self._held, []
            self._hold_changed.notify_all()
        for event in held:
            event.set()

    def wait_for_hang(self, timeout: float = 5.0) -> int:
        """Wait until a hang_after fault holds a request; how many are held."""
        with self._hold_changed:
            if not self._hold_changed.wait_for(lambda: self._held, timeout):
                raise AssertionError(
                    f"no request was held by a hang_after fault within {timeout} s"
                    f" ({self._requests} requests seen, {len(self._faults)} faults still queued)"
                )
            return len(self._held)

    def _next_fault(self) -> _Fault | None:
        with self._lock:
            self._requests += 1
            drawn = None
            if self._chaos is not None:
                rate, rng, kinds, options = self._chaos
                if rng.random() < rate:
                    drawn = _Fault(rng.choice(kinds), dict(options))
            fault = self._faults.popleft() if self._faults else drawn
            if fault is not None:
                self._faults_applied[fault.kind] += 1
            return fault

    # -- Mail Send

    def _mail_send(self, handler: _Handler) -> None:
        fault = self._next_fault()
        kind = fault.kind if fault is not None else None
        if kind == "drop_before":
            self._count("drop_before")
            handler.drop()
            return
        delay = self.latency
        if fault is not None and kind == "latency":
            delay += float(fault.option("seconds"))
        if delay > 0:
            self._stopping.wait(delay)  # stop() cuts it short
        if fault is not None and kind not in {"latency", "drop_after", "hang_after"}:
            handler.drain()
            self._answer_fault(handler, fault)
            return
        taken = self._take(handler)
        if taken is None:
            return
        message_id, body, to_emails = taken
        accepted = self._record(message_id, body, to_emails)
        if self.events_url is not None:
            # Queued before any answer: SendGrid's events come whatever the client saw.
            self._event_queue.put(accepted)
        if kind == "drop_after":
            self._count("drop_after")
            handler.drop()
        elif fault is not None and kind == "hang_after":
            self._count("hang_after")
            self._hold(float(fault.option("seconds")))
            handler.drop()
        else:
            self._count("202")
            handler.answer(202, headers={"X-Message-Id": message_id})

    def _take(self, handler: _Handler) -> tuple[str, dict[str, Any], list[str]] | None:
        """Read, authorize and validate: a new message id, the body and its `to` addresses.

        Anything but a request to accept is answered here, and gives None.
        """
        length = handler.content_length()
        if length < 0:
            handler.close_connection = True
            return self._refuse(handler, 400, "Invalid Content-Length")
        if length > self.max_body_bytes:
            handler.drain()
            return self._refuse(handler, 413, "The JSON payload you have included is too large.")
        raw = handler.rfile.read(length)
        auth_problem = self._auth_problem(handler.headers.get("Authorization"))
        if auth_problem is not None:
            return self._refuse(handler, 401, auth_problem)
        content_type = handler.headers.get("Content-Type", "")
        if not content_type.lower().startswith("application/json"):
            return self._refuse(handler, 415, "Content-Type should be application/json.")
        try:
            body = json.loads(raw)
        except ValueError:
            return self._refuse(handler, 400, "Bad Request: the body is not valid JSON.")
        problems, to_emails = _validate(body, time.time())
        if problems:
            self._count("400")
            handler.answer(400, json.dumps({"errors": _errors(problems)}).encode())
            return None
        if _sandboxed(body):
            # SendGrid's sandbox: valid, answered 200, never delivered, no events.
            with self._lock:
                self._sandboxed_requests += 1
                if self.keep_bodies:
                    self._sandboxed.append(AcceptedRequest("", body, time.time()))
                self._responses["200"] += 1
            handler.answer(200)
            return None
        return secrets.token_urlsafe(16), body, to_emails

    def _auth_problem(self, authorization: str | None) -> str | None:
        if not authorization:
            return "authorization required"
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(key.strip(), self.api_key):
            return "The provided authorization grant is invalid, expired, or revoked"
        return None

    def _refuse(self, handler: _Handler, status: int, message: str) -> None:
        self._count(str(status))
        handler.answer(status, _error_body(message))

    def _answer_fault(self, handler: _Handler, fault: _Fault) -> None:
        if fault.kind == "429":
            reset_at = int(time.time() + float(fault.option("reset_in")) + 0.999)
            headers = {
                "X-RateLimit-Limit": str(fault.option("limit")),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(reset_at),
            }
            self._count("429")
            handler.answer(429, _error_body("too many requests"), headers)
        elif fault.kind == "400":
            self._count("400")
            handler.answer(400, _error_body(str(fault.option("message"))))
        else:  # a 5xx
            self._count(fault.kind)
            handler.answer(
                int(fault.kind), _error_body(fault.option("message") or _phrase(int(fault.kind)))
            )

    def _record(
        self, message_id: str, body: dict[str, Any], to_emails: list[str]
    ) -> AcceptedRequest:
        accepted = AcceptedRequest(message_id, body, time.time())
        with self._lock:
            self._accepted_requests += 1
            if self.keep_bodies:
                self._accepted.append(accepted)
            self._addresses.update(to_emails)
            self._accepted_emails += len(to_emails)
        return accepted

    def _count(self, outcome: str) -> None:
        with self._lock:
            self._responses[outcome] += 1

    def _hold(self, seconds: float) -> None:
        event = threading.Event()
        with self._lock:
            self._held.append(event)
            self._hold_changed.notify_all()
        if not self._stopping.is_set():
            event.wait(seconds)
        with self._lock:
            if event in self._held:
                self._held.remove(event)

    # -- events

    def sign(self, payload: bytes, timestamp: str | None = None) -> dict[str, str]:
        """The headers SendGrid signs an event webhook post with."""
        timestamp = str(int(time.time())) if timestamp is None else timestamp
        signature = self._private_key.sign(timestamp.encode() + payload, ec.ECDSA(hashes.SHA256()))
        return {
            SIGNATURE_HEADER: base64.b64encode(signature).decode(),
            TIMESTAMP_HEADER: timestamp,
        }

    def events(
        self,
        kind: str,
        recipients: Iterable[Delivered | AcceptedRequest | str] | None = None,
        **fields: Any,
    ) -> list[dict[str, Any]]:
        """Events as SendGrid posts them, one per recipient (default: every one recorded).

        `recipients` may name Delivered records, whole accepted requests (each of their
        `to` addresses), or addresses (every recorded recipient with that address).
        `fields` are added to each event last, over what the stand-in put there.
        """
        if kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {kind!r}; one of {sorted(EVENT_KINDS)}")
        chosen = self._chosen(recipients)
        timestamp = int(fields.pop("timestamp", time.time()))
        return [_event(kind, delivered, timestamp, fields) for delivered in chosen]

    def _chosen(
        self, recipients: Iterable[Delivered | AcceptedRequest | str] | None
    ) -> list[Delivered]:
        if recipients is None:
            return self.recipients()
        picked: list[Delivered] = []
        recorded: list[Delivered] | None = None
        for recipient in recipients:
            if isinstance(recipient, Delivered):
                picked.append(recipient)
                continue
            if isinstance(recipient, AcceptedRequest):
                picked.extend(_deliveries(recipient))
                continue
            recorded = self.recipients() if recorded is None else recorded
            wanted = recipient.lower()
            matches = [d for d in recorded if d.email.lower() == wanted]
            if not matches:
                raise ValueError(f"no accepted recipient {recipient!r}")
            picked.extend(matches)
        return picked

    def post_events(
        self,
        url: str,
        events: Sequence[Mapping[str, Any]],
        *,
        timestamp: str | None = None,
        tamper: bool = False,
        timeout: float = 10.0,
    ) -> int:
        """Post signed events to `url` (loopback only); the HTTP status of the answer.

        With `tamper`, the body posted differs by one byte of whitespace from the one
        signed: still the same JSON, but its signature no longer verifies.
        """
        _check_loopback(url)
        payload = json.dumps(list(events), separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", **self.sign(payload, timestamp)}
        if tamper:
            payload = payload[:-1] + b" " + payload[-1:]
        request = Request(url, data=payload, headers=headers, method="POST")
        try:
            with urlopen(request, timeout=timeout) as response:
                response.read()
                return int(response.status)
        except HTTPError as error:
            with error:
                return int(error.code)

    def _post_accepted_events(self) -> None:
        """Background: a `processed` event for each recipient of each accepted request."""
        while True:
            accepted = self._event_queue.get()
            if accepted is None:
                return
            assert self.events_url is not None
            events = self.events("processed", [accepted])
            self._post_with_retries(self.events_url, events)

    def _post_with_retries(self, url: str, events: list[dict[str, Any]], attempts: int = 5) -> None:
        # SendGrid retries failed posts for a day; here a few quick tries, cut short by stop().
        wait = 0.1
        for attempt in range(attempts):
            try:
                status = self.post_events(url, events, timeout=5.0)
            except OSError as error:  # URLError, refused, reset, timed out
                status = 0
                outcome: int | str = type(error).__name__
            else:
                outcome = status
            with self._lock:
                self.event_posts[outcome] += 1
            if 200 <= status < 300:
                return
            if attempt + 1 == attempts or self._stopping.wait(wait):
                return
            wait *= 2


def _sandboxed(body: dict[str, Any]) -> bool:
    settings = body.get("mail_settings")
    sandbox = settings.get("sandbox_mode") if isinstance(settings, dict) else None
    return isinstance(sandbox, dict) and sandbox.get("enable") is True


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Server Error"


def _check_fault_kind(kind: str) -> None:
    if kind not in _FAULT_KINDS and not _SERVER_ERROR.fullmatch(kind):
        raise ValueError(f"unknown fault {kind!r}: one of {sorted(_FAULT_KINDS)} or a 5xx code")


# --- Running on its own -----------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A loopback SendGrid v3 Mail Send API.")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--api-key", default="SG.test")
    parser.add_argument("--fail-rate", type=float, default=0.0, help="chaos: faults per request")
    parser.add_argument("--seed", type=int, default=1234, help="chaos: the random seed")
    parser.add_argument(
        "--fail-kinds",
        default="429,500,503,latency,drop_before",
        help="chaos: the faults to draw from, comma-separated",
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each request")
    parser.add_argument("--events-url", default=None, help="post signed processed events here")
    args = parser.parse_args(argv)

    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    # Nothing outside this process can read the bodies: keep the counts only.
    standin = SendGridStandIn(
        args.api_key,
        port=args.port,
        latency=args.latency,
        events_url=args.events_url,
        keep_bodies=False,
    )
    with standin:
        if args.fail_rate > 0:
            standin.chaos(args.fail_rate, seed=args.seed, kinds=args.fail_kinds.split(","))
        print(f"SENDGRID_API_HOST={standin.url}", flush=True)
        print(f"SENDGRID_WEBHOOK_PUBLIC_KEY={standin.public_key}", flush=True)
        while not stopping.wait(0.2):  # short waits: signal handlers run between them
            pass
        stats = standin.stats()
    print(
        f"requests={stats['requests']} accepted_emails={stats['accepted_emails']}"
        f" duplicates={stats['duplicates']} responses={json.dumps(stats['responses'])}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

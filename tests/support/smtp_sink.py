"""A local SMTP server for tests and benchmarks (aiosmtpd, in a thread of its own).

    with SmtpSink() as sink:                       # 127.0.0.1, a free port: sink.port
        ...send to smtp://127.0.0.1:{sink.port}...
        sink.messages                              # what arrived, in order

It takes every message (keeping them, or with `keep=False` only counting them), and can
act the parts of a real server a test needs: STARTTLS or implicit TLS (`tls_context`),
AUTH with one user name and password (`auth`), an idle connection dropped
(`drop_connections()`), EHLO keywords left out (`without`), and scripted faults
(`Faults`): a recipient or a message refused, the connection dropped at RCPT or after a
message's data, the answer to the data held back.

Run on its own, it counts what a benchmark sends it:

    python -m tests.support.smtp_sink --port 8025 --count-only
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import signal
import ssl
import sys
import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from types import FrameType, TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

CLOSE_TIMEOUT = 5.0  # seconds to wait for the server's thread to close its connections


@dataclass(frozen=True)
class Received:
    """One message as the server took it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes  # as sent, dot-stuffing undone
    mail_options: tuple[str, ...]  # MAIL FROM parameters: SIZE=, BODY=8BITMIME, ...
    login: str | None  # the user name the session logged in with
    tls: bool  # whether the session was encrypted (STARTTLS or implicit TLS)

    def parsed(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]


@dataclass(frozen=True)
class Faults:
    """What the server gets wrong on purpose. Messages are numbered from 1 in the order
    their data arrives, over the sink's life (across connections)."""

    # Recipient address -> the reply to its RCPT, e.g. "550 5.1.1 No such user".
    refuse: Mapping[str, str] = field(default_factory=dict)
    # Recipient addresses whose RCPT gets no answer: the connection is closed instead.
    drop_at_rcpt: Collection[str] = ()
    # Take this message's data, then close the connection instead of answering: the
    # client cannot know the message arrived (it did: it is kept).
    drop_after_data: int | None = None
    # Message number -> seconds to wait before answering its data (it is kept at once).
    delay_after_data: Mapping[int, float] = field(default_factory=dict)
    # Message number -> the reply to its data instead of taking it, e.g. "554 5.7.1 Spam".
    refuse_data: Mapping[int, str] = field(default_factory=dict)


class SmtpSink:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,  # 0: any free port, read back from `port` once started
        keep: bool = True,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,  # with tls_context: TLS from the start, else STARTTLS
        auth: tuple[str, str] | None = None,  # (user name, password) AUTH accepts
        faults: Faults | None = None,
        without: Collection[str] = (),  # EHLO keywords not to offer, e.g. {"8BITMIME"}
    ) -> None:
        if implicit_tls and tls_context is None:
            raise ValueError("implicit_tls needs a tls_context")
        self.host, self.port, self.keep = host, port, keep
        self.tls_context, self.implicit_tls = tls_context, implicit_tls
        self.auth = auth
        self.faults = faults or Faults()
        self.without = {keyword.upper() for keyword in without}
        self._lock = threading.Lock()
        self._messages: list[Received] = []
        self._count = 0
        self._numbered = 0  # messages whose data arrived, taken or not
        self._bytes = 0
        self._connections = 0
        self._quits = 0
        self._open: set[_Session] = set()
        self._first_at: float | None = None
        self._last_at: float | None = None
        self._controller: _Controller | None = None

    # Starting and stopping

    def start(self) -> SmtpSink:
        kwargs: dict[str, Any] = {
            "server_hostname": "sink.test",  # not socket.getfqdn(), which may ask DNS
            "ident": "Tend test sink",
            # aiosmtpd only sees STARTTLS as encryption; implicit TLS is encrypted too.
            "auth_require_tls": not self.implicit_tls,
        }
        if self.tls_context is not None and not self.implicit_tls:
            kwargs["tls_context"] = self.tls_context
        if self.auth is not None:
            kwargs["authenticator"] = self._authenticate
        controller = _Controller(
            self,
            _Handler(self),
            hostname=self.host,
            port=self.port,
            ssl_context=self.tls_context if self.implicit_tls else None,
            **kwargs,
        )
        controller.start()
        self._controller = controller
        self.port = controller.port
        with self._lock:
            self._connections = 0  # the controller's own connection to check it is up
        return self

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is None:
            return
        # Connections left open would be closed by the garbage collector, with a
        # ResourceWarning: end them here first.
        asyncio.run_coroutine_threadsafe(self._close_all(abort=True), controller.loop).result(
            CLOSE_TIMEOUT
        )
        controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def drop_connections(self, reply: str | None = None) -> None:
        """Close every open connection, as a server does with idle ones (after `reply`,
        such as "421 4.4.2 Idle timeout", if given). Returns once they are closed."""
        assert self._controller is not None, "the sink is not running"
        closing = self._close_all(abort=False, reply=reply)
        asyncio.run_coroutine_threadsafe(closing, self._controller.loop).result(CLOSE_TIMEOUT)

    # What arrived

    @property
    def messages(self) -> list[Received]:
        with self._lock:
            return list(self._messages)

    @property
    def count(self) -> int:
        """How many messages the server took (kept or, with keep=False, only counted)."""
        with self._lock:
            return self._count

    @property
    def bytes_received(self) -> int:
        with self._lock:
            return self._bytes

    @property
    def connections(self) -> int:
        """How many connections clients have opened."""
        with self._lock:
            return self._connections

    @property
    def quits(self) -> int:
        """How many sessions clients ended politely, with QUIT."""
        with self._lock:
            return self._quits

    def rate(self) -> float:
        """Messages a second between the first and the last message."""
        with self._lock:
            if self._first_at is None or self._last_at is None or self._count < 2:
                return 0.0
            return (self._count - 1) / max(self._last_at - self._first_at, 1e-9)

    # Called in the server's thread

    def _number(self) -> int:
        with self._lock:
            self._numbered += 1
            return self._numbered

    def _receive(self, server: SMTP, session: Session, envelope: Envelope) -> None:
        data = envelope.original_content or b""
        auth = session.auth_data
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        received = Received(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            data=data,
            mail_options=tuple(envelope.mail_options),
            login=login,
            tls=server.transport is not None
            and server.transport.get_extra_info("ssl_object") is not None,
        )
        now = time.monotonic()
        with self._lock:
            self._count += 1
            self._bytes += len(data)
            self._first_at = self._first_at or now
            self._last_at = now
            if self.keep:
                self._messages.append(received)

    def _opened(self, session: _Session) -> None:
        with self._lock:
            self._connections += 1
            self._open.add(session)

    def _closed(self, session: _Session) -> None:
        with self._lock:
            self._open.discard(session)

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert self.auth is not None
        user, password = self.auth
        accepted = (
            isinstance(data, LoginPassword)
            and data.login == user.encode()
            and data.password == password.encode()
        )
        # handled=False: aiosmtpd answers a failure itself (535) only when told to.
        return AuthResult(success=accepted, handled=False, auth_data=data)

    async def _close_all(self, *, abort: bool, reply: str | None = None) -> None:
        with self._lock:
            sessions = list(self._open)
        for session in sessions:
            transport = session.transport
            if transport is None:
                continue
            if abort:
                transport.abort()
                continue
            if reply is not None:
                transport.write(reply.encode() + b"\r\n")  # type: ignore[attr-defined]
            transport.close()
        # connection_lost runs on a later turn of the loop: wait for it, within a bound.
        deadline = time.monotonic() + CLOSE_TIMEOUT
        while time.monotonic() < deadline:
            with self._lock:
                if not self._open.intersection(sessions):
                    return
            await asyncio.sleep(0.005)


class _Session(SMTP):
    """aiosmtpd's SMTP session, telling the sink when a connection opens and closes."""

    def __init__(self, sink: SmtpSink, handler: Any, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.sink = sink

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None  # STARTTLS calls again with the TLS transport
        super().connection_made(transport)
        if first:
            self.sink._opened(self)

    def connection_lost(self, error: Exception | None) -> None:
        super().connection_lost(error)
        self.sink._closed(self)


class _Controller(Controller):
    def __init__(self, sink: SmtpSink, handler: Any, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.sink = sink

    def factory(self) -> SMTP:
        return _Session(self.sink, self.handler, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        # With port 0 the system picked one: read it before the controller connects to it.
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_EHLO(  # noqa: N802 (aiosmtpd's hook names)
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname  # what aiosmtpd does when there is no hook
        without = self.sink.without
        return [line for line in responses if line[4:].split(" ")[0].upper() not in without]

    async def handle_QUIT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        with self.sink._lock:
            self.sink._quits += 1
        return "221 Bye"

    async def handle_RCPT(  # noqa: N802
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        faults = self.sink.faults
        if address in faults.drop_at_rcpt:
            await _hang_up(server)
        refusal = faults.refuse.get(address)
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        number = self.sink._number()
        faults = self.sink.faults
        refusal = faults.refuse_data.get(number)
        if refusal is not None:
            return refusal
        self.sink._receive(server, session, envelope)
        if number == faults.drop_after_data:
            await _hang_up(server)
        delay = faults.delay_after_data.get(number)
        if delay:
            await asyncio.sleep(delay)
        return f"250 2.0.0 OK: queued as {number}"


async def _hang_up(server: SMTP) -> None:
    """Close the connection instead of answering; never returns (losing the connection
    cancels the command being handled)."""
    assert server.transport is not None
    server.transport.close()
    await asyncio.get_running_loop().create_future()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.smtp_sink", description="A local SMTP sink."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025, help="0 for any free port")
    parser.add_argument(
        "--count-only", action="store_true", help="count messages and keep none (benchmarks)"
    )
    args = parser.parse_args(argv)
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    started = time.monotonic()
    with SmtpSink(host=args.host, port=args.port, keep=not args.count_only) as sink:
        print(f"smtp sink listening on {args.host}:{sink.port}", flush=True)
        while not stopping.wait(0.5):
            pass
    print(
        f"smtp sink: {sink.count} messages, {sink.bytes_received} bytes, "
        f"{sink.connections} connections in {time.monotonic() - started:.1f} s; "
        f"{sink.rate():.0f} messages/s from the first message to the last",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

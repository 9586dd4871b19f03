"""The SMTP transport: one message per reader, over one connection kept open between batches.

SMTP_URL says where and how:
- `smtp://host` (port 25) or `smtp://host:587`: plain SMTP upgraded with STARTTLS whenever
  the server offers it. STARTTLS is *required* (no message goes out without it) on port 587,
  the submission port, which RFC 8314 expects to be encrypted; when the URL has a user
  name, since a password must never cross the network in clear; and with
  `?starttls=required`. A server that does not offer it then fails the batch (transient:
  stripping STARTTLS is also what an attacker on the path would do).
- `smtps://host` (port 465): TLS from the first byte (RFC 8314 implicit TLS).
- `user:password@` (URL-encoded, ASCII): AUTH after TLS is up (PLAIN, LOGIN or CRAM-MD5).
- `?ehlo=mail.example.org`: the name to greet the server with (default: this machine's
  fully qualified name, which some servers check against its address).
Certificates are always verified (`ssl.create_default_context()`); there is no setting to
turn that off. Tests pass their own `ssl_context` to trust a certificate made for them.

What becomes of each reader's message:
- accepted (250 after the data): `message_id` is its Message-ID (what a bounce quotes),
  `provider_id` the server's answer without the code, e.g. "2.0.0 Ok: queued as 4XyZ1":
  every server names its queue id there in a form of its own (for its logs).
- a 5xx reply to MAIL, RCPT, DATA or the data: permanent for that message; a 4xx:
  transient. Either way the batch goes on with the next reader.
- the connection fails or times out before the message's data went out: transient, and
  the server cannot have taken it. The rest of the batch is not tried (transient).
- it fails after the data went out, before the server's reply: transient and `ambiguous`,
  since the server may have queued it. The rest of the batch: transient, not tried.
- 421 (the server is closing the connection): transient; the rest is not tried.
Failing to connect, to start TLS or to log in fails the whole batch before anything is
sent, raised as TransportError: 5xx replies (535, a refused login) are permanent, a
refused or timed-out connection and 4xx replies are transient.

SMTP has no events to settle a message in doubt later, so batches stay small (`batch_size`).
"""

from __future__ import annotations

import contextlib
import os
import re
import smtplib
import ssl
import threading
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import parse_qs, unquote, urlsplit

from core.config import Settings, SettingsError
from emails.batch import Batch, Recipient
from emails.transports.base import Outcome, TransportError
from emails.transports.dkim import DkimKeyError, DkimSigner
from emails.wire import WireLetter

DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
SUBMISSION_PORT = 587
URL_OPTIONS = {"starttls", "ehlo"}
LOGIN_METHODS = {"PLAIN", "LOGIN", "CRAM-MD5"}  # what smtplib's login() can do
MAX_PROVIDER_ID = 200  # the length of the column it is kept in
_LINE_END = re.compile(rb"\r\n|\r|\n")
_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)


@dataclass(frozen=True)
class SmtpServer:
    """Where to send and how, read from SMTP_URL."""

    host: str
    port: int
    implicit_tls: bool
    # Why STARTTLS is required (for the error message), or None when it is opportunistic.
    tls_required_by: str | None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ehlo_name: str | None = None

    @classmethod
    def parse(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ValueError("must look like smtp://user:password@host:587 or smtps://...:465")
        options = _url_options(parts.query)
        implicit_tls = parts.scheme == "smtps"
        if implicit_tls and "starttls" in options:
            raise ValueError("smtps:// is TLS from the start: starttls= is for smtp:// only")
        port = parts.port or DEFAULT_PORTS[parts.scheme]
        username, password = _credentials(parts.username, parts.password)
        return cls(
            host=parts.hostname,
            port=port,
            implicit_tls=implicit_tls,
            tls_required_by=None if implicit_tls else _tls_required_by(port, options, username),
            username=username,
            password=password,
            ehlo_name=options.get("ehlo") or None,
        )

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def _url_options(query: str) -> dict[str, str]:
    parsed = parse_qs(query, keep_blank_values=True)
    options = {name: values[-1] for name, values in parsed.items()}
    unknown = sorted(set(options) - URL_OPTIONS)
    if unknown:
        raise ValueError(f"unknown option {unknown[0]!r}: the options are starttls=required, ehlo=")
    if options.get("starttls", "required") != "required":
        # Only a stronger demand is offered: no option makes TLS optional when it is required.
        raise ValueError("starttls= can only be 'required'")
    return options


def _credentials(username: str | None, password: str | None) -> tuple[str | None, str | None]:
    if not username:
        return None, None
    if password is None:
        raise ValueError("a user name needs a password: smtp://user:password@host")
    username, password = unquote(username), unquote(password)
    if not (username.isascii() and password.isascii()):
        raise ValueError("the user name and password must be ASCII (all smtplib can send)")
    return username, password


def _tls_required_by(port: int, options: dict[str, str], username: str | None) -> str | None:
    if "starttls" in options:
        return "starttls=required in SMTP_URL"
    if port == SUBMISSION_PORT:
        return "port 587 (mail submission)"
    if username:
        return "logging in (the password must not travel in clear)"
    return None


class _RefusedError(Exception):
    """The server answered a command of one transaction with a refusal."""

    def __init__(self, what: str, code: int, text: str) -> None:
        super().__init__(f"refused {what}: {code} {text}")
        self.what, self.code, self.text = what, code, text


class _LostError(Exception):
    """The connection failed in the middle of a transaction."""

    def __init__(self, reason: str, *, ambiguous: bool) -> None:
        super().__init__(reason)
        self.reason, self.ambiguous = reason, ambiguous


class SmtpTransport:
    name = "smtp"
    # A crash mid-batch leaves this many messages in doubt, and SMTP has no events to
    # settle doubt: keep it small.
    batch_size = 50

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 30.0,
        dkim: DkimSigner | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.server = SmtpServer.parse(url)
        self.timeout = timeout
        self.dkim = dkim
        self.ssl_context = ssl_context or ssl.create_default_context()
        self._smtp: smtplib.SMTP | None = None
        self._pid = 0  # the process that opened the connection
        # One connection carries one transaction at a time; threads take turns.
        self._lock = threading.Lock()

    @classmethod
    def from_settings(
        cls, settings: Settings, *, ssl_context: ssl.SSLContext | None = None
    ) -> SmtpTransport:
        assert settings.smtp_url, "the settings check refuses smtp without SMTP_URL"
        try:
            signer = None
            if settings.dkim_private_key_file:
                assert settings.dkim_selector, "the settings check asks for a selector"
                signer = DkimSigner.from_file(
                    settings.dkim_private_key_file, settings.dkim_selector, settings.dkim_domain
                )
            return cls(
                settings.smtp_url,
                timeout=settings.smtp_timeout,
                dkim=signer,
                ssl_context=ssl_context,
            )
        except ValueError as error:
            raise SettingsError(f"SMTP_URL: {error}") from None
        except DkimKeyError as error:
            raise SettingsError(f"DKIM_PRIVATE_KEY_FILE: {error}") from None

    def send(self, batch: Batch) -> list[Outcome]:
        if len(batch.recipients) > self.batch_size:
            raise ValueError(f"the SMTP transport takes at most {self.batch_size} readers a call")
        if not batch.recipients:
            return []
        with self._lock:
            smtp = self._connection()  # raises TransportError: nothing was sent
            return self._send_all(smtp, batch)

    def close(self) -> None:
        """Say goodbye to the server (QUIT) and close the connection."""
        with self._lock:
            smtp, self._smtp = self._smtp, None
            if smtp is None:
                return
            if self._pid == os.getpid():
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    smtp.quit()  # a server that has gone already needs no goodbye
            smtp.close()

    def __enter__(self) -> SmtpTransport:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # The connection

    def _connection(self) -> smtplib.SMTP:
        """The open connection, checked with RSET; a new one if it is gone."""
        smtp = self._smtp
        if smtp is not None and self._pid != os.getpid():
            # A forked worker shares its parent's socket: leave it to the parent.
            smtp.close()
            smtp = self._smtp = None
        if smtp is not None and _alive(smtp):
            return smtp
        # Servers drop idle connections (a 421, or just closing): open another once.
        self._drop()
        self._smtp = self._open()
        self._pid = os.getpid()
        return self._smtp

    def _drop(self) -> None:
        """Forget the connection without QUIT (it is broken or in an unknown state)."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    def _open(self) -> smtplib.SMTP:
        server = self.server
        smtp: smtplib.SMTP | None = None
        step = "the connection"
        try:
            smtp = self._connect()
            step = "EHLO"
            smtp.ehlo_or_helo_if_needed()
            if not server.implicit_tls:
                step = "STARTTLS"
                self._start_tls(smtp)
            if server.username:
                step = f"the login as {server.username}"
                self._login(smtp)
        except Exception as error:
            if smtp is not None:
                smtp.close()
            raise _connect_error(server, step, error, self.timeout) from None
        return smtp

    def _connect(self) -> smtplib.SMTP:
        # smtplib connects in the constructor (which also sets the name TLS checks the
        # certificate against) and closes what it opened when that fails.
        server = self.server
        if server.implicit_tls:
            return smtplib.SMTP_SSL(
                server.host,
                server.port,
                local_hostname=server.ehlo_name,
                timeout=self.timeout,
                context=self.ssl_context,
            )
        return smtplib.SMTP(
            server.host, server.port, local_hostname=server.ehlo_name, timeout=self.timeout
        )

    def _start_tls(self, smtp: smtplib.SMTP) -> None:
        server = self.server
        if smtp.has_extn("starttls"):
            smtp.starttls(context=self.ssl_context)
            smtp.ehlo_or_helo_if_needed()  # RFC 3207: forget what was said before TLS
        elif server.tls_required_by:
            raise TransportError(
                f"{server} does not offer STARTTLS, which {server.tls_required_by} requires; "
                "nothing was sent",
                permanent=False,
            )

    def _login(self, smtp: smtplib.SMTP) -> None:
        server = self.server
        offered = smtp.esmtp_features.get("auth", "").upper().split()
        if not set(offered) & LOGIN_METHODS:
            # SMTP_URL asks to log in and this server cannot be logged in to: a setting to fix.
            raise TransportError(
                f"{server} offers no login method smtplib speaks "
                f"(AUTH {' '.join(offered) or 'not offered'}), but SMTP_URL has a user name; "
                "nothing was sent",
                permanent=True,
            )
        smtp.login(server.username or "", server.password or "")

    # The messages

    def _send_all(self, smtp: smtplib.SMTP, batch: Batch) -> list[Outcome]:
        outcomes = []
        wire = WireLetter.build(batch)  # the letter encoded once, for every reader
        for index, recipient in enumerate(batch.recipients):
            outcome, lost = self._send_one(smtp, batch, wire, recipient)
            outcomes.append(outcome)
            if lost is not None:
                self._drop()
                not_tried = TransportError(
                    f"not tried: the connection to {self.server} failed earlier in the "
                    f"batch ({lost})",
                    permanent=False,
                )
                rest = batch.recipients[index + 1 :]
                outcomes.extend(Outcome(other.key, error=not_tried) for other in rest)
                break
        return outcomes

    def _send_one(
        self, smtp: smtplib.SMTP, batch: Batch, wire: WireLetter, recipient: Recipient
    ) -> tuple[Outcome, str | None]:
        """The outcome of one reader's message, and why the connection is lost, if it is."""
        try:
            message_id, data = self._render(batch, wire, recipient, smtp.has_extn("8bitmime"))
            options = self._mail_options(smtp, batch.from_email, recipient.to, data)
        except Exception as error:
            # Raising here would lose the outcomes of the messages already sent: the caller
            # would send them again. A message that cannot be built fails alone.
            failed = TransportError(f"could not build the message: {error}", permanent=True)
            return Outcome(recipient.key, error=failed), None
        key = recipient.key
        try:
            reply = self._transact(smtp, batch.from_email, recipient.to, data, options)
        except _LostError as lost:
            return Outcome(key, error=self._lost_error(lost), message_id=message_id), lost.reason
        except _RefusedError as refused:
            error = TransportError(f"{self.server} {refused}", permanent=500 <= refused.code < 600)
            failed = Outcome(key, error=error, message_id=message_id)
            if refused.code == 421:  # the server is closing the connection
                return failed, f"{refused.code} {refused.text}"
            return failed, _reset(smtp)
        return Outcome(
            key, provider_id=reply[:MAX_PROVIDER_ID] or None, message_id=message_id
        ), None

    def _render(
        self, batch: Batch, wire: WireLetter, recipient: Recipient, eight_bit: bool
    ) -> tuple[str, bytes]:
        """The Message-ID and the bytes to send: CRLF lines, signed when DKIM is set up."""
        try:
            message_id, data = wire.message(recipient)
        except ValueError:  # an address or header beyond ASCII: the email package's way
            message_id, data = self._render_whole(batch, recipient, eight_bit)
        if self.dkim is not None:
            data = self.dkim.sign(data, batch.from_email)
        return message_id, data

    def _render_whole(
        self, batch: Batch, recipient: Recipient, eight_bit: bool
    ) -> tuple[str, bytes]:
        mime = batch.message(recipient).to_mime()
        # The message's policy leaves non-ASCII text parts 8-bit; a server without
        # 8BITMIME gets them base64-encoded instead.
        policy = mime.policy if eight_bit else mime.policy.clone(cte_type="7bit")
        # The SMTP policy already ends lines with CRLF; a stray bare LF would be rewritten
        # by some servers, breaking the signature's body hash, so make sure before signing.
        data = _LINE_END.sub(b"\r\n", mime.as_bytes(policy=policy))
        return str(mime["Message-ID"]), data

    def _mail_options(self, smtp: smtplib.SMTP, sender: str, to: str, data: bytes) -> list[str]:
        options = []
        if smtp.has_extn("size"):  # the server can refuse a message too big before it is sent
            options.append(f"SIZE={len(data)}")
        if not data.isascii():  # only left 8-bit when the server offers 8BITMIME
            options.append("BODY=8BITMIME")
        if not (sender.isascii() and to.isascii()):
            if not smtp.has_extn("smtputf8"):
                raise ValueError(f"{self.server} takes no non-ASCII addresses (no SMTPUTF8)")
            options.append("SMTPUTF8")
        return options

    def _transact(
        self, smtp: smtplib.SMTP, sender: str, to: str, data: bytes, options: list[str]
    ) -> str:
        """MAIL, RCPT, DATA and the message; the server's final answer. DATA is done by
        hand rather than with smtplib's `data()` to know whether the message had gone out
        when a failure came."""
        sent = False
        try:
            _expect(smtp.mail(sender, options), f"the sender <{sender}>", 250)
            _expect(smtp.rcpt(to), f"the recipient <{to}>", 250, 251)
            _expect(smtp.docmd("DATA"), "the message at DATA", 354)
            smtp.send(_dot_stuffed(data))
            # From here the server may have the whole message and queue it.
            sent = True
            return _expect(smtp.getreply(), "the message after receiving it", 250)
        except _RefusedError:
            raise
        except Exception as error:
            # Whatever broke (a timeout, a reset, an error on our side mid-command), the
            # session is in an unknown state: only a fresh connection can go on.
            raise _LostError(_reason(error, self.timeout), ambiguous=sent) from error

    def _lost_error(self, lost: _LostError) -> TransportError:
        if lost.ambiguous:
            return TransportError(
                f"the connection to {self.server} failed after the message went out and "
                f"before the server confirmed it ({lost.reason}): it may have been delivered",
                permanent=False,
                ambiguous=True,
            )
        return TransportError(
            f"the connection to {self.server} failed before the message went out "
            f"({lost.reason}): it was not delivered",
            permanent=False,
        )


def _alive(smtp: smtplib.SMTP) -> bool:
    """Whether a connection kept from an earlier batch still answers (RSET also clears
    any transaction left half-done)."""
    try:
        code, _ = smtp.rset()
    except (smtplib.SMTPException, OSError):
        return False
    return code == 250


def _reset(smtp: smtplib.SMTP) -> str | None:
    """RSET after a refusal, so the next message starts clean; why it failed, if it did."""
    try:
        code, reply = smtp.rset()
    except (smtplib.SMTPException, OSError) as error:
        return f"RSET after a refusal: {error}"
    return None if code == 250 else f"RSET after a refusal: {code} {_text(reply)}"


def _expect(answer: tuple[int, bytes], what: str, *accepted: int) -> str:
    """The reply's text, if its code is one of `accepted`."""
    code, reply = answer
    if code not in accepted:
        raise _RefusedError(what, code, _text(reply))
    return _text(reply)


def _text(reply: bytes | str) -> str:
    """A server's reply on one line (smtplib joins multi-line replies with newlines)."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())


def _dot_stuffed(data: bytes) -> bytes:
    """The message as DATA carries it (RFC 5321 4.5.2): a line starting with a dot gets
    another, and a line holding one dot ends it."""
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return _LEADING_DOT.sub(b"..", data) + b".\r\n"


def _reason(error: BaseException, timeout: float) -> str:
    """What went wrong with a connection, in plain words."""
    cause = error.__cause__ or error.__context__
    if isinstance(error, TimeoutError) or isinstance(cause, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return "the server closed the connection" if cause is None else str(cause)
    return str(error) or type(error).__name__


def _connect_error(
    server: SmtpServer, step: str, error: Exception, timeout: float
) -> TransportError:
    """What failing to connect, start TLS or log in means for the batch."""
    if isinstance(error, TransportError):
        return error
    if isinstance(error, smtplib.SMTPResponseException):
        code, text = error.smtp_code, _text(error.smtp_error)
        return TransportError(
            f"{server} refused {step}: {code} {text}; nothing was sent",
            permanent=500 <= code < 600,
        )
    return TransportError(
        f"could not connect to {server} ({step}): {_reason(error, timeout)}; nothing was sent",
        permanent=False,
    )

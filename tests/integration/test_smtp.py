"""emails/transports/smtp.py against a real SMTP server on loopback (tests/support/smtp_sink.py):
what arrives, TLS and login, connection reuse, each kind of failure, and DKIM."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import ipaddress
import re
import socket
import ssl
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import dkim
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from core.config import Settings, SettingsError
from emails.batch import Batch, Recipient
from emails.render import Rendered
from emails.transports import make_transport
from emails.transports.base import Outcome
from emails.transports.dkim import DkimSigner
from emails.transports.smtp import SmtpServer, SmtpTransport, TransportError
from tests.support.smtp_sink import Faults, SmtpSink

FROM = "letters@example.org"
SELECTOR = "tend2025"
TIMEOUT = 5.0  # seconds: every wait in these tests is bounded by it
LETTER = Rendered(
    subject="The step everyone skips",
    html=(
        "<p>Grüße, %%first_name%%.</p>\n"
        '<p><a href="%%unsubscribe_url%%">Unsubscribe</a></p>\n'
        "<p>.a line that starts with a dot</p>\n"
    ),
    text="Grüße, %%first_name%%.\n\nUnsubscribe: %%unsubscribe_url%%\n.\n",
)


def unsubscribe_url(number: int, length: int = 0) -> str:
    token = f"reader{number}." + "x" * length
    return f"https://tend.example.org/u/{token}"


def make_batch(count: int, *, url_length: int = 0, first: int = 0) -> Batch:
    recipients = []
    for number in range(first, first + count):
        url = unsubscribe_url(number, url_length)
        recipients.append(
            Recipient(
                key=100 + number,
                to=f"reader{number}@example.com",
                to_name=f"Reader {number}",
                values={"first_name": f"Ann{number}", "unsubscribe_url": url},
                headers={
                    "List-Unsubscribe": f"<{url}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                },
            )
        )
    return Batch(
        from_email=FROM,
        from_name="Softening Sessions",
        letter=LETTER,
        recipients=recipients,
        headers={"List-Id": '"Softening Sessions" <softening.tend.example.org>'},
    )


def transport_for(sink: SmtpSink, query: str = "", **options: object) -> SmtpTransport:
    return SmtpTransport(
        f"smtp://127.0.0.1:{sink.port}{query}",
        timeout=TIMEOUT,
        **options,  # type: ignore[arg-type]
    )


def parts(message: EmailMessage) -> list[tuple[str, str]]:
    return [
        (part.get_content_type(), part.get_content().replace("\r\n", "\n"))
        for part in message.iter_parts()
    ]


def errors(outcomes: list[Outcome]) -> list[TransportError]:
    found = [outcome.error for outcome in outcomes]
    assert all(error is not None for error in found), outcomes
    return [error for error in found if error is not None]


# Certificates and keys, made at test time


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: (certificate, key) files."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tend test sink")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture
def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


@pytest.fixture
def client_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    """The default client context (verifying), trusting the test certificate."""
    return ssl.create_default_context(cafile=str(certificate[0]))


@pytest.fixture(scope="module")
def dkim_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """A DKIM private key file and the DNS TXT record that publishes its public half."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path_factory.mktemp("dkim") / "dkim.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return path, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as running:
        yield running


def verify_dkim(data: bytes, record: bytes, domain: str = "example.org") -> None:
    expected = f"{SELECTOR}._domainkey.{domain}.".encode()

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == expected else None

    assert dkim.verify(data, dnsfunc=dns), "the DKIM signature does not verify"


def signed_headers(message: EmailMessage) -> list[str]:
    signature = " ".join(str(message["DKIM-Signature"]).split())
    match = re.search(r"\bh=([^;]+)", signature)
    assert match, signature
    return [name.strip().lower() for name in match.group(1).split(":")]


# What arrives


def test_each_reader_gets_one_message_of_their_own(sink: SmtpSink) -> None:
    batch = make_batch(3)
    with transport_for(sink) as transport:
        outcomes = transport.send(batch)

    assert [outcome.key for outcome in outcomes] == [100, 101, 102]
    assert all(outcome.accepted for outcome in outcomes), outcomes
    received = sink.messages
    assert len(received) == 3
    for number, (outcome, arrived) in enumerate(zip(outcomes, received, strict=True)):
        assert arrived.mail_from == FROM
        assert arrived.rcpt_tos == (f"reader{number}@example.com",)
        # Quoted-printable: 7-bit clean, so any server takes it, 8BITMIME or not.
        assert arrived.data.isascii()
        assert not any(option.startswith("BODY=") for option in arrived.mail_options)
        message = arrived.parsed()
        assert message["To"] == f"Reader {number} <reader{number}@example.com>"
        assert message["Message-ID"] == outcome.message_id
        assert outcome.provider_id == f"2.0.0 OK: queued as {number + 1}"
        assert message["List-Unsubscribe"] == f"<{unsubscribe_url(number)}>"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["List-Id"] == '"Softening Sessions" <softening.tend.example.org>'
        assert message.get_content_type() == "multipart/alternative"
        (text_type, text), (html_type, html) = parts(message)
        assert (text_type, html_type) == ("text/plain", "text/html")
        assert text == (
            f"Grüße, Ann{number}.\n\nUnsubscribe: {unsubscribe_url(number)}\n.\n"
        )  # the lone dot survives dot-stuffing
        assert f'<a href="{unsubscribe_url(number)}">' in html
        assert f"Grüße, Ann{number}." in html
        assert "%%" not in text + html


def test_one_connection_carries_many_batches(sink: SmtpSink) -> None:
    with transport_for(sink) as transport:
        first = transport.send(make_batch(2))
        second = transport.send(make_batch(2, first=2))
    assert all(outcome.accepted for outcome in first + second)
    assert sink.count == 4
    assert sink.connections == 1
    assert sink.quits == 1  # close() says goodbye


@pytest.mark.parametrize("farewell", [None, "421 4.4.2 sink.test Idle timeout"])
def test_a_connection_the_server_dropped_is_opened_again(
    sink: SmtpSink, farewell: str | None
) -> None:
    with transport_for(sink) as transport:
        assert all(outcome.accepted for outcome in transport.send(make_batch(1)))
        sink.drop_connections(farewell)
        outcomes = transport.send(make_batch(2, first=1))
    assert all(outcome.accepted for outcome in outcomes), outcomes
    assert sink.count == 3
    assert sink.connections == 2


def test_threads_share_one_transport(sink: SmtpSink) -> None:
    results: list[list[Outcome]] = []
    with transport_for(sink) as transport:

        def send(first: int) -> None:
            results.append(transport.send(make_batch(5, first=first)))

        threads = [threading.Thread(target=send, args=(first,)) for first in (0, 5, 10, 15)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT)
    assert all(outcome.accepted for batch in results for outcome in batch)
    assert sink.count == 20
    assert sink.connections == 1


# TLS and login


def test_starttls_with_a_verified_certificate(
    server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    with (
        SmtpSink(tls_context=server_tls) as sink,
        transport_for(sink, "?starttls=required", ssl_context=client_tls) as transport,
    ):
        outcomes = transport.send(make_batch(2))
    assert all(outcome.accepted for outcome in outcomes), outcomes
    assert [arrived.tls for arrived in sink.messages] == [True, True]


def test_an_untrusted_certificate_stops_the_batch(server_tls: ssl.SSLContext) -> None:
    with (
        SmtpSink(tls_context=server_tls) as sink,
        transport_for(sink) as transport,
        pytest.raises(TransportError) as raised,
    ):
        transport.send(make_batch(2))
    assert not raised.value.permanent
    assert not raised.value.ambiguous
    assert "certificate verify failed" in str(raised.value)
    assert sink.count == 0


def test_required_starttls_that_is_not_offered_stops_the_batch(sink: SmtpSink) -> None:
    with (
        transport_for(sink, "?starttls=required") as transport,
        pytest.raises(TransportError) as raised,
    ):
        transport.send(make_batch(1))
    assert not raised.value.permanent
    assert "does not offer STARTTLS" in str(raised.value)
    assert sink.count == 0


def test_smtps_is_tls_from_the_start(
    server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    with SmtpSink(tls_context=server_tls, implicit_tls=True, auth=("tend", "pw")) as sink:
        url = f"smtps://tend:pw@127.0.0.1:{sink.port}"
        with SmtpTransport(url, timeout=TIMEOUT, ssl_context=client_tls) as transport:
            outcomes = transport.send(make_batch(2))
    assert all(outcome.accepted for outcome in outcomes), outcomes
    assert [(arrived.tls, arrived.login) for arrived in sink.messages] == [(True, "tend")] * 2


def test_login_with_the_right_password(
    server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    # The password has characters a URL must encode: the transport decodes them.
    with SmtpSink(tls_context=server_tls, auth=("tend@example.org", "p@ss/w:rd")) as sink:
        url = f"smtp://tend%40example.org:p%40ss%2Fw%3Ard@127.0.0.1:{sink.port}"
        with SmtpTransport(url, timeout=TIMEOUT, ssl_context=client_tls) as transport:
            outcomes = transport.send(make_batch(1))
    assert outcomes[0].accepted, outcomes
    assert sink.messages[0].login == "tend@example.org"
    assert sink.messages[0].tls


def test_a_wrong_password_is_permanent_for_the_batch(
    server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    with SmtpSink(tls_context=server_tls, auth=("tend", "right")) as sink:
        url = f"smtp://tend:wrong@127.0.0.1:{sink.port}"
        with (
            SmtpTransport(url, timeout=TIMEOUT, ssl_context=client_tls) as transport,
            pytest.raises(TransportError) as raised,
        ):
            transport.send(make_batch(2))
    assert raised.value.permanent
    assert "refused the login as tend: 535" in str(raised.value)
    assert sink.count == 0


# Failures, message by message


def test_a_refused_recipient_is_permanent_for_that_reader_only() -> None:
    faults = Faults(refuse={"reader1@example.com": "550 5.1.1 No such user here"})
    with SmtpSink(faults=faults) as sink, transport_for(sink) as transport:
        outcomes = transport.send(make_batch(3))
    first, refused, third = outcomes
    assert first.accepted
    assert third.accepted
    assert refused.error is not None
    assert refused.error.permanent
    assert not refused.error.ambiguous
    assert "refused the recipient <reader1@example.com>: 550 5.1.1 No such user here" in str(
        refused.error
    )
    assert [arrived.rcpt_tos for arrived in sink.messages] == [
        ("reader0@example.com",),
        ("reader2@example.com",),
    ]


def test_a_4xx_refusal_is_transient() -> None:
    faults = Faults(refuse={"reader0@example.com": "451 4.3.0 Try again later"})
    with SmtpSink(faults=faults) as sink, transport_for(sink) as transport:
        refused, sent = transport.send(make_batch(2))
    assert refused.error is not None
    assert not refused.error.permanent
    assert not refused.error.ambiguous
    assert refused.error.retry_after is None
    assert "451 4.3.0 Try again later" in str(refused.error)
    assert sent.accepted
    assert sink.count == 1


def test_a_refused_message_is_permanent_for_that_reader_only() -> None:
    faults = Faults(refuse_data={2: "554 5.7.1 Message rejected as spam"})
    with SmtpSink(faults=faults) as sink, transport_for(sink) as transport:
        first, refused, third = transport.send(make_batch(3))
    assert first.accepted
    assert third.accepted
    assert refused.error is not None
    assert refused.error.permanent
    assert "refused the message after receiving it: 554 5.7.1 Message rejected as spam" in str(
        refused.error
    )
    assert sink.count == 2


def test_a_421_ends_the_batch_without_doubt() -> None:
    faults = Faults(refuse={"reader1@example.com": "421 4.3.2 Shutting down"})
    with SmtpSink(faults=faults) as sink, transport_for(sink) as transport:
        sent, closing, not_tried = transport.send(make_batch(3))
        again = transport.send(make_batch(1, first=3))
    assert sent.accepted
    for error in errors([closing, not_tried]):
        assert not error.permanent
        assert not error.ambiguous
    assert "421 4.3.2 Shutting down" in str(closing.error)
    assert str(not_tried.error).startswith("not tried:")
    assert again[0].accepted
    assert sink.connections == 2  # the transport let the closing connection go


def test_a_message_that_cannot_be_built_fails_alone(sink: SmtpSink) -> None:
    batch = make_batch(3)
    broken = Recipient(
        key=7,
        to="reader9@example.com",
        to_name=None,
        # A header carrying a line break would smuggle in headers of its own.
        headers={"List-Unsubscribe": "<https://tend.example.org/u/x>\r\nBcc: all@example.com"},
    )
    recipients = [batch.recipients[0], broken, *batch.recipients[1:]]
    with transport_for(sink) as transport:
        outcomes = transport.send(dataclasses.replace(batch, recipients=recipients))
    assert [outcome.accepted for outcome in outcomes] == [True, False, True, True]
    error = outcomes[1].error
    assert error is not None
    assert error.permanent
    assert "could not build the message" in str(error)
    assert sink.count == 3


def test_without_8bitmime_the_letter_goes_7bit() -> None:
    with SmtpSink(without={"8BITMIME"}) as plain, transport_for(plain) as transport:
        (outcome,) = transport.send(make_batch(1))
    assert outcome.accepted, outcome
    arrived = plain.messages[0]
    assert arrived.data.isascii()
    assert not any(option.startswith("BODY=") for option in arrived.mail_options)
    (_, text), (_, html) = parts(arrived.parsed())
    assert text.startswith("Grüße, Ann0.")
    assert "Grüße, Ann0." in html


def test_a_connection_lost_before_the_data_leaves_no_doubt() -> None:
    with (
        SmtpSink(faults=Faults(drop_at_rcpt={"reader1@example.com"})) as sink,
        transport_for(sink) as transport,
    ):
        sent, lost, not_tried = transport.send(make_batch(3))
    assert sent.accepted
    for error in errors([lost, not_tried]):
        assert not error.permanent
        assert not error.ambiguous
    assert "failed before the message went out (the server closed the connection)" in str(
        lost.error
    )
    assert str(not_tried.error).startswith("not tried:")
    assert sink.count == 1


def test_a_connection_lost_after_the_data_leaves_only_that_message_in_doubt() -> None:
    with SmtpSink(faults=Faults(drop_after_data=2)) as sink, transport_for(sink) as transport:
        outcomes = transport.send(make_batch(4))
        sent, in_doubt, *not_tried = outcomes
        assert sent.accepted
        assert in_doubt.error is not None
        assert in_doubt.error.ambiguous
        assert not in_doubt.error.permanent
        assert "may have been delivered" in str(in_doubt.error)
        for error in errors(not_tried):
            assert not error.ambiguous
            assert not error.permanent
            assert str(error).startswith("not tried:")
        # The server did take the message it never confirmed: that is the doubt.
        assert sink.count == 2
        # The next batch opens a new connection.
        again = transport.send(make_batch(2, first=2))
    assert all(outcome.accepted for outcome in again), again
    assert sink.connections == 2


def test_no_answer_after_the_data_within_the_timeout_is_in_doubt() -> None:
    faults = Faults(delay_after_data={1: 60.0})
    with (
        SmtpSink(faults=faults) as sink,
        SmtpTransport(f"smtp://127.0.0.1:{sink.port}", timeout=1.0) as transport,
    ):
        in_doubt, not_tried = transport.send(make_batch(2))
    assert in_doubt.error is not None
    assert in_doubt.error.ambiguous
    assert "no answer within 1 s" in str(in_doubt.error)
    assert not_tried.error is not None
    assert not not_tried.error.ambiguous


def test_a_refused_connection_is_transient_for_all() -> None:
    # A port bound but not listening refuses connections, and nobody else can take it.
    with socket.socket() as reserved:
        reserved.bind(("127.0.0.1", 0))
        port = reserved.getsockname()[1]
        with (
            SmtpTransport(f"smtp://127.0.0.1:{port}", timeout=TIMEOUT) as transport,
            pytest.raises(TransportError) as raised,
        ):
            transport.send(make_batch(3))
    assert not raised.value.permanent
    assert not raised.value.ambiguous
    assert f"could not connect to 127.0.0.1:{port}" in str(raised.value)
    assert "refused" in str(raised.value).lower()


# DKIM


def test_dkim_signatures_verify_and_cover_the_unsubscribe_headers(
    sink: SmtpSink, dkim_key: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file, record = dkim_key
    monkeypatch.setenv("TEND_TRANSPORT", "smtp")
    monkeypatch.setenv("SMTP_URL", f"smtp://127.0.0.1:{sink.port}")
    monkeypatch.setenv("SMTP_TIMEOUT", str(TIMEOUT))
    monkeypatch.setenv("DKIM_PRIVATE_KEY_FILE", str(key_file))
    monkeypatch.setenv("DKIM_SELECTOR", SELECTOR)
    transport = make_transport(Settings())
    assert isinstance(transport, SmtpTransport)
    with transport:
        outcomes = transport.send(make_batch(2))
    assert all(outcome.accepted for outcome in outcomes), outcomes
    for arrived in sink.messages:
        verify_dkim(arrived.data, record)
        message = arrived.parsed()
        signature = " ".join(str(message["DKIM-Signature"]).split())
        assert "a=rsa-sha256" in signature
        assert "c=relaxed/relaxed" in signature
        assert f"s={SELECTOR}" in signature
        assert "d=example.org" in signature  # the sender's domain
        covered = signed_headers(message)
        for name in (
            "from",
            "to",
            "subject",
            "date",
            "message-id",
            "mime-version",
            "content-type",
            "list-id",
            "list-unsubscribe",
            "list-unsubscribe-post",
        ):
            assert name in covered, f"{name} is not signed: {covered}"


def test_a_long_unsubscribe_header_stays_one_signed_line(
    sink: SmtpSink, dkim_key: tuple[Path, bytes]
) -> None:
    key_file, record = dkim_key
    signer = DkimSigner.from_file(key_file, SELECTOR, domain="mail.example.org")
    url = unsubscribe_url(0, length=400)
    with transport_for(sink, dkim=signer) as transport:
        (outcome,) = transport.send(make_batch(1, url_length=400))
    assert outcome.accepted, outcome
    data = sink.messages[0].data
    assert f"\r\nList-Unsubscribe: <{url}>\r\n".encode() in data
    assert b"=?" not in data.split(b"\r\n\r\n", 1)[0]  # no RFC 2047 encoded words
    verify_dkim(data, record, domain="mail.example.org")


def test_a_key_that_is_not_a_key_stops_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_a_key = tmp_path / "dkim.pem"
    not_a_key.write_text("ssh-rsa AAAA... not a PEM private key\n")
    monkeypatch.setenv("TEND_TRANSPORT", "smtp")
    monkeypatch.setenv("SMTP_URL", "smtp://127.0.0.1:2525")
    monkeypatch.setenv("DKIM_PRIVATE_KEY_FILE", str(not_a_key))
    monkeypatch.setenv("DKIM_SELECTOR", SELECTOR)
    with pytest.raises(SettingsError, match="DKIM_PRIVATE_KEY_FILE: the DKIM key is not"):
        make_transport(Settings())


# SMTP_URL


def test_url_options() -> None:
    plain = SmtpServer.parse("smtp://mail.example.org")
    assert (plain.port, plain.implicit_tls, plain.tls_required_by) == (25, False, None)
    submission = SmtpServer.parse("smtp://u:p%40ss@mail.example.org:587?ehlo=tend.example.org")
    assert submission.port == 587
    assert submission.tls_required_by == "port 587 (mail submission)"
    assert (submission.username, submission.password) == ("u", "p@ss")
    assert submission.ehlo_name == "tend.example.org"
    assert "p@ss" not in repr(submission)
    login = SmtpServer.parse("smtp://u:p@mail.example.org:2525")
    assert login.tls_required_by is not None  # no password in clear
    implicit = SmtpServer.parse("smtps://mail.example.org")
    assert (implicit.port, implicit.implicit_tls) == (465, True)
    for wrong in (
        "smtp://mail.example.org?starttls=never",
        "smtp://mail.example.org?starttls=",
        "smtp://mail.example.org?verify=no",
        "smtps://mail.example.org?starttls=required",
        "smtp://user@mail.example.org",
        "http://mail.example.org",
    ):
        with pytest.raises(ValueError, match=r"."):
            SmtpServer.parse(wrong)

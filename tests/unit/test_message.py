"""emails/message.py, emails/headers.py and emails/transports/outbox.py: mail as it leaves."""

from __future__ import annotations

import dataclasses
import email
import os
import re
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
import time_machine

from core.config import Settings
from emails.batch import Batch, single
from emails.headers import list_headers
from emails.message import Message, display_name, new_message_id
from emails.transports import OutboxTransport, make_transport

UNSUBSCRIBE = "https://tend.example.org/u/abc"
# Shaped like what core.links builds for a reader: a signed uid under /u/ (108 characters).
REAL_UNSUBSCRIBE = (
    "https://tend.example.org/u/"
    "IjM4ZTcyNzQwZGRjMDFmYzI5N2FiYWMzMWU2NmRhOGJiIg.awdJpg.8v8H580RJ275X_sPMpCfaLkOKzY"
)
NOON = datetime(2025, 3, 9, 12, 0, tzinfo=UTC)


def make_message(**changes: object) -> Message:
    fields: dict[str, object] = {
        "to": "reader@example.com",
        "to_name": "Ann Reader",
        "from_email": "letters@example.org",
        "from_name": "Softening Sessions",
        "subject": "The step everyone skips",
        "text": "Pause and name it.\n",
        "html": "<p>Pause and <em>name</em> it.</p>\n",
        "message_id": "<lesson-1@example.org>",
    }
    fields.update(changes)
    return Message(**fields)  # type: ignore[arg-type]


def parse(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def body_lines(message: EmailMessage, subtype: str) -> list[str]:
    part = message.get_body((subtype,))
    assert part is not None
    assert part.get_content_type() == f"text/{subtype}"
    return part.get_content().splitlines()


def header_block(raw: bytes) -> str:
    return raw.split(b"\r\n\r\n", 1)[0].decode("ascii")


# Message.to_mime


def test_a_message_is_multipart_alternative_with_text_first_then_html() -> None:
    mime = make_message().to_mime()

    assert mime.get_content_type() == "multipart/alternative"
    parts = list(mime.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert parts[0].get_content() == "Pause and name it.\n"
    assert parts[1].get_content() == "<p>Pause and <em>name</em> it.</p>\n"


def test_a_message_has_its_envelope_headers() -> None:
    message = make_message(
        reply_to="hello@example.org", headers={"X-Tend-Kind": "lesson", "Precedence": "bulk"}
    )

    with time_machine.travel(NOON, tick=False):
        mime = message.to_mime()

    assert mime["From"] == "Softening Sessions <letters@example.org>"
    assert mime["To"] == "Ann Reader <reader@example.com>"
    assert mime["Reply-To"] == "hello@example.org"
    assert mime["Subject"] == "The step everyone skips"
    assert mime["Message-ID"] == "<lesson-1@example.org>"
    assert mime["Date"] == "Sun, 09 Mar 2025 12:00:00 +0000"
    assert mime["X-Tend-Kind"] == "lesson"
    assert mime["Precedence"] == "bulk"


def test_a_message_without_a_name_or_reply_to_leaves_them_out() -> None:
    mime = make_message(to_name=None).to_mime()

    assert mime["To"] == "reader@example.com"
    assert "Reply-To" not in mime


def test_a_message_without_an_id_gets_one_at_the_senders_domain() -> None:
    first = make_message(message_id="").to_mime()["Message-ID"]
    second = make_message(message_id="").to_mime()["Message-ID"]

    assert re.fullmatch(r"<[^@<>\s]+@example\.org>", str(first))
    assert first != second


def test_new_message_id_falls_back_to_localhost_without_a_domain() -> None:
    assert new_message_id("letters@example.org").endswith("@example.org>")
    assert new_message_id("").endswith("@localhost>")


def test_a_message_with_non_ascii_names_and_subject_survives_the_wire() -> None:
    message = make_message(to_name="Zoë Brontë", subject="Café ☕, une pause", text="Été.\n")

    raw = message.to_mime().as_bytes()
    parsed = parse(raw)

    assert header_block(raw).isascii()
    assert parsed["To"] == "Zoë Brontë <reader@example.com>"
    assert parsed["Subject"] == "Café ☕, une pause"
    assert body_lines(parsed, "plain") == ["Été."]


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"subject": "Hello\r\nBcc: victim@example.net"}, id="subject-crlf"),
        pytest.param({"subject": "Hello\nBcc: victim@example.net"}, id="subject-lf"),
        pytest.param({"reply_to": "a@example.org\r\nBcc: victim@example.net"}, id="reply_to"),
        pytest.param({"headers": {"X-Tag": "x\r\nBcc: victim@example.net"}}, id="extra-header"),
    ],
)
def test_a_line_break_in_a_header_value_is_refused_not_sent(changes: dict[str, object]) -> None:
    message = make_message(**changes)

    with pytest.raises(ValueError, match=r"CR or LF|linefeed or carriage return"):
        message.to_mime()


@pytest.mark.parametrize(
    ("changes", "header"),
    [
        ({"to_name": "Ann\r\nBcc: victim@example.net"}, "To"),
        ({"to_name": "Ann\nBcc: victim@example.net"}, "To"),
        ({"to_name": "Ann\u2028Bcc: victim@example.net"}, "To"),
        ({"to_name": "Ann\x85Bcc: victim@example.net"}, "To"),
        ({"to_name": "=?utf-8?q?=0D=0ABcc:_victim@example.net?="}, "To"),
        ({"from_name": "Letters\rBcc: victim@example.net"}, "From"),
    ],
)
def test_a_line_break_in_a_name_is_a_space_never_a_new_header(
    changes: dict[str, str], header: str
) -> None:
    raw = make_message(**changes).to_mime().as_bytes()

    headers = header_block(raw)
    assert not re.search(r"^Bcc", headers, re.MULTILINE | re.IGNORECASE)
    parsed = parse(raw)
    assert "Bcc" not in parsed
    [address] = parsed[header].addresses
    assert "\n" not in address.display_name
    assert "\r" not in address.display_name
    assert address.addr_spec in {"reader@example.com", "letters@example.org"}


def test_display_names_keep_what_is_not_dangerous() -> None:
    assert display_name("  Zoë  Ünal ") == "Zoë Ünal"
    assert display_name("Ann & Bo <3") == "Ann & Bo <3"
    assert display_name("a=?b") == "a= ?b"
    assert display_name("Ann\ud800") == "Ann"


# list_headers


def test_list_headers_give_one_click_unsubscribe_and_a_list_id() -> None:
    assert list_headers(
        "Softening Sessions", "softening-sessions", "tend.example.org", UNSUBSCRIBE
    ) == {
        "List-Id": '"Softening Sessions" <softening-sessions.tend.example.org>',
        "List-Unsubscribe": "<https://tend.example.org/u/abc>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def test_a_list_name_cannot_break_its_quotes_or_its_line() -> None:
    headers = list_headers(
        'Say "hi"\r\nBcc: victim@example.net', "demo", "example.org", UNSUBSCRIBE
    )

    assert headers["List-Id"] == '"Say hi  Bcc: victim@example.net" <demo.example.org>'


def test_list_headers_appear_verbatim_in_the_message() -> None:
    message = make_message(
        headers=list_headers("Softening Sessions", "softening-sessions", "example.org", UNSUBSCRIBE)
    )

    lines = header_block(message.to_mime().as_bytes()).split("\r\n")

    assert "List-Unsubscribe: <https://tend.example.org/u/abc>" in lines
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in lines
    assert 'List-Id: "Softening Sessions" <softening-sessions.example.org>' in lines


def test_a_real_length_unsubscribe_link_goes_out_verbatim() -> None:
    message = make_message(
        headers=list_headers(
            "Softening Sessions", "softening-sessions", "example.org", REAL_UNSUBSCRIBE
        )
    )

    headers = header_block(message.to_mime().as_bytes())

    assert f"List-Unsubscribe: <{REAL_UNSUBSCRIBE}>" in headers.replace("\r\n ", " ")
    assert "=?utf-8?" not in headers


# OutboxTransport


def batch_of(messages: list[Message]) -> Batch:
    """Finished messages of one letter as one batch, keyed by their position."""
    batches = [single(message, key=number) for number, message in enumerate(messages)]
    first = batches[0] if batches else single(make_message())
    recipients = [recipient for batch in batches for recipient in batch.recipients]
    return dataclasses.replace(first, recipients=recipients)


def test_the_outbox_writes_one_eml_file_per_message_that_parses_back(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    messages = [
        make_message(
            message_id="<one@example.org>", headers={"List-Unsubscribe": f"<{UNSUBSCRIBE}>"}
        ),
        make_message(message_id="<two@example.org>", to="other@example.com", to_name=None),
    ]

    with time_machine.travel(NOON, tick=False):
        outcomes = OutboxTransport(outbox).send(batch_of(messages))

    names = ["20250309T120000000000-one.eml", "20250309T120000000000-two.eml"]
    assert sorted(path.name for path in outbox.iterdir()) == names
    assert [outcome.provider_id for outcome in outcomes] == names
    assert [outcome.key for outcome in outcomes] == [0, 1]
    assert [outcome.message_id for outcome in outcomes] == [
        "<one@example.org>",
        "<two@example.org>",
    ]
    assert all(outcome.accepted and outcome.error is None for outcome in outcomes)

    first = parse((outbox / names[0]).read_bytes())
    assert first["To"] == "Ann Reader <reader@example.com>"
    assert first["Message-ID"] == "<one@example.org>"
    assert first["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert body_lines(first, "plain") == ["Pause and name it."]
    assert body_lines(first, "html") == ["<p>Pause and <em>name</em> it.</p>"]
    assert parse((outbox / names[1]).read_bytes())["To"] == "other@example.com"


def test_the_outbox_leaves_no_temporary_files(tmp_path: Path) -> None:
    OutboxTransport(tmp_path).send(
        batch_of([make_message(message_id=f"<m{n}@example.org>") for n in range(3)])
    )

    assert not list(tmp_path.glob("*.part"))
    assert len(list(tmp_path.glob("*.eml"))) == 3


def test_the_outbox_sends_nothing_for_an_empty_batch(tmp_path: Path) -> None:
    assert OutboxTransport(tmp_path / "outbox").send(batch_of([])) == []
    assert list((tmp_path / "outbox").iterdir()) == []


def test_a_failed_outbox_write_is_a_transient_error_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_room(_source: str, _target: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_room)
    message = make_message()

    [outcome] = OutboxTransport(tmp_path).send(single(message, key=7))

    assert not outcome.accepted
    assert outcome.provider_id is None
    assert outcome.key == 7
    assert outcome.error is not None
    assert outcome.error.permanent is False
    assert "No space left on device" in str(outcome.error)
    assert list(tmp_path.iterdir()) == []


def test_the_transport_setting_picks_the_transport(tmp_path: Path) -> None:
    outbox = make_transport(Settings(TEND_TRANSPORT="outbox", TEND_DATA_DIR=str(tmp_path)))
    sendgrid = make_transport(Settings(TEND_TRANSPORT="sendgrid", SENDGRID_API_KEY="SG.k"))
    smtp = make_transport(Settings(TEND_TRANSPORT="smtp", SMTP_URL="smtp://127.0.0.1:2525"))

    assert isinstance(outbox, OutboxTransport)
    assert outbox.directory == tmp_path / "outbox"
    assert (sendgrid.name, sendgrid.batch_size) == ("sendgrid", 1000)
    assert smtp.name == "smtp"

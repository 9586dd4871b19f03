"""emails/wire.py: a batch encoded once decodes, per reader, to exactly its message."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from emails.batch import Batch, Recipient
from emails.render import Rendered
from emails.wire import WireLetter

LONG = "word " * 400  # one line far past 998 characters
LETTER = Rendered(
    subject="Grüße: lesson one",
    html=f'<p>Hello %%f1%%,</p>\n<p style="x">{LONG}<a href="%%unsubscribe_url%%">Leave</a></p>\n',
    text="Hello %%f1%%,\n. a line with a dot\nLeave: %%unsubscribe_url%%\n\tend with space \n",
    fields={"f1": ("first_name", "friend")},
)
READERS = [
    ("ann@example.org", "Ann & Bo <3", "Ann & Bo <3"),
    ("zoe@example.org", "Zoë Ünal", "Zoë Ünal"),
    ("nameless@example.org", None, None),
    ("quote@example.org", 'Quote "Q" O\'Neil, Jr.', "=?utf-8?q?x?="),
]


def recipient(number: int, to: str, name: str | None, first_name: str | None) -> Recipient:
    url = f"https://mail.example.org/u/token{number}.aweV3w.sig-_?a=1&b=2"
    return Recipient(
        key=number,
        to=to,
        to_name=name,
        values={"first_name": first_name, "unsubscribe_url": url},
        headers={
            "List-Unsubscribe": f"<{url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        message_id=f"<m{number}@example.org>",
    )


BATCH = Batch(
    from_email="course@example.org",
    from_name="Sessions — Softly",
    letter=LETTER,
    recipients=[recipient(n, *reader) for n, reader in enumerate(READERS)],
    reply_to="author@example.org",
    headers={"List-Id": '"Sessions" <sessions.example.org>'},
)


def parsed(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def bodies(message: EmailMessage) -> list[tuple[str, str]]:
    return [
        (part.get_content_type(), part.get_content().replace("\r\n", "\n"))
        for part in message.iter_parts()
    ]


@pytest.mark.parametrize("number", range(len(READERS)))
def test_each_readers_message_decodes_to_what_the_email_package_builds(number: int) -> None:
    target = BATCH.recipients[number]
    expected = parsed(BATCH.message(target).to_mime().as_bytes())

    message_id, data = WireLetter.build(BATCH).message(target)
    got = parsed(data)

    assert message_id == f"<m{number}@example.org>"
    assert bodies(got) == bodies(expected)
    for name in ("From", "To", "Reply-To", "Subject", "Message-ID", "List-Id",
                 "List-Unsubscribe", "List-Unsubscribe-Post"):  # fmt: skip
        assert str(got[name]) == str(expected[name]), name
    assert got.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in got.iter_parts()] == ["text/plain", "text/html"]


def test_the_bytes_are_seven_bit_crlf_and_no_line_is_too_long() -> None:
    _, data = WireLetter.build(BATCH).message(BATCH.recipients[1])

    assert data.isascii()
    assert b"\n" not in data.replace(b"\r\n", b"")
    body = data.partition(b"\r\n\r\n")[2]
    assert max(len(line) for line in body.split(b"\r\n")) <= 76


def test_a_header_value_on_two_lines_is_refused() -> None:
    forged = "<https://x/u/1>\r\nBcc: all@example.org"
    bad = Recipient(key=9, to="a@example.org", to_name=None, headers={"List-Unsubscribe": forged})

    with pytest.raises(ValueError, match="one-line ASCII"):
        WireLetter.build(BATCH).message(bad)


def test_a_name_cannot_start_a_header_of_its_own() -> None:
    sly = Recipient(key=9, to="a@example.org", to_name="Ann\r\nBcc: all@example.org")

    _, data = WireLetter.build(BATCH).message(sly)

    assert b"\r\nBcc:" not in data
    assert parsed(data)["Bcc"] is None

"""A batch's letter as the bytes SMTP carries, encoded once and filled in per reader.

Python's `email` package takes about 2 ms to build and encode one message, nearly all of
it on parts that are the same for every reader of a batch. Here the shared headers and
both parts are encoded once (by the `email` package and quoted-printable); what differs
per reader is encoded alone and spliced in:

- each placeholder's value, quoted-printable, between soft line breaks (`=` CRLF), which
  a decoder drops, so the decoded text is exactly the letter with the value in place;
- the reader's own headers (To, Message-ID, List-Unsubscribe), on lines of their own.

The result is 7-bit clean with CRLF line ends, so it needs no 8BITMIME, and its parts
decode to exactly what `Batch.message` would hold (tests/unit/test_wire.py checks).
"""

from __future__ import annotations

import binascii
import html
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email import quoprimime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from core.clock import utcnow
from emails.batch import Batch, Recipient
from emails.message import POLICY, display_name, new_message_id
from emails.templating import PLACEHOLDER

SOFT_BREAK = b"=\r\n"
CRLF = b"\r\n"


def _qp(text: str) -> bytes:
    """Quoted-printable with lines of at most 75 characters, leaving room for the `=` of
    the soft line break that follows each piece (RFC 2045 allows 76)."""
    encoded = binascii.b2a_qp(text.encode(), istext=True)  # in C, lines up to 76
    if max(map(len, encoded.split(b"\n"))) <= 75:
        return encoded.replace(b"\n", CRLF)
    # The email package's encoder takes a line length; it works on bytes as Latin-1.
    latin = text.encode().decode("latin-1")
    return quoprimime.body_encode(latin, maxlinelen=75, eol="\r\n").encode("ascii")


@dataclass(frozen=True)
class _Part:
    """One MIME part's body, encoded, with the places where readers' values go."""

    segments: tuple[bytes, ...]  # encoded text between placeholders: one more than tags
    tags: tuple[str, ...]

    @classmethod
    def encode(cls, content: str) -> _Part:
        pieces = PLACEHOLDER.split(content)  # text, tag, text, tag, ..., text
        return cls(tuple(_qp(text) for text in pieces[0::2]), tuple(pieces[1::2]))

    def fill(self, value: Callable[[str], str]) -> bytes:
        out = [self.segments[0]]
        for tag, segment in zip(self.tags, self.segments[1:], strict=True):
            out += (SOFT_BREAK, _qp(value(tag)), SOFT_BREAK, segment)
        return b"".join(out)


@dataclass(frozen=True)
class WireLetter:
    batch: Batch
    head: bytes  # the shared headers, ending in CRLF
    text: _Part
    html: _Part
    boundary: bytes

    @classmethod
    def build(cls, batch: Batch) -> WireLetter:
        boundary = f"=_{secrets.token_hex(16)}"  # "=_" never occurs in quoted-printable
        shared = EmailMessage(policy=POLICY)
        shared["From"] = formataddr((display_name(batch.from_name), batch.from_email))
        if batch.reply_to:
            shared["Reply-To"] = batch.reply_to
        shared["Subject"] = batch.letter.subject
        shared["Date"] = format_datetime(utcnow())
        for name, value in batch.headers.items():
            shared[name] = value
        shared["MIME-Version"] = "1.0"
        shared["Content-Type"] = f'multipart/alternative; boundary="{boundary}"'
        head = shared.as_bytes().partition(CRLF + CRLF)[0] + CRLF
        letter = batch.letter
        return cls(
            batch, head, _Part.encode(letter.text), _Part.encode(letter.html), boundary.encode()
        )

    def message(self, recipient: Recipient) -> tuple[str, bytes]:
        """The Message-ID and the whole message for one reader."""
        message_id = recipient.message_id or new_message_id(self.batch.from_email)
        own = {
            "To": formataddr((display_name(recipient.to_name or ""), _checked(recipient.to))),
            "Message-ID": message_id,
            **recipient.headers,
        }
        values = recipient.values
        letter = self.batch.letter
        text = self.text.fill(lambda tag: letter.value(tag, values))
        body = self.html.fill(lambda tag: html.escape(letter.value(tag, values)))
        boundary = self.boundary
        data = b"".join(
            [
                _header_lines(own),
                self.head,
                CRLF,
                b"--" + boundary + CRLF,
                b'Content-Type: text/plain; charset="utf-8"' + CRLF,
                b"Content-Transfer-Encoding: quoted-printable" + CRLF + CRLF,
                text + CRLF,
                b"--" + boundary + CRLF,
                b'Content-Type: text/html; charset="utf-8"' + CRLF,
                b"Content-Transfer-Encoding: quoted-printable" + CRLF + CRLF,
                body + CRLF,
                b"--" + boundary + b"--" + CRLF,
            ]
        )
        return message_id, data


def _header_lines(headers: Mapping[str, str]) -> bytes:
    lines = []
    for name, value in headers.items():
        lines.append(f"{name}: {_checked(value)}".encode("ascii") + CRLF)
    return b"".join(lines)


def _checked(value: str) -> str:
    """A header value as it is, if it is one line of ASCII; a reader's data never is more."""
    if "\r" in value or "\n" in value or not value.isascii():
        raise ValueError(f"not a one-line ASCII header value: {value!r}")
    return value

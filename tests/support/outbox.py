"""Reading what the outbox transport wrote, and waiting for it with a bound."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage
from pathlib import Path

from tests.support.processes import wait_for

__all__ = ["link_to", "messages", "parts", "wait_for", "with_subject"]


def messages(outbox: Path) -> list[EmailMessage]:
    """Every message in the outbox, oldest first."""
    if not outbox.exists():
        return []
    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for path in sorted(outbox.glob("*.eml"))
    ]


def with_subject(outbox: Path, subject: str) -> list[EmailMessage]:
    return [message for message in messages(outbox) if message["Subject"] == subject]


def parts(message: EmailMessage) -> tuple[str, str]:
    """The text and HTML parts of a message."""
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None, "the message has no text/plain part"
    assert html is not None, "the message has no text/html part"
    # The files hold canonical RFC 5322 line endings (CRLF); compare as text.
    return _lf(text.get_content()), _lf(html.get_content())


def _lf(content: str) -> str:
    return content.replace("\r\n", "\n")


def link_to(message: EmailMessage, path_prefix: str) -> str:
    """The first link in the text part whose path starts with `path_prefix`."""
    text, _ = parts(message)
    match = re.search(rf"https?://[^\s]+?{re.escape(path_prefix)}[^\s]+", text)
    assert match, f"no {path_prefix} link in:\n{text}"
    return match.group(0)

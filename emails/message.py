"""One outgoing email, independent of how it is sent."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from core.clock import utcnow
from courses.model import Publication

# RFC 5322 allows lines of 998 characters. Python folds at 78 by default, and a header
# word longer than that (a signed unsubscribe link) would be rewritten as RFC 2047
# encoded words, which mail providers do not read as a link.
POLICY = SMTP.clone(max_line_length=998)


@dataclass(frozen=True)
class Message:
    to: str
    to_name: str | None
    from_email: str
    from_name: str
    subject: str
    text: str
    html: str
    reply_to: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    message_id: str = ""
    # What a provider may carry back in its events: our ids, never addresses.
    tags: dict[str, str] = field(default_factory=dict)

    def to_mime(self) -> EmailMessage:
        """The message as RFC 5322: text part first, then HTML (clients show the last they can)."""
        mime = EmailMessage(policy=POLICY)
        mime["From"] = Address(display_name(self.from_name), addr_spec=self.from_email)
        mime["To"] = Address(display_name(self.to_name or ""), addr_spec=self.to)
        if self.reply_to:
            mime["Reply-To"] = self.reply_to
        mime["Subject"] = self.subject
        mime["Date"] = format_datetime(utcnow())
        mime["Message-ID"] = self.message_id or new_message_id(self.from_email)
        for name, value in self.headers.items():
            mime[name] = value
        mime.set_content(self.text)
        mime.add_alternative(self.html, subtype="html")
        return mime


def from_publication(
    publication: Publication,
    *,
    to: str,
    to_name: str | None,
    subject: str,
    html: str,
    text: str,
    headers: dict[str, str],
    tags: dict[str, str],
) -> Message:
    """A message sent in a course's or newsletter's name (its sender and reply-to)."""
    return Message(
        to=to,
        to_name=to_name,
        from_email=publication.from_email,
        from_name=publication.from_name,
        reply_to=publication.reply_to,
        subject=subject,
        text=text,
        html=html,
        headers=headers,
        message_id=new_message_id(publication.from_email),
        tags=tags,
    )


def new_message_id(from_email: str) -> str:
    return make_msgid(domain=from_email.rpartition("@")[2] or "localhost")


def display_name(name: str) -> str:
    """A name as it may stand in a From or To header: one line, no control characters,
    and no RFC 2047 encoded word (`=?utf-8?q?=0D=0A...?=`), which the email package would
    decode back into whatever it hides, line breaks included."""
    printable = "".join(" " if unicodedata.category(c) in {"Cc", "Cs"} else c for c in name)
    return " ".join(printable.replace("=?", "= ?").split())

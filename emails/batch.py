"""One letter to many readers: what a SendGrid request or an SMTP session carries.

The letter is rendered once, with placeholders where each reader's values go. A transport
either hands the placeholders and values to the provider (SendGrid's substitutions) or
fills them in itself, one message per reader (SMTP, the outbox).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from emails.message import Message
from emails.render import Rendered


@dataclass(frozen=True)
class Recipient:
    key: int  # the caller's id for this message (a delivery's id): outcomes carry it back
    to: str
    to_name: str | None
    values: Mapping[str, str | None] = field(default_factory=dict)  # fills the placeholders
    headers: Mapping[str, str] = field(
        default_factory=dict
    )  # this reader's own, like List-Unsubscribe
    # What a provider carries back in its events: our ids, never addresses.
    tags: Mapping[str, str] = field(default_factory=dict)
    message_id: str = ""


@dataclass(frozen=True)
class Batch:
    from_email: str
    from_name: str
    letter: Rendered
    recipients: Sequence[Recipient]
    reply_to: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # the same for every reader
    categories: tuple[str, ...] = ()  # what a provider groups its statistics by

    def message(self, recipient: Recipient) -> Message:
        """The whole message one reader gets, placeholders filled in."""
        if recipient.values:
            html, text = self.letter.for_reader(recipient.values)
        else:  # a finished letter (a confirmation, a test send): nothing to fill in
            html, text = self.letter.html, self.letter.text
        return Message(
            to=recipient.to,
            to_name=recipient.to_name,
            from_email=self.from_email,
            from_name=self.from_name,
            reply_to=self.reply_to,
            subject=self.letter.subject,
            text=text,
            html=html,
            headers={**self.headers, **recipient.headers},
            message_id=recipient.message_id,
            tags=dict(recipient.tags),
        )

    def split(self, size: int) -> list[Batch]:
        """This batch in pieces of at most `size` readers (a provider's request limit)."""
        return [
            Batch(
                self.from_email,
                self.from_name,
                self.letter,
                self.recipients[start : start + size],
                self.reply_to,
                self.headers,
                self.categories,
            )
            for start in range(0, len(self.recipients), size)
        ]


def single(message: Message, key: int = 0) -> Batch:
    """A batch of one finished message (a test send): nothing left to fill in."""
    letter = Rendered(message.subject, message.html, message.text)
    recipient = Recipient(
        key=key,
        to=message.to,
        to_name=message.to_name,
        headers=message.headers,
        tags=message.tags,
        message_id=message.message_id,
    )
    return Batch(message.from_email, message.from_name, letter, [recipient], message.reply_to)

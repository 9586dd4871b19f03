"""What every transport is: it takes a batch of messages and says what became of each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from emails.message import Message


class TransportError(Exception):
    """A send failed. Permanent errors are recorded and shown; transient ones are retried."""

    def __init__(self, message: str, *, permanent: bool, retry_after: float | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


@dataclass(frozen=True)
class Outcome:
    """What became of one message: accepted (with the provider's id) or an error."""

    message: Message
    provider_id: str | None = None
    error: TransportError | None = None

    @property
    def accepted(self) -> bool:
        return self.error is None


class Transport(Protocol):
    name: str

    def send(self, messages: Sequence[Message]) -> list[Outcome]:
        """Send a batch (one SendGrid request, or one SMTP connection); one outcome each.

        A failure of the whole batch may be raised as TransportError instead.
        """
        ...

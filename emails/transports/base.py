"""What every transport is: it takes a batch of one letter to many readers and says what
became of each reader's message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from emails.batch import Batch


class TransportError(Exception):
    """A send failed. Permanent errors are recorded and shown; transient ones are retried.

    `ambiguous` means the request may have reached the provider before it failed (a timeout
    while waiting for the answer): the mail may be on its way, so it must not be sent again
    blindly.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        retry_after: float | None = None,
        ambiguous: bool = False,
    ):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
        self.ambiguous = ambiguous


@dataclass(frozen=True)
class Outcome:
    """What became of one reader's message: accepted (with the provider's id) or an error."""

    key: int
    provider_id: str | None = None
    error: TransportError | None = None
    message_id: str | None = None  # the Message-ID header, where the transport set it

    @property
    def accepted(self) -> bool:
        return self.error is None


class Transport(Protocol):
    name: str
    # The most readers one call to `send` takes. A crash in the middle of a call leaves
    # this many messages in doubt, so transports without events to settle doubt keep it small.
    batch_size: int

    def send(self, batch: Batch) -> list[Outcome]:
        """Send a batch of at most `batch_size` readers; one outcome each, in order.

        A failure of the whole batch may be raised as TransportError instead.
        """
        ...

    def close(self) -> None:
        """Let go of any connection kept open between batches."""
        ...

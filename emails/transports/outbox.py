"""The outbox transport: one RFC 5322 `.eml` file per message, for development and tests."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from core.clock import utcnow
from emails.batch import Batch, Recipient
from emails.transports.base import Outcome, TransportError


class OutboxTransport:
    name = "outbox"
    batch_size = 1000

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, batch: Batch) -> list[Outcome]:
        self.directory.mkdir(parents=True, exist_ok=True)
        return [self._write(batch, recipient) for recipient in batch.recipients]

    def close(self) -> None:
        """Nothing is kept open."""

    def _write(self, batch: Batch, recipient: Recipient) -> Outcome:
        mime = batch.message(recipient).to_mime()
        local_id = str(mime["Message-ID"]).strip("<>").partition("@")[0]
        name = f"{utcnow():%Y%m%dT%H%M%S%f}-{local_id}.eml"
        try:
            _write_atomically(self.directory / name, mime.as_bytes())
        except OSError as error:
            return Outcome(recipient.key, error=TransportError(str(error), permanent=False))
        return Outcome(recipient.key, provider_id=name, message_id=str(mime["Message-ID"]))


def _write_atomically(path: Path, data: bytes) -> None:
    # A reader of the outbox never sees half a message: write aside, then rename.
    fd, temporary = tempfile.mkstemp(dir=path.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise

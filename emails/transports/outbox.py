"""The outbox transport: one RFC 5322 `.eml` file per message, for development and tests."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from core.clock import utcnow
from emails.message import Message
from emails.transports.base import Outcome, TransportError


class OutboxTransport:
    name = "outbox"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, messages: Sequence[Message]) -> list[Outcome]:
        self.directory.mkdir(parents=True, exist_ok=True)
        return [self._write(message) for message in messages]

    def _write(self, message: Message) -> Outcome:
        mime = message.to_mime()
        local_id = str(mime["Message-ID"]).strip("<>").partition("@")[0]
        name = f"{utcnow():%Y%m%dT%H%M%S%f}-{local_id}.eml"
        try:
            _write_atomically(self.directory / name, mime.as_bytes())
        except OSError as error:
            return Outcome(message, error=TransportError(str(error), permanent=False))
        return Outcome(message, provider_id=name)


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

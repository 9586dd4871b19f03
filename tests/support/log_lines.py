"""Catching log lines as a process writes them, to check what each carries."""

from __future__ import annotations

import json
import logging
from typing import Any


class Lines(logging.Handler):
    """Keeps each line as formatted."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def json(self) -> list[dict[str, Any]]:
        """Each line as JSON; fails on a line that is not one JSON object."""
        return [json.loads(line) for line in self.lines]

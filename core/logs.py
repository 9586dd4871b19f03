"""Log lines that say which request, task or deliveries they are about.

The ids of the work under way live in a context variable (`bound`, `bind`): a request's id
in the web process, a task's id and name in the worker, the deliveries a batch sends. A
filter on each handler copies them onto every record that handler writes, whichever
logger made it, ours or a library's (celery, sqlalchemy, werkzeug), so any line can be
traced back to its request or task. Each thread (and each asyncio task) has a context of
its own, so a gunicorn thread's ids never leak into another's.

Lines are JSON, one object a line with every field, or readable text with the ids at the
end of the first line.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal, TextIO

LogFormat = Literal["text", "json"]

# What every LogRecord has; anything else on a record came from `extra` or the context.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
# The fields a text line ends with, when the context has them.
TEXT_FIELDS = ("request_id", "task_id", "delivery_id", "delivery_first", "delivery_last")
HANDLER_NAME = "tend"

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_context: ContextVar[Mapping[str, Any]] = ContextVar("tend_log_context", default=_EMPTY)


def bind(**fields: Any) -> Token[Mapping[str, Any]]:
    """Add `fields` to the context until `unbind(token)`: for work whose start and end
    are seen in two places (a request's hooks, a task's signals)."""
    return _context.set(MappingProxyType({**_context.get(), **fields}))


def unbind(token: Token[Mapping[str, Any]]) -> None:
    """Put the context back as it was before the `bind` that gave `token`."""
    _context.reset(token)


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Every line logged inside the block carries `fields` too (nested blocks add theirs)."""
    token = bind(**fields)
    try:
        yield
    finally:
        unbind(token)


def current() -> Mapping[str, Any]:
    """The fields every line logged now carries."""
    return _context.get()


class ContextFilter(logging.Filter):
    """Copies the context onto each record, so formatters see it as fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            # A field given in `extra` is more particular than the context's: it stays.
            record.__dict__.setdefault(key, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line, even for an exception (its traceback is the `error` field)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update((key, value) for key, value in record.__dict__.items() if key not in _STANDARD)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["error"] = record.exc_text
        return json.dumps(line, default=str)


class TextWithIds(logging.Formatter):
    """Another formatter's line, with the context's ids after its first line (before any
    traceback): still easy to read, and a line can still be traced to its request or task."""

    def __init__(self, inner: logging.Formatter | None = None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = self.inner.format(record)
        fields = record.__dict__
        ids = " ".join(f"{key}={fields[key]}" for key in TEXT_FIELDS if key in fields)
        if not ids:
            return text
        first, newline, rest = text.partition("\n")
        return f"{first} [{ids}]{newline}{rest}"


def format_handler(handler: logging.Handler, log_format: LogFormat) -> None:
    """Make `handler` write `log_format` lines carrying the context. Safe to repeat."""
    if not any(isinstance(each, ContextFilter) for each in handler.filters):
        handler.addFilter(ContextFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    elif not isinstance(handler.formatter, TextWithIds):
        handler.setFormatter(TextWithIds(handler.formatter))


def format_handlers(logger: logging.Logger, log_format: LogFormat) -> None:
    """The same for every handler of `logger`."""
    for handler in logger.handlers:
        format_handler(handler, log_format)


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever sys.stderr is when a line is written, not when it was made."""

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def log_to_stderr(log_format: LogFormat, level: int = logging.INFO) -> logging.Handler:
    """A process's logging, set once at its entry point: the root logger writes `level`
    and above to stderr in `log_format`. Calling it again reuses the same handler."""
    root = logging.getLogger()
    handler = next((each for each in root.handlers if each.name == HANDLER_NAME), None)
    if handler is None:
        handler = _StderrHandler()
        handler.name = HANDLER_NAME
        root.addHandler(handler)
    format_handler(handler, log_format)
    root.setLevel(level)
    return handler


def gunicorn_logging(log_format: LogFormat) -> dict[str, Any]:
    """gunicorn's own logging (its `logconfig_dict`), the master's lines included: its
    error log to stderr in `log_format`, no access log of its own (web/request_log.py
    writes one with the request's id), and the root logger left to the app (web/wsgi.py).
    Empty for text: gunicorn's usual lines."""
    if log_format != "json":
        return {}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": "INFO", "handlers": []},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False},
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "json",
                "filters": ["context"],
            }
        },
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {"json": {"()": JsonFormatter}},
    }

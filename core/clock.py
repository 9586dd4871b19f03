"""The one place Tend asks what time it is, so tests can move time (time-machine patches it)."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)

"""Readers' time zones."""

from __future__ import annotations

import functools
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@functools.cache
def zone_of(name: str) -> ZoneInfo:
    """The reader's zone; UTC if the stored name is unknown (tzdata may have dropped it)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")

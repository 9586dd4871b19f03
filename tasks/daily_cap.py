"""The daily cap: at most N letters per reader per day of their own, across every course
and newsletter, so a reader in several courses is never sent a pile at once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Delivery, DeliveryKind, Subscriber
from tasks.zones import zone_of

COUNTED = (DeliveryKind.LESSON, DeliveryKind.ISSUE)  # a confirmation is not a letter


class DailyCap:
    def __init__(
        self, session: Session, readers: Iterable[Subscriber], now: datetime, limit: int
    ) -> None:
        self.limit = limit
        self.day_starts = {reader.id: _start_of_day(reader.timezone, now) for reader in readers}
        self.sent: Counter[int] = Counter()
        if limit and self.day_starts:
            self._count_today(session)

    def _count_today(self, session: Session) -> None:
        rows = session.execute(
            select(Delivery.subscriber_id, Delivery.created_at).where(
                Delivery.subscriber_id.in_(list(self.day_starts)),
                Delivery.kind.in_(COUNTED),
                Delivery.created_at >= min(self.day_starts.values()),
            )
        )
        for reader_id, created_at in rows:
            if created_at >= self.day_starts[reader_id]:
                self.sent[reader_id] += 1

    def allows(self, reader_id: int) -> bool:
        return not self.limit or self.sent[reader_id] < self.limit

    def count(self, reader_id: int) -> None:
        self.sent[reader_id] += 1


def _start_of_day(timezone: str, now: datetime) -> datetime:
    zone = zone_of(timezone)
    return datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)

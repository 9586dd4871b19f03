"""Newsletter issues as the dashboard shows them: a list, and one issue's progress.

An issue's total is its deliveries written so far plus the readers its unfinished waves
have still to write (the same rule as `tasks.broadcasts._next_batch`, counted past each
wave's checkpoint), so the total is right before, during and after the waves.

Counts per status come from one grouped query on `deliveries (broadcast_id, status)`; the
rate from the deliveries sent in the last RATE_WINDOW. Broadcasts are few (one per issue),
so their list is paged by number.

Counting the readers still to write means counting the list's members (a million of them):
too slow for a fragment polled every few seconds. The page passes `progress` the `totals`
of a recent report snapshot instead, and the readers still to write are worked out from
them: those the snapshot counted, less the deliveries written since. That figure is an
estimate (readers who joined or left since are not in it), and the page says so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.orm import Session

from core.models import (
    Broadcast,
    BroadcastStatus,
    BroadcastWave,
    Delivery,
    DeliveryStatus,
    Membership,
    Subscriber,
    SubscriberStatus,
)

PAGE_SIZE = 20
RATE_WINDOW = timedelta(minutes=10)
FAILURES_SHOWN = 20
SENT = (DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.BOUNCED)
WAITING = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.IN_FLIGHT)
TROUBLE = (DeliveryStatus.FAILED, DeliveryStatus.BOUNCED, DeliveryStatus.UNKNOWN)


@dataclass
class Counts:
    """An issue's deliveries by status, and the figures made of them."""

    statuses: dict[DeliveryStatus, int] = field(default_factory=dict)

    def of(self, *statuses: DeliveryStatus) -> int:
        return sum(self.statuses.get(status, 0) for status in statuses)

    @property
    def written(self) -> int:
        return sum(self.statuses.values())

    @property
    def sent(self) -> int:
        return self.of(*SENT)

    @property
    def waiting(self) -> int:
        return self.of(*WAITING)

    @property
    def failed(self) -> int:
        return self.of(DeliveryStatus.FAILED)

    @property
    def in_doubt(self) -> int:
        return self.of(DeliveryStatus.UNKNOWN)

    @property
    def skipped(self) -> int:
        return self.of(DeliveryStatus.SKIPPED)

    @property
    def done(self) -> int:
        """Deliveries that need nothing more: sent, failed, in doubt or skipped."""
        return self.written - self.waiting


@dataclass(frozen=True)
class IssueRow:
    id: int
    issue: str
    subject: str
    list: str
    status: str  # scheduled, sending, sent or cancelled, as it stands now
    send_at: datetime
    counts: Counts


@dataclass(frozen=True)
class IssuePage:
    rows: list[IssueRow]
    page: int
    more: bool


@dataclass(frozen=True)
class FailureRow:
    id: int
    email: str
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    updated_at: datetime


@dataclass(frozen=True)
class Totals:
    """An issue's deliveries written and readers still to write, counted together."""

    written: int
    unwritten: int


@dataclass(frozen=True)
class Progress:
    broadcast: Broadcast
    status: str
    counts: Counts
    total: int  # deliveries written plus readers the waves have still to write
    unwritten: int
    rate: float  # sent per minute over RATE_WINDOW
    eta: datetime | None  # when the issue should be done at this rate; None: unknown
    next_wave: datetime | None  # the next wave still to come, for local-time issues
    failures: list[FailureRow]
    # When the readers still to write were worked out from a snapshot's totals of that
    # moment: None when they were counted now (or there are none).
    estimated_from: datetime | None = None

    @property
    def share_done(self) -> float:
        return self.counts.done / self.total if self.total else 1.0


def issues(session: Session, page: int = 1) -> IssuePage:
    """Broadcasts newest first, with their counts and status."""
    page = max(page, 1)
    found = list(
        session.scalars(
            select(Broadcast)
            .order_by(Broadcast.send_at.desc(), Broadcast.id.desc())
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE + 1)
        )
    )
    shown = found[:PAGE_SIZE]
    ids = [broadcast.id for broadcast in shown]
    counts = status_counts(session, ids)
    open_waves = _unfinished_waves(session, ids)
    rows = [
        IssueRow(
            b.id,
            b.issue,
            b.subject,
            b.list,
            _status(b, counts[b.id], open_waves[b.id]),
            b.send_at,
            counts[b.id],
        )
        for b in shown
    ]
    return IssuePage(rows, page, len(found) > PAGE_SIZE)


def status_counts(session: Session, ids: list[int]) -> dict[int, Counts]:
    found: dict[int, Counts] = defaultdict(Counts)
    if not ids:
        return found
    query = (
        select(Delivery.broadcast_id, Delivery.status, func.count())
        .where(Delivery.broadcast_id.in_(ids))
        .group_by(Delivery.broadcast_id, Delivery.status)
    )
    for broadcast_id, status, count in session.execute(query):
        found[broadcast_id].statuses[status] = count
    return found


def _unfinished_waves(session: Session, ids: list[int]) -> dict[int, list[BroadcastWave]]:
    found: dict[int, list[BroadcastWave]] = defaultdict(list)
    if not ids:
        return found
    query = (
        select(BroadcastWave)
        .where(BroadcastWave.broadcast_id.in_(ids), BroadcastWave.finished_at.is_(None))
        .order_by(BroadcastWave.due_at)
    )
    for wave in session.scalars(query):
        found[wave.broadcast_id].append(wave)
    return found


def _status(broadcast: Broadcast, counts: Counts, open_waves: list[BroadcastWave]) -> str:
    """What the issue is doing now. The stored status says only whether it was cancelled:
    the waves and the queue say whether it is still going out."""
    if broadcast.status is BroadcastStatus.CANCELLED:
        return BroadcastStatus.CANCELLED.value
    if counts.waiting or open_waves:
        started = counts.written or any(wave.last_subscriber_id for wave in open_waves)
        return (BroadcastStatus.SENDING if started else BroadcastStatus.SCHEDULED).value
    return BroadcastStatus.SENT.value


def totals(session: Session, broadcast_id: int) -> Totals:
    """Deliveries written and readers still to write, for a snapshot (the slow count)."""
    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None:
        return Totals(0, 0)
    counts = status_counts(session, [broadcast_id])[broadcast_id]
    waves = _unfinished_waves(session, [broadcast_id])[broadcast_id]
    return Totals(counts.written, _unwritten(session, broadcast.list, waves))


def progress(
    session: Session,
    broadcast_id: int,
    now: datetime,
    recent: Callable[[], tuple[Totals, datetime]] | None = None,
) -> Progress | None:
    """The issue's progress now. `recent` gives recent totals and their time (a snapshot):
    with it, the readers still to write are worked out from them rather than counted."""
    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None:
        return None
    counts = status_counts(session, [broadcast_id])[broadcast_id]
    waves = _unfinished_waves(session, [broadcast_id])[broadcast_id]
    estimated_from = None
    if not waves:
        unwritten = 0  # exact: no wave has readers left to write
    elif recent is None:
        unwritten = _unwritten(session, broadcast.list, waves)
    else:
        then, estimated_from = recent()
        unwritten = max(0, then.unwritten - max(0, counts.written - then.written))
    rate = _rate(session, broadcast_id, now)
    later = [wave.due_at for wave in waves if wave.due_at > now]
    return Progress(
        broadcast=broadcast,
        status=_status(broadcast, counts, waves),
        counts=counts,
        total=counts.written + unwritten,
        unwritten=unwritten,
        rate=rate,
        eta=_eta(broadcast, counts.waiting + unwritten, rate, later, now),
        next_wave=min(later) if later else None,
        failures=failures(session, broadcast_id),
        estimated_from=estimated_from,
    )


def _unwritten(session: Session, list_name: str, waves: list[BroadcastWave]) -> int:
    """Readers the unfinished waves have still to write, in one count."""
    if not waves:
        return 0
    query = (
        select(func.count())
        .select_from(Subscriber)
        .join(Membership, Membership.subscriber_id == Subscriber.id)
        .where(
            Membership.list == list_name,
            Membership.left_at.is_(None),
            Subscriber.status == SubscriberStatus.ACTIVE,
            or_(*[_still_to_write(wave) for wave in waves]),
        )
    )
    return session.scalar(query) or 0


def _still_to_write(wave: BroadcastWave) -> ColumnElement[bool]:
    if not wave.zones:
        return false()
    return and_(
        Subscriber.timezone.in_(wave.zones),
        Subscriber.id > wave.last_subscriber_id,
        Membership.joined_at <= wave.due_at,
    )


def _rate(session: Session, broadcast_id: int, now: datetime) -> float:
    """Deliveries sent a minute, over the last RATE_WINDOW."""
    since = now - RATE_WINDOW
    # A delivery is updated when it is sent, so updated_at >= sent_at: the extra range
    # changes nothing counted, and lets PostgreSQL read only the recent rows through
    # `(status, updated_at)` (once per status) instead of every delivery of the issue.
    query = select(func.count()).where(
        Delivery.status.in_(list(DeliveryStatus)),
        Delivery.updated_at >= since,
        Delivery.broadcast_id == broadcast_id,
        Delivery.sent_at >= since,
    )
    sent = session.scalar(query) or 0
    return sent / (RATE_WINDOW / timedelta(minutes=1))


def _eta(
    broadcast: Broadcast, left: int, rate: float, later: list[datetime], now: datetime
) -> datetime | None:
    """When the last delivery should go: at this rate for those still to send, and not
    before the last wave still to come (a reader's morning cannot be hurried). None when
    nothing is left, or nothing was sent lately to measure a rate by."""
    if broadcast.status is BroadcastStatus.CANCELLED or not left or rate <= 0:
        return None
    return max([now + timedelta(minutes=left / rate), *later])


def failures(session: Session, broadcast_id: int) -> list[FailureRow]:
    """The issue's latest failed, bounced and in-doubt deliveries, with the provider's word."""
    query = (
        select(
            Delivery.id,
            Subscriber.email,
            Delivery.status,
            Delivery.attempts,
            Delivery.last_error,
            Delivery.updated_at,
        )
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.broadcast_id == broadcast_id, Delivery.status.in_(TROUBLE))
        .order_by(Delivery.updated_at.desc(), Delivery.id.desc())
        .limit(FAILURES_SHOWN)
    )
    return [FailureRow(*row) for row in session.execute(query)]

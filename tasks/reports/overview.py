"""The overview's figures: sends per day by outcome, the rates mailbox providers judge a
sender by, and readers by status over the last weeks.

Everything is counted in the database over a window of recent days, each query a range
on an index: deliveries by `(status, updated_at)`, readers by the day they signed up,
confirmed or left, complaints by `(type, occurred_at)`. A million readers cost one
grouped pass for today's totals by status; the days before are worked back from those
totals and the window's daily changes, never by reading every reader for every day.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, and_, cast, func, select
from sqlalchemy.orm import Session

from core.db import is_postgresql
from core.models import Delivery, DeliveryStatus, Event, Subscriber, SubscriberStatus, Switch
from tasks.switches import sending_stopped

WINDOW_DAYS = 30
# A delivery's outcome as the chart shows it, in the order its bars stack.
OUTCOMES: dict[DeliveryStatus, str] = {
    DeliveryStatus.DELIVERED: "delivered",
    DeliveryStatus.SENT: "sent",
    DeliveryStatus.UNKNOWN: "in doubt",
    DeliveryStatus.BOUNCED: "bounced",
    DeliveryStatus.FAILED: "failed",
    DeliveryStatus.SKIPPED: "skipped",
    DeliveryStatus.QUEUED: "waiting",
    DeliveryStatus.SENDING: "waiting",
    DeliveryStatus.IN_FLIGHT: "waiting",
}
# Handed to the provider: what the rates are a share of.
WENT_OUT = (
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
    DeliveryStatus.BOUNCED,
    DeliveryStatus.UNKNOWN,
)
LEFT = (SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED)
COMPLAINT_EVENT = "spamreport"


@dataclass(frozen=True)
class Threshold:
    """A rate worth a warning at `warn` and an alarm at `alarm` (fractions, not percent)."""

    warn: float
    alarm: float
    source: str

    def level(self, rate: float | None) -> str:
        if rate is None:
            return "muted"
        return "alarm" if rate >= self.alarm else "warn" if rate >= self.warn else "ok"


# Gmail's bulk sender guidelines: keep complaints under 0.1%, never reach 0.3%.
COMPLAINTS = Threshold(0.001, 0.003, "Gmail: aim under 0.1%, never reach 0.3%")
# Providers' common advice for bounces (SendGrid and others): look into it past 2%.
BOUNCES = Threshold(0.02, 0.05, "common advice: look into it past 2%")


@dataclass(frozen=True)
class Rate:
    label: str
    count: int
    rate: float | None  # None when nothing went out
    threshold: Threshold | None = None

    @property
    def level(self) -> str:
        return self.threshold.level(self.rate) if self.threshold else "muted"


@dataclass(frozen=True)
class ReaderSeries:
    """Readers by status at the end of each day (today: now), as today's rows tell it:
    readers purged or erased since are not counted on the days they were there."""

    days: list[date]
    by_status: dict[str, list[int]]
    now: dict[SubscriberStatus, int]
    joined: int  # signed up within the window
    confirmed: int
    left: int
    left_in_window: dict[SubscriberStatus, int]  # by their status now


@dataclass(frozen=True)
class Overview:
    since: datetime
    days: list[date]
    sends: dict[date, dict[str, int]]  # day -> outcome -> deliveries
    outcomes: dict[str, int]  # over the whole window
    went_out: int
    rates: list[Rate]
    readers: ReaderSeries
    switch: Switch | None
    delivered_known: bool = field(default=False)  # any delivery confirmed by events


def overview(session: Session, now: datetime, days: int = WINDOW_DAYS) -> Overview:
    since, window = window_days(now, days)
    sends = sends_by_day(session, since)
    outcomes: dict[str, int] = defaultdict(int)
    for counts in sends.values():
        for outcome, number in counts.items():
            outcomes[outcome] += number
    went_out = sum(outcomes.get(OUTCOMES[status], 0) for status in WENT_OUT)
    readers = readers_over_time(session, window, now)
    rates = _rates(session, since, outcomes, went_out, readers)
    return Overview(
        since=since,
        days=window,
        sends=sends,
        outcomes=dict(outcomes),
        went_out=went_out,
        rates=rates,
        readers=readers,
        switch=sending_stopped(session),
        delivered_known=outcomes.get("delivered", 0) > 0,
    )


def window_days(now: datetime, days: int) -> tuple[datetime, list[date]]:
    """The window's first instant (midnight UTC) and its days, oldest first, today last."""
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=UTC)
    return since, [first + timedelta(days=n) for n in range(days)]


def day_of(session: Session, column: Any) -> Any:
    """The UTC day of a timestamp column, on either engine (times are stored as UTC)."""
    if is_postgresql(session):
        return cast(func.date_trunc("day", column), Date)
    return func.date(column)


def hour_of(session: Session, column: Any) -> Any:
    """A timestamp column cut down to its hour (UTC)."""
    if is_postgresql(session):
        return func.date_trunc("hour", column)
    return func.strftime("%Y-%m-%d %H:00:00", column)


def as_date(value: date | str) -> date:
    """A day as either engine hands it back (SQLite: "YYYY-MM-DD")."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def as_hour(value: datetime | str) -> datetime:
    """An hour as either engine hands it back, as an aware UTC datetime."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC)


def sends_by_day(session: Session, since: datetime) -> dict[date, dict[str, int]]:
    """Deliveries by the day they last changed and their outcome. Naming every status
    lets PostgreSQL walk the (status, updated_at) index once per status."""
    day = day_of(session, Delivery.updated_at).label("day")
    query = (
        select(Delivery.status, day, func.count())
        .where(Delivery.status.in_(list(DeliveryStatus)), Delivery.updated_at >= since)
        .group_by(Delivery.status, day)
    )
    sends: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for status, when, number in session.execute(query):
        sends[as_date(when)][OUTCOMES[status]] += number
    return {when: dict(counts) for when, counts in sends.items()}


def recent_outcomes(session: Session, since: datetime) -> dict[DeliveryStatus, int]:
    """Deliveries by status among those that changed since `since` (for /metrics)."""
    query = (
        select(Delivery.status, func.count())
        .where(Delivery.status.in_(list(DeliveryStatus)), Delivery.updated_at >= since)
        .group_by(Delivery.status)
    )
    found = dict(session.execute(query).all())
    return {status: found.get(status, 0) for status in DeliveryStatus}


def complaints_since(session: Session, since: datetime) -> int:
    query = select(func.count()).where(Event.type == COMPLAINT_EVENT, Event.occurred_at >= since)
    return session.scalars(query).one()


def _rates(
    session: Session,
    since: datetime,
    outcomes: dict[str, int],
    went_out: int,
    readers: ReaderSeries,
) -> list[Rate]:
    def share(count: int) -> float | None:
        return count / went_out if went_out else None

    delivered = outcomes.get("delivered", 0)
    bounced = outcomes.get("bounced", 0)
    complained = complaints_since(session, since)
    unsubscribed = readers.left_in_window.get(SubscriberStatus.UNSUBSCRIBED, 0)
    return [
        Rate("Delivered", delivered, share(delivered)),
        Rate("Bounced", bounced, share(bounced), BOUNCES),
        Rate("Complaints", complained, share(complained), COMPLAINTS),
        Rate("Unsubscribed", unsubscribed, share(unsubscribed)),
    ]


# -- readers by status over time -------------------------------------------------------


@dataclass(frozen=True)
class _Totals:
    """Today's readers, split the way the days before are worked back from."""

    by_status: dict[SubscriberStatus, int]
    all: int
    confirmed: int
    left_confirmed: dict[SubscriberStatus, int]  # left after confirming, by status now
    left_unconfirmed: dict[SubscriberStatus, int]


def _totals(session: Session) -> _Totals:
    """One grouped pass over the readers: a handful of groups, whatever their number."""
    # An active reader with no confirmation time (imported, say) counts as confirmed: on
    # the day they were added (see _confirmed_per_day).
    unconfirmed = and_(
        Subscriber.confirmed_at.is_(None), Subscriber.status != SubscriberStatus.ACTIVE
    ).label("unconfirmed")
    stayed = Subscriber.unsubscribed_at.is_(None).label("stayed")
    query = select(Subscriber.status, unconfirmed, stayed, func.count()).group_by(
        Subscriber.status, unconfirmed, stayed
    )
    by_status: dict[SubscriberStatus, int] = defaultdict(int)
    left_confirmed: dict[SubscriberStatus, int] = defaultdict(int)
    left_unconfirmed: dict[SubscriberStatus, int] = defaultdict(int)
    everyone = confirmed = 0
    for status, is_unconfirmed, has_stayed, number in session.execute(query):
        by_status[status] += number
        everyone += number
        confirmed += 0 if is_unconfirmed else number
        if not has_stayed:
            (left_unconfirmed if is_unconfirmed else left_confirmed)[status] += number
    return _Totals(dict(by_status), everyone, confirmed, left_confirmed, left_unconfirmed)


def _per_day(session: Session, column: Any, since: datetime, *where: Any) -> dict[date, int]:
    day = day_of(session, column).label("day")
    query = select(day, func.count()).where(column >= since, *where).group_by(day)
    return {as_date(when): number for when, number in session.execute(query)}


def _confirmed_per_day(session: Session, since: datetime) -> dict[date, int]:
    """Confirmations by day; an active reader with no confirmation time (imported, say)
    counts as confirmed the day they were added."""
    confirmed = _per_day(session, Subscriber.confirmed_at, since)
    added_active = _per_day(
        session,
        Subscriber.created_at,
        since,
        Subscriber.confirmed_at.is_(None),
        Subscriber.status == SubscriberStatus.ACTIVE,
    )
    for day, number in added_active.items():
        confirmed[day] = confirmed.get(day, 0) + number
    return confirmed


def _left_per_day(
    session: Session, since: datetime
) -> list[tuple[date, SubscriberStatus, bool, int]]:
    """Readers who left within the window: (day, status now, had confirmed, how many)."""
    day = day_of(session, Subscriber.unsubscribed_at).label("day")
    confirmed = Subscriber.confirmed_at.is_not(None).label("confirmed")
    query = (
        select(day, Subscriber.status, confirmed, func.count())
        .where(Subscriber.unsubscribed_at >= since)
        .group_by(day, Subscriber.status, confirmed)
    )
    return [
        (as_date(when), status, bool(had), n) for when, status, had, n in session.execute(query)
    ]


def readers_over_time(session: Session, days: list[date], now: datetime) -> ReaderSeries:
    """Pending, active and left readers at the end of each day of `days` (oldest first).

    A reader signed up (created_at), confirmed (confirmed_at) and perhaps left
    (unsubscribed_at, their status saying how). Counting today's rows by those moments:
    signed up by day d minus confirmed by d is pending, confirmed minus left is active.
    """
    since = datetime(days[0].year, days[0].month, days[0].day, tzinfo=UTC)
    totals = _totals(session)
    created = _per_day(session, Subscriber.created_at, since)
    confirmed = _confirmed_per_day(session, since)
    left = _left_per_day(session, since)
    series: dict[str, list[int]] = {"pending": [], "active": [], "left": []}
    for day in days:
        joined_after = sum(n for when, n in created.items() if when > day)
        confirmed_after = sum(n for when, n in confirmed.items() if when > day)
        left_conf_after = sum(n for when, _, had, n in left if when > day and had)
        left_unconf_after = sum(n for when, _, had, n in left if when > day and not had)
        was_confirmed = totals.confirmed - confirmed_after
        left_conf = sum(totals.left_confirmed.values()) - left_conf_after
        left_unconf = sum(totals.left_unconfirmed.values()) - left_unconf_after
        series["pending"].append(totals.all - joined_after - was_confirmed - left_unconf)
        series["active"].append(was_confirmed - left_conf)
        series["left"].append(left_conf + left_unconf)
    left_in_window: dict[SubscriberStatus, int] = defaultdict(int)
    for _, status, _, number in left:
        left_in_window[status] += number
    return ReaderSeries(
        days=days,
        by_status=series,
        now={status: totals.by_status.get(status, 0) for status in SubscriberStatus},
        joined=sum(created.values()),
        confirmed=sum(confirmed.values()),
        left=sum(left_in_window.values()),
        left_in_window=dict(left_in_window),
    )

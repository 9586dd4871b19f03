"""Newsletter issues: on its date, an issue goes to every member of its list at their own
local send time (the world's mornings span about 26 hours), or at one instant if the
issue says so.

Readers whose send time is the same instant form a wave. Each wave writes its delivery
rows in batches from a checkpoint (`id > last_subscriber_id`), one transaction a batch,
so a crash resumes where it stopped, and the unique (broadcast, reader) row means a
resumed batch never sends twice.

An operator may cancel an issue part way: its waves stop writing, and its queued
deliveries are skipped (the sender re-checks the issue, so one queued a moment before is
skipped too). Resuming puts back only those skipped for the cancellation and lets the
waves go on from their checkpoints: what went out stays out, and nobody gets it twice.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.db import is_postgresql, session_scope
from core.models import (
    Broadcast,
    BroadcastStatus,
    BroadcastWave,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Membership,
    Subscriber,
    SubscriberStatus,
)
from courses.cadence import local_instant
from courses.model import Catalog, Issue, Newsletter
from tasks.zones import zone_of

WAVE_BATCH = 1000
# The first and last places on Earth to reach a morning.
EARLIEST, LATEST = ZoneInfo("Pacific/Kiritimati"), ZoneInfo("Etc/GMT+12")
# An issue first seen this long after its last wave (Tend was down, or it was added late)
# is not sent: it stays readable on the web.
TOO_LATE = timedelta(days=2)
# The reason a delivery skipped by a cancellation carries: resuming puts back only these.
CANCELLED = "issue cancelled"
RESUME_CHUNK = 1000


def issue_key(newsletter: Newsletter, issue: Issue) -> str:
    return f"{newsletter.slug}/{issue.slug}"


def due_for(newsletter: Newsletter, issue: Issue, zone: ZoneInfo) -> datetime:
    """When a reader in `zone` gets the issue."""
    return issue.send_at_utc or local_instant(issue.date, newsletter.send_at, zone)


def open_issues(catalog: Catalog, now: datetime) -> list[tuple[Newsletter, Issue]]:
    """The issues whose waves have begun and are not too late to send."""
    found = []
    for newsletter in catalog.newsletters.values():
        for issue in newsletter.issues:
            first = due_for(newsletter, issue, EARLIEST)
            last = due_for(newsletter, issue, LATEST)
            if first <= now <= last + TOO_LATE:
                found.append((newsletter, issue))
    return found


def plan(catalog: Catalog, now: datetime) -> None:
    """Make sure each open issue has its broadcast and a wave for every member's zone."""
    for newsletter, issue in open_issues(catalog, now):
        with session_scope() as session:
            broadcast = _broadcast(session, newsletter, issue, now)
            _waves(session, broadcast, newsletter, issue)


def run_waves(now: datetime, batches: dict[tuple[str, str], list[int]]) -> int:
    """Write the deliveries of every wave that has come; return how many."""
    with session_scope() as session:
        waves = session.execute(
            select(BroadcastWave.id, Broadcast.list, Broadcast.issue)
            .join(Broadcast)
            .where(
                BroadcastWave.due_at <= now,
                BroadcastWave.finished_at.is_(None),
                Broadcast.status != BroadcastStatus.CANCELLED,
            )
            .order_by(BroadcastWave.due_at)
        ).all()
    written = 0
    for wave_id, list_name, key in waves:
        while (ids := _next_batch(wave_id, list_name, now)) is not None:
            batches[("issue", key)].extend(ids)
            written += len(ids)
    return written


def _broadcast(session: Session, newsletter: Newsletter, issue: Issue, now: datetime) -> Broadcast:
    key = issue_key(newsletter, issue)
    values = {
        "list": newsletter.list,
        "issue": key,
        "subject": issue.subject,
        "status": BroadcastStatus.SENDING,
        "send_at": due_for(newsletter, issue, EARLIEST),
        "last_subscriber_id": 0,
        "created_at": now,
    }
    session.execute(_insert_once(session, Broadcast, ["list", "issue"]).values(**values))
    query = select(Broadcast).where(Broadcast.list == newsletter.list, Broadcast.issue == key)
    return session.scalars(query).one()


def _waves(session: Session, broadcast: Broadcast, newsletter: Newsletter, issue: Issue) -> None:
    zones = session.scalars(
        select(Subscriber.timezone)
        .join(Membership, Membership.subscriber_id == Subscriber.id)
        .where(Membership.list == newsletter.list, Membership.left_at.is_(None))
        .distinct()
    ).all()
    by_instant: dict[datetime, set[str]] = defaultdict(set)
    for name in zones:
        by_instant[due_for(newsletter, issue, zone_of(name))].add(name)
    existing = {
        wave.due_at: wave
        for wave in session.scalars(
            select(BroadcastWave).where(BroadcastWave.broadcast_id == broadcast.id)
        )
    }
    for due_at, names in by_instant.items():
        wave = existing.get(due_at)
        if wave is None:
            session.add(
                BroadcastWave(broadcast_id=broadcast.id, due_at=due_at, zones=sorted(names))
            )
        elif not names <= set(wave.zones):
            wave.zones = sorted(names | set(wave.zones))  # a reader in a new zone joined


def _next_batch(wave_id: int, list_name: str, now: datetime) -> list[int] | None:
    """Write one batch of a wave and move its checkpoint; None once the wave is done."""
    with session_scope() as session:
        wave = session.get(BroadcastWave, wave_id, with_for_update=is_postgresql(session))
        if wave is None or wave.finished_at is not None or _cancelled(session, wave):
            return None
        readers = session.scalars(
            select(Subscriber.id)
            .join(Membership, Membership.subscriber_id == Subscriber.id)
            .where(
                Membership.list == list_name,
                Membership.left_at.is_(None),
                Membership.joined_at <= wave.due_at,
                Subscriber.status == SubscriberStatus.ACTIVE,
                Subscriber.timezone.in_(wave.zones),
                Subscriber.id > wave.last_subscriber_id,
            )
            .order_by(Subscriber.id)
            .limit(WAVE_BATCH)
        ).all()
        ids = _write(session, wave.broadcast_id, readers, now)
        if readers:
            wave.last_subscriber_id = readers[-1]
        if len(readers) < WAVE_BATCH:
            wave.finished_at = now
        return ids


def _write(session: Session, broadcast_id: int, readers: list[int], now: datetime) -> list[int]:
    if not readers:
        return []
    rows: list[dict[str, Any]] = [
        {
            "kind": DeliveryKind.ISSUE,
            "status": DeliveryStatus.QUEUED,
            "subscriber_id": reader,
            "broadcast_id": broadcast_id,
            "round": 1,
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
        }
        for reader in readers
    ]
    insert = _insert_once(session, Delivery, ["broadcast_id", "subscriber_id"])
    written = session.connection().execute(insert.returning(Delivery.id), rows)
    return [row.id for row in written]


def _insert_once(session: Session, model: type, columns: list[str]) -> Any:
    dialect_insert = postgresql.insert if is_postgresql(session) else sqlite.insert
    return dialect_insert(model).on_conflict_do_nothing(index_elements=columns)


def _cancelled(session: Session, wave: BroadcastWave) -> bool:
    # Read after the wave's lock: a cancellation holds that lock while it commits, so a
    # batch that waited for it sees the cancellation here and writes nothing.
    status = session.scalar(select(Broadcast.status).where(Broadcast.id == wave.broadcast_id))
    return status is BroadcastStatus.CANCELLED


class IssueStateError(Exception):
    """The issue is not in a state the change applies to (say why)."""


def cancel_issue(broadcast_id: int, now: datetime) -> int:
    """Stop an issue: no more deliveries are written, the queued ones are skipped.
    Those already handed to the provider stay sent. Returns how many were skipped."""
    with session_scope() as session:
        broadcast = _locked(session, broadcast_id)
        if broadcast.status is BroadcastStatus.CANCELLED:
            raise IssueStateError("the issue is cancelled already")
        broadcast.status = BroadcastStatus.CANCELLED
        # Wait for a batch being written now, so its rows are skipped below with the rest.
        session.scalars(
            select(BroadcastWave.id)
            .where(BroadcastWave.broadcast_id == broadcast_id)
            .with_for_update()
        ).all()
        skipped = session.execute(
            update(Delivery)
            .where(
                Delivery.broadcast_id == broadcast_id,
                Delivery.status == DeliveryStatus.QUEUED,
            )
            .values(status=DeliveryStatus.SKIPPED, last_error=CANCELLED, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return skipped.rowcount


def resume_issue(broadcast_id: int, now: datetime) -> list[int]:
    """Go on with a cancelled issue from where it stopped: the deliveries skipped for the
    cancellation are queued again (returned, to be sent) and the waves continue from their
    checkpoints at the next tick. Nothing sent, failed or skipped for another reason moves."""
    with session_scope() as session:
        broadcast = _locked(session, broadcast_id)
        if broadcast.status is not BroadcastStatus.CANCELLED:
            raise IssueStateError(f"the issue is {broadcast.status}, not cancelled")
        broadcast.status = BroadcastStatus.SENDING
    queued: list[int] = []
    while chunk := _requeue_cancelled(broadcast_id, now):
        queued.extend(chunk)
    return queued


def _locked(session: Session, broadcast_id: int) -> Broadcast:
    broadcast = session.get(Broadcast, broadcast_id, with_for_update=True)
    if broadcast is None:
        raise LookupError(f"there is no issue {broadcast_id}")
    return broadcast


def _requeue_cancelled(broadcast_id: int, now: datetime) -> list[int]:
    """Queue one chunk of the deliveries the cancellation skipped; their own transaction,
    so a large issue is not one long lock."""
    with session_scope() as session:
        chunk = (
            select(Delivery.id)
            .where(
                Delivery.broadcast_id == broadcast_id,
                Delivery.status == DeliveryStatus.SKIPPED,
                Delivery.last_error == CANCELLED,
            )
            .limit(RESUME_CHUNK)
            .scalar_subquery()
        )
        rows = session.execute(
            update(Delivery)
            .where(
                Delivery.id.in_(chunk),
                Delivery.status == DeliveryStatus.SKIPPED,
                _still_going(broadcast_id),  # cancelled again meanwhile: leave them
            )
            .values(status=DeliveryStatus.QUEUED, last_error=None, updated_at=now)
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        )
        return sorted(row.id for row in rows)


def _still_going(broadcast_id: int) -> Any:
    return (
        select(Broadcast.id)
        .where(Broadcast.id == broadcast_id, Broadcast.status != BroadcastStatus.CANCELLED)
        .exists()
    )

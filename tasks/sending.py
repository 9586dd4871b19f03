"""Send deliveries: claim, re-check, render once, send a batch, record.

A delivery moves queued -> sending (claimed, with a lease) -> in_flight (its request is
under way) -> sent, failed or back to queued. Each step is a conditional UPDATE, so a
duplicated queue message finds nothing to claim, and a worker that dies leaves a trail
that says what it did: a `sending` delivery whose lease ran out was never handed to the
provider and is claimed again; an `in_flight` one may have been, and becomes `unknown`
until the provider's events say (tasks/events.py).

The reader is re-checked after the claim: an unsubscribe that landed a moment ago still
stops the mail. Everything is read and written a batch at a time, never a row at a time.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from core.config import Settings
from core.db import among, session_scope
from core.links import link
from core.models import (
    Broadcast,
    BroadcastStatus,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Enrollment,
    EnrollmentState,
    Membership,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from core.tokens import Purpose, Signer
from courses.model import Catalog, Course, Letter, Publication
from emails.batch import Batch, Recipient
from emails.headers import list_id, unsubscribe_headers
from emails.render import (
    PREFERENCES_URL,
    UNSUBSCRIBE_URL,
    LetterError,
    Rendered,
    render,
    render_already_here,
    render_confirmation,
)
from emails.transports import Outcome, Transport, TransportError
from tasks import broadcasts, shutdown
from tasks.rate_limit import SendRate
from tasks.readers import CONFIRMABLE
from tasks.switches import sending_stopped

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)
MAX_ATTEMPTS = 8
# Letters to one reader about their signup, written for them alone.
NOTICES = {DeliveryKind.CONFIRMATION, DeliveryKind.ALREADY_HERE}


@dataclass
class SendReport:
    sent: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    retry: list[int] = field(default_factory=list)  # transient errors: send these again later
    held: list[int] = field(default_factory=list)  # sending is stopped: left queued
    unknown: list[int] = field(default_factory=list)  # no answer came: the provider's events say
    released: list[int] = field(default_factory=list)  # the worker is stopping: queue these now
    retry_after: float | None = None

    def wait_at_least(self, seconds: float | None) -> None:
        if seconds:
            self.retry_after = max(self.retry_after or 0.0, seconds)


@dataclass(frozen=True)
class Row:
    """What sending one delivery needs to know, read for a whole batch in one query."""

    id: int
    kind: DeliveryKind
    subscriber_id: int
    broadcast_id: int | None
    lesson: str | None
    uid: str
    email: str
    first_name: str | None
    reader_status: SubscriberStatus
    enrollment_state: EnrollmentState | None
    course: str | None


_ROWS = (
    select(
        Delivery.id,
        Delivery.kind,
        Delivery.subscriber_id,
        Delivery.broadcast_id,
        Delivery.lesson,
        Subscriber.uid,
        Subscriber.email,
        Subscriber.first_name,
        Subscriber.status,
        Enrollment.state,
        Enrollment.course,
    )
    .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
    .outerjoin(Enrollment, Enrollment.id == Delivery.enrollment_id)
    .order_by(Delivery.id)
)


@dataclass(frozen=True)
class Sender:
    settings: Settings
    catalog: Catalog
    transport: Transport
    rate: SendRate | None = None

    @property
    def signer(self) -> Signer:
        return Signer(self.settings.require_secret_key())

    def send(self, delivery_ids: Sequence[int], now: datetime) -> SendReport:
        report = SendReport()
        lease = now + LEASE
        with session_scope() as session:
            if sending_stopped(session) is not None:
                # Left queued; the first tick after sending resumes queues them again.
                report.held = list(delivery_ids)
                return report
            claimed = claim(session, delivery_ids, now, lease)
        if not claimed:
            return report
        with session_scope() as session:
            batches = self._compose(session, claimed, now, report)
        for batch in batches:
            for part in batch.split(self.transport.batch_size):
                if shutdown.requested():
                    self._release(part, now, report)
                else:
                    self._send(part, now, lease, report)
        return report

    def _release(self, batch: Batch, now: datetime, report: SendReport) -> None:
        """Give back claims never handed to the provider, for another worker to take now."""
        ids = [recipient.key for recipient in batch.recipients]
        with session_scope() as session:
            finish(
                session, ids, DeliveryStatus.QUEUED, now, None,
                was=DeliveryStatus.SENDING, attempt_back=True,
            )  # fmt: skip
        report.released.extend(ids)

    def _compose(
        self, session: Session, ids: list[int], now: datetime, report: SendReport
    ) -> list[Batch]:
        rows = [
            Row(*values)
            for values in session.execute(_ROWS.where(among(session, Delivery.id, ids)))
        ]
        facts = _Facts.read(session, rows)
        groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
        notices: list[Row] = []
        skipped: dict[str, list[int]] = defaultdict(list)
        for row in rows:
            reason = self._why_not(facts, row)
            if reason:
                skipped[reason].append(row.id)
            elif row.kind in NOTICES:
                notices.append(row)
            else:
                groups[self._letter_key(facts, row)].append(row)
        batches = [self._notice(row) for row in notices]
        failed: dict[str, list[int]] = defaultdict(list)
        for (publication_slug, letter_slug), members in groups.items():
            try:
                publication, letter = self._find(publication_slug, letter_slug)
                batches.append(self._batch(publication, letter, members))
            except (LookupError, LetterError) as error:
                failed[str(error)].extend(row.id for row in members)
        for reason, skipped_ids in skipped.items():
            finish(session, skipped_ids, DeliveryStatus.SKIPPED, now, reason)
            report.skipped.extend(skipped_ids)
        for reason, failed_ids in failed.items():
            finish(session, failed_ids, DeliveryStatus.FAILED, now, reason)
            report.failed.extend(failed_ids)
        return batches

    def _why_not(self, facts: _Facts, row: Row) -> str | None:
        """Why this delivery must not go out now, or None if it may."""
        if row.email.lower() in facts.suppressed:
            return "suppressed"
        if row.kind is DeliveryKind.CONFIRMATION:
            return None if row.reader_status in CONFIRMABLE else f"reader is {row.reader_status}"
        if row.reader_status is not SubscriberStatus.ACTIVE:
            return f"reader is {row.reader_status}"
        if row.kind is DeliveryKind.ISSUE:
            broadcast = facts.broadcasts.get(row.broadcast_id or 0)
            if broadcast is None:
                return "broadcast is gone"
            if broadcast.status is BroadcastStatus.CANCELLED:
                return broadcasts.CANCELLED  # resuming the issue queues it again
            if (row.subscriber_id, broadcast.list) not in facts.members:
                return f"reader left the list {broadcast.list}"
            return None
        if row.enrollment_state is EnrollmentState.CANCELLED:
            return "enrollment cancelled"
        if row.course is not None and self.catalog.get(row.course) is None:
            return f"course {row.course} is gone"
        return None

    def _letter_key(self, facts: _Facts, row: Row) -> tuple[str, str]:
        """(publication, letter) slugs of what a lesson or issue delivery sends."""
        if row.kind is DeliveryKind.ISSUE:
            publication, _, issue = facts.broadcasts[row.broadcast_id or 0].issue.partition("/")
            return publication, issue
        return row.course or "", row.lesson or ""

    def _find(self, publication_slug: str, letter_slug: str) -> tuple[Publication, Letter]:
        """The lesson or issue to send; LookupError if it is no longer there."""
        course = self.catalog.get(publication_slug)
        if course is None:  # a newsletter's issue
            return self.catalog.letter(f"{publication_slug}/{letter_slug}")
        lesson = course.lesson(letter_slug)
        if lesson is None:
            raise LookupError(f"lesson {letter_slug} is no longer in {course.slug}")
        return course, lesson

    def _batch(self, publication: Publication, letter: Letter, rows: list[Row]) -> Batch:
        base_url = self.settings.base_url
        rendered = render(publication, letter, base_url)  # cached: once per letter
        signer = self.signer
        recipients = []
        for row in rows:
            unsubscribe = link(base_url, signer, Purpose.UNSUBSCRIBE, row.uid)
            values = {
                UNSUBSCRIBE_URL: unsubscribe,
                PREFERENCES_URL: link(base_url, signer, Purpose.PREFERENCES, row.uid),
                "first_name": row.first_name,
            }
            recipients.append(
                Recipient(
                    key=row.id,
                    to=row.email,
                    to_name=row.first_name,
                    values=values,
                    headers=unsubscribe_headers(unsubscribe),
                    tags=_tags(row),
                )
            )
        return self._envelope(publication, rendered, recipients, letter.slug)

    def _notice(self, row: Row) -> Batch:
        """A letter to one reader about their signup: the confirmation, or "already here"."""
        course, base_url = self._signup_course(), self.settings.base_url
        if row.kind is DeliveryKind.CONFIRMATION:
            url = link(base_url, self.signer, Purpose.CONFIRM, row.uid)
            letter = render_confirmation(course, base_url, url)
        else:
            url = link(base_url, self.signer, Purpose.PREFERENCES, row.uid)
            letter = render_already_here(course, base_url, url)
        recipient = Recipient(key=row.id, to=row.email, to_name=row.first_name, tags=_tags(row))
        return self._envelope(course, letter, [recipient], str(row.kind))

    def _envelope(
        self, publication: Publication, letter: Rendered, recipients: list[Recipient], name: str
    ) -> Batch:
        return Batch(
            from_email=publication.from_email,
            from_name=publication.from_name,
            reply_to=publication.reply_to,
            letter=letter,
            recipients=recipients,
            headers=list_id(publication.title, publication.slug, self.settings.host),
            categories=(publication.slug, f"{publication.slug}/{name}"),
        )

    def _signup_course(self) -> Course:
        offered = self.catalog.offered_on_signup()
        return offered[0] if offered else next(iter(self.catalog.courses.values()))

    def _send(self, batch: Batch, now: datetime, lease: datetime, report: SendReport) -> None:
        """Wait for the batch's turn, mark it in flight, send it, record what came of it."""
        ids = [recipient.key for recipient in batch.recipients]
        if self.rate is not None:
            turn = self.rate.reserve(len(ids))
            if not turn.granted:
                with session_scope() as session:
                    finish(
                        session,
                        ids,
                        DeliveryStatus.QUEUED,
                        now,
                        None,
                        was=DeliveryStatus.SENDING,
                        attempt_back=True,
                    )
                report.retry.extend(ids)
                report.wait_at_least(turn.wait)
                return
            if shutdown.pause(turn.wait):
                self._release(batch, now, report)
                return
        with session_scope() as session:
            flying = take_off(session, ids, lease, batch.letter.content_hash, now)
        if len(flying) < len(ids):  # our lease ran out and another worker took some over
            kept = [recipient for recipient in batch.recipients if recipient.key in flying]
            batch = dataclasses.replace(batch, recipients=kept)
        outcomes = transmit(self.transport, batch)
        with session_scope() as session:
            record(session, outcomes, now, report)


def _tags(row: Row) -> dict[str, str]:
    # Namespaced, and never an address: SendGrid keeps custom args as non-personal data.
    return {"tend_delivery": str(row.id), "tend_kind": str(row.kind)}


@dataclass(frozen=True)
class _Facts:
    """What re-checking a batch needs, read in a few queries rather than a few per delivery."""

    suppressed: set[str]  # addresses, lower-cased
    broadcasts: dict[int, Broadcast]
    members: set[tuple[int, str]]  # (reader, list) for each list a reader is on

    @classmethod
    def read(cls, session: Session, rows: list[Row]) -> _Facts:
        emails = {row.email.lower() for row in rows}
        suppressed = set(
            session.scalars(
                select(func.lower(Suppression.email)).where(
                    among(session, func.lower(Suppression.email), emails)
                )
            )
        )
        issue_ids = {row.broadcast_id for row in rows if row.broadcast_id is not None}
        broadcasts = {
            broadcast.id: broadcast
            for broadcast in session.scalars(select(Broadcast).where(Broadcast.id.in_(issue_ids)))
        }
        readers = {row.subscriber_id for row in rows if row.broadcast_id is not None}
        members = set()
        if readers:
            query = select(Membership.subscriber_id, Membership.list).where(
                among(session, Membership.subscriber_id, readers), Membership.left_at.is_(None)
            )
            members = {(reader, name) for reader, name in session.execute(query)}
        return cls(suppressed, broadcasts, members)


def claim(session: Session, ids: Sequence[int], now: datetime, lease: datetime) -> list[int]:
    """Take the deliveries no one else holds; return the ids this worker now owns."""
    claimable = or_(
        Delivery.status == DeliveryStatus.QUEUED,
        and_(Delivery.status == DeliveryStatus.SENDING, Delivery.lease_until < now),
    )
    rows = session.execute(
        update(Delivery)
        .where(among(session, Delivery.id, ids), claimable)
        .values(
            status=DeliveryStatus.SENDING,
            lease_until=lease,
            attempts=Delivery.attempts + 1,
            updated_at=now,
        )
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(row.id for row in rows)


def take_off(
    session: Session, ids: Sequence[int], lease: datetime, content_hash: str, now: datetime
) -> set[int]:
    """Mark claimed deliveries in flight, just before their request: from here on a crash
    leaves them in doubt rather than free to send again. Only our own claims move."""
    rows = session.execute(
        update(Delivery)
        .where(
            among(session, Delivery.id, ids),
            Delivery.status == DeliveryStatus.SENDING,
            Delivery.lease_until == lease,
        )
        .values(status=DeliveryStatus.IN_FLIGHT, content_hash=content_hash, updated_at=now)
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    )
    return {row.id for row in rows}


def transmit(transport: Transport, batch: Batch) -> list[Outcome]:
    if not batch.recipients:
        return []
    try:
        return transport.send(batch)
    except TransportError as error:
        return [Outcome(recipient.key, error=error) for recipient in batch.recipients]


def record(session: Session, outcomes: list[Outcome], now: datetime, report: SendReport) -> None:
    """Write what came of a batch: a few statements, whatever its size."""
    accepted = [outcome for outcome in outcomes if outcome.error is None]
    _record_sent(session, accepted, now)
    report.sent.extend(outcome.key for outcome in accepted)
    failures = [outcome for outcome in outcomes if outcome.error is not None]
    if not failures:
        return
    query = select(Delivery.id, Delivery.attempts).where(
        among(session, Delivery.id, [outcome.key for outcome in failures])
    )
    attempts = dict(session.execute(query).all())
    # A whole batch usually fails the same way: one statement per (status, error).
    moves: dict[tuple[DeliveryStatus, str], list[int]] = defaultdict(list)
    for outcome in failures:
        error = outcome.error
        assert error is not None
        if error.ambiguous:
            status, bucket = DeliveryStatus.UNKNOWN, report.unknown
        elif error.permanent or attempts.get(outcome.key, 0) >= MAX_ATTEMPTS:
            status, bucket = DeliveryStatus.FAILED, report.failed
        else:
            status, bucket = DeliveryStatus.QUEUED, report.retry
            report.wait_at_least(error.retry_after)
        moves[(status, str(error))].append(outcome.key)
        bucket.append(outcome.key)
    for (status, message), ids in moves.items():
        finish(session, ids, status, now, message, was=DeliveryStatus.IN_FLIGHT)
        if status is not DeliveryStatus.QUEUED:
            log.warning(
                "%d deliveries %s: %s",
                len(ids),
                status,
                message,
                extra={"count": len(ids), "status": str(status), "delivery_ids": ids},
            )


# A provider's yes settles a delivery in flight, and one the tick put in doubt while the
# request was still under way (its lease looked past: a slow answer, a clock jumping ahead):
# left unknown, it would be sent again when no event comes.
# (Two comparisons rather than IN: the one-row statement below runs as an executemany.)
ANSWERED = or_(
    Delivery.status == DeliveryStatus.IN_FLIGHT, Delivery.status == DeliveryStatus.UNKNOWN
)

_SENT_ONE = (
    update(Delivery)
    .where(Delivery.id == bindparam("key"), ANSWERED)
    .values(
        status=DeliveryStatus.SENT,
        provider_message_id=bindparam("provider_id"),
        message_id=bindparam("message_id"),
        sent_at=bindparam("now"),
        lease_until=None,
        last_error=None,
        updated_at=bindparam("now"),
    )
)


def _record_sent(session: Session, accepted: list[Outcome], now: datetime) -> None:
    # Only deliveries still in flight or in doubt move: an event may have settled one.
    if not accepted:
        return
    shared = {outcome.provider_id for outcome in accepted}
    if len(shared) == 1 and all(outcome.message_id is None for outcome in accepted):
        # SendGrid: one id for the whole request, one statement for the whole batch.
        session.execute(
            update(Delivery)
            .where(among(session, Delivery.id, [outcome.key for outcome in accepted]), ANSWERED)
            .values(
                status=DeliveryStatus.SENT,
                provider_message_id=shared.pop(),
                sent_at=now,
                lease_until=None,
                last_error=None,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        return
    session.connection().execute(
        _SENT_ONE,
        [
            {
                "key": outcome.key,
                "provider_id": outcome.provider_id,
                "message_id": outcome.message_id,
                "now": now,
            }
            for outcome in accepted
        ],
    )


def finish(
    session: Session,
    ids: Iterable[int],
    status: DeliveryStatus,
    now: datetime,
    error: str | None,
    *,
    was: DeliveryStatus | None = None,
    attempt_back: bool = False,
) -> None:
    """Move deliveries to `status` and let go of their lease (all of them, or only those
    still in status `was`)."""
    values: dict[str, Any] = {
        "status": status,
        "lease_until": None,
        "last_error": error,
        "updated_at": now,
    }
    if attempt_back:  # never tried: a wait for our turn is not an attempt
        values["attempts"] = Delivery.attempts - 1
    query = update(Delivery).where(among(session, Delivery.id, list(ids)))
    if was is not None:
        query = query.where(Delivery.status == was)
    session.execute(query.values(**values).execution_options(synchronize_session=False))

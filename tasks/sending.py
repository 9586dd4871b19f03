"""Send deliveries: claim, re-check, render once, personalise, send, record.

Each delivery is claimed (status `sending` with a lease) before anything is sent, so a
duplicated queue message finds nothing to claim. The reader is re-checked after the
claim: an unsubscribe that landed a moment ago still stops the mail.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, joinedload

from core.config import Settings
from core.db import session_scope
from core.links import link
from core.models import (
    Broadcast,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    EnrollmentState,
    Membership,
    SubscriberStatus,
    Suppression,
)
from core.tokens import Purpose, Signer
from courses.model import Catalog, Course, Letter, Publication
from emails.headers import list_headers
from emails.message import Message, from_publication
from emails.render import (
    PREFERENCES_URL,
    UNSUBSCRIBE_URL,
    LetterError,
    Rendered,
    render,
    render_confirmation,
)
from emails.transports import Outcome, Transport, TransportError
from tasks.readers import CONFIRMABLE
from tasks.switches import sending_stopped

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)
MAX_ATTEMPTS = 8


@dataclass
class SendReport:
    sent: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    retry: list[int] = field(default_factory=list)  # transient errors: send these again later
    held: list[int] = field(default_factory=list)  # sending is stopped: left queued
    retry_after: float | None = None


@dataclass(frozen=True)
class Sender:
    settings: Settings
    catalog: Catalog
    transport: Transport

    @property
    def signer(self) -> Signer:
        return Signer(self.settings.require_secret_key())

    def send(self, delivery_ids: Sequence[int], now: datetime) -> SendReport:
        report = SendReport()
        with session_scope() as session:
            if sending_stopped(session) is not None:
                # Left queued; the first tick after sending resumes queues them again.
                report.held = list(delivery_ids)
                return report
            claimed = claim(session, delivery_ids, now)
        if not claimed:
            return report
        with session_scope() as session:
            messages = self._compose(session, claimed, now, report)
        outcomes = self._transmit(list(messages.values()))
        with session_scope() as session:
            for delivery_id, outcome in zip(messages, outcomes, strict=True):
                record(session, delivery_id, outcome, now, report)
        return report

    def _compose(
        self, session: Session, ids: list[int], now: datetime, report: SendReport
    ) -> dict[int, Message]:
        query = (
            select(Delivery)
            .where(Delivery.id.in_(ids))
            .options(joinedload(Delivery.subscriber), joinedload(Delivery.enrollment))
            .order_by(Delivery.id)
        )
        messages: dict[int, Message] = {}
        deliveries = list(session.scalars(query))
        facts = _Facts.read(session, deliveries)
        for delivery in deliveries:
            reason = self._why_not(facts, delivery)
            if reason:
                _finish(delivery, DeliveryStatus.SKIPPED, now, reason)
                report.skipped.append(delivery.id)
                continue
            try:
                message = self._message(facts, delivery)
            except (LookupError, LetterError) as error:
                _finish(delivery, DeliveryStatus.FAILED, now, str(error))
                report.failed.append(delivery.id)
                continue
            delivery.message_id = message.message_id
            messages[delivery.id] = message
        return messages

    def _why_not(self, facts: _Facts, delivery: Delivery) -> str | None:
        """Why this delivery must not go out now, or None if it may."""
        subscriber = delivery.subscriber
        if subscriber.email.lower() in facts.suppressed:
            return "suppressed"
        if delivery.kind is DeliveryKind.CONFIRMATION:
            return None if subscriber.status in CONFIRMABLE else f"reader is {subscriber.status}"
        if subscriber.status is not SubscriberStatus.ACTIVE:
            return f"reader is {subscriber.status}"
        if delivery.kind is DeliveryKind.ISSUE:
            broadcast = facts.broadcasts.get(delivery.broadcast_id or 0)
            if broadcast is None:
                return "broadcast is gone"
            if (subscriber.id, broadcast.list) not in facts.members:
                return f"reader left the list {broadcast.list}"
            return None
        enrollment = delivery.enrollment
        if enrollment is not None and enrollment.state is EnrollmentState.CANCELLED:
            return "enrollment cancelled"
        if enrollment is not None and self._course(enrollment.course) is None:
            return f"course {enrollment.course} is gone"
        return None

    def _course(self, slug: str) -> Course | None:
        return self.catalog.get(slug)

    def _signup_course(self) -> Course:
        offered = self.catalog.offered_on_signup()
        return offered[0] if offered else next(iter(self.catalog.courses.values()))

    def _message(self, facts: _Facts, delivery: Delivery) -> Message:
        subscriber = delivery.subscriber
        base_url = self.settings.base_url
        if delivery.kind is DeliveryKind.CONFIRMATION:
            course = self._signup_course()
            url = link(base_url, self.signer, Purpose.CONFIRM, subscriber.uid)
            letter = render_confirmation(course, base_url, url)
            return self._envelope(delivery, course, letter, letter.html, letter.text, {})
        publication, letter = self._letter(facts, delivery)
        rendered = render(publication, letter, base_url)  # cached: once per letter
        unsubscribe = link(base_url, self.signer, Purpose.UNSUBSCRIBE, subscriber.uid)
        html, text = rendered.for_reader(
            {
                UNSUBSCRIBE_URL: unsubscribe,
                PREFERENCES_URL: link(base_url, self.signer, Purpose.PREFERENCES, subscriber.uid),
                "first_name": subscriber.first_name,
            }
        )
        headers = list_headers(publication.title, publication.slug, self.settings.host, unsubscribe)
        return self._envelope(delivery, publication, rendered, html, text, headers)

    def _letter(self, facts: _Facts, delivery: Delivery) -> tuple[Publication, Letter]:
        """The lesson or issue a delivery sends; LookupError if it is no longer there."""
        if delivery.kind is DeliveryKind.ISSUE:
            broadcast = facts.broadcasts.get(delivery.broadcast_id or 0)
            if broadcast is None:
                raise LookupError("its broadcast is gone")
            return self.catalog.letter(broadcast.issue)
        assert delivery.enrollment is not None
        assert delivery.lesson is not None
        course = self.catalog[delivery.enrollment.course]
        lesson = course.lesson(delivery.lesson)
        if lesson is None:
            raise LookupError(f"lesson {delivery.lesson} is no longer in {course.slug}")
        return course, lesson

    def _envelope(
        self,
        delivery: Delivery,
        publication: Publication,
        letter: Rendered,
        html: str,
        text: str,
        headers: dict[str, str],
    ) -> Message:
        delivery.content_hash = letter.content_hash
        return from_publication(
            publication,
            to=delivery.subscriber.email,
            to_name=delivery.subscriber.first_name,
            subject=letter.subject,
            html=html,
            text=text,
            headers=headers,
            tags={"tend_delivery": str(delivery.id), "tend_kind": str(delivery.kind)},
        )

    def _transmit(self, messages: list[Message]) -> list[Outcome]:
        if not messages:
            return []
        try:
            return self.transport.send(messages)
        except TransportError as error:
            return [Outcome(message, error=error) for message in messages]


@dataclass(frozen=True)
class _Facts:
    """What re-checking a batch needs, read in a few queries rather than a few per delivery."""

    suppressed: set[str]  # addresses, lower-cased
    broadcasts: dict[int, Broadcast]
    members: set[tuple[int, str]]  # (reader, list) for each list a reader is on

    @classmethod
    def read(cls, session: Session, deliveries: list[Delivery]) -> _Facts:
        emails = {delivery.subscriber.email.lower() for delivery in deliveries}
        suppressed = set(
            session.scalars(
                select(func.lower(Suppression.email)).where(
                    func.lower(Suppression.email).in_(emails)
                )
            )
        )
        issue_ids = {d.broadcast_id for d in deliveries if d.broadcast_id is not None}
        broadcasts = {
            broadcast.id: broadcast
            for broadcast in session.scalars(select(Broadcast).where(Broadcast.id.in_(issue_ids)))
        }
        readers = {d.subscriber_id for d in deliveries if d.broadcast_id is not None}
        members = {
            (reader, name)
            for reader, name in session.execute(
                select(Membership.subscriber_id, Membership.list).where(
                    Membership.subscriber_id.in_(readers), Membership.left_at.is_(None)
                )
            )
        }
        return cls(suppressed, broadcasts, members)


def claim(session: Session, ids: Sequence[int], now: datetime) -> list[int]:
    """Take the deliveries no one else holds; return the ids this worker now owns."""
    claimable = or_(
        Delivery.status == DeliveryStatus.QUEUED,
        and_(Delivery.status == DeliveryStatus.SENDING, Delivery.lease_until < now),
    )
    rows = session.execute(
        update(Delivery)
        .where(Delivery.id.in_(list(ids)), claimable)
        .values(
            status=DeliveryStatus.SENDING,
            lease_until=now + LEASE,
            attempts=Delivery.attempts + 1,
            updated_at=now,
        )
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(row.id for row in rows)


def record(
    session: Session, delivery_id: int, outcome: Outcome, now: datetime, report: SendReport
) -> None:
    delivery = session.get(Delivery, delivery_id)
    assert delivery is not None
    error = outcome.error
    if error is None:
        delivery.provider_message_id = outcome.provider_id
        delivery.sent_at = now
        _finish(delivery, DeliveryStatus.SENT, now, None)
        report.sent.append(delivery_id)
    elif error.permanent or delivery.attempts >= MAX_ATTEMPTS:
        _finish(delivery, DeliveryStatus.FAILED, now, str(error))
        report.failed.append(delivery_id)
        log.warning("delivery failed", extra={"delivery": delivery_id, "error": str(error)})
    else:
        _finish(delivery, DeliveryStatus.QUEUED, now, str(error))
        report.retry.append(delivery_id)
        report.retry_after = max(report.retry_after or 0, error.retry_after or 0) or None


def _finish(delivery: Delivery, status: DeliveryStatus, now: datetime, error: str | None) -> None:
    delivery.status = status
    delivery.lease_until = None
    delivery.last_error = error
    delivery.updated_at = now

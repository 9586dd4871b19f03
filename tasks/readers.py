"""What happens to a reader: signing up, confirming, leaving. Web pages only call these."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.models import (
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
from courses.model import Catalog, Course
from tasks.plan import due_for, restarted_at

log = logging.getLogger(__name__)

# Statuses from which a reader may (re)confirm. Bounced and complained addresses may not.
CONFIRMABLE = {SubscriberStatus.PENDING, SubscriberStatus.UNSUBSCRIBED}


@dataclass(frozen=True)
class Signup:
    email: str  # already normalised
    first_name: str | None
    timezone: str
    ip: str | None
    user_agent: str | None
    source: str
    consent_text_version: str


def find_by_email(session: Session, email: str) -> Subscriber | None:
    query = select(Subscriber).where(func.lower(Subscriber.email) == email.lower())
    return session.scalars(query).one_or_none()


def is_suppressed(session: Session, email: str) -> bool:
    query = select(Suppression.id).where(func.lower(Suppression.email) == email.lower())
    return session.scalars(query).first() is not None


def subscribe(session: Session, signup: Signup, now: datetime) -> int | None:
    """Record a signup; return the id of a confirmation delivery to send, if one is due.

    The caller answers the same whatever happened here, so no one can learn from the
    page whether an address is known.
    """
    if is_suppressed(session, signup.email):
        return None
    subscriber = find_by_email(session, signup.email) or _insert(session, signup)
    if subscriber.status not in CONFIRMABLE:
        return None
    _record_consent(subscriber, signup, now)
    delivery = Delivery(
        kind=DeliveryKind.CONFIRMATION, subscriber_id=subscriber.id, created_at=now, updated_at=now
    )
    session.add(delivery)
    session.flush()
    return delivery.id


def _insert(session: Session, signup: Signup) -> Subscriber:
    subscriber = Subscriber(email=signup.email)
    try:
        with session.begin_nested():
            session.add(subscriber)
    except IntegrityError:
        # The same address signed up in another request a moment ago.
        existing = find_by_email(session, signup.email)
        assert existing is not None
        return existing
    return subscriber


def _record_consent(subscriber: Subscriber, signup: Signup, now: datetime) -> None:
    subscriber.first_name = signup.first_name
    subscriber.timezone = signup.timezone
    subscriber.consent_at = now
    subscriber.consent_ip = signup.ip
    subscriber.consent_user_agent = (signup.user_agent or "")[:400] or None
    subscriber.consent_source = signup.source
    subscriber.consent_text_version = signup.consent_text_version


def confirm(
    session: Session,
    uid: str,
    catalog: Catalog,
    now: datetime,
    *,
    ip: str | None = None,
    user_agent: str | None = None,
) -> Subscriber | None:
    """Activate the reader and enroll them; confirming twice changes nothing."""
    subscriber = session.scalars(select(Subscriber).where(Subscriber.uid == uid)).one_or_none()
    if subscriber is None or is_suppressed(session, subscriber.email):
        return None
    if subscriber.status not in CONFIRMABLE:
        return subscriber if subscriber.is_active else None
    if _left_after_last_signup(subscriber):
        return None  # an old link; coming back takes a new signup and its own link
    subscriber.status = SubscriberStatus.ACTIVE
    subscriber.confirmed_at = now
    subscriber.confirmed_ip = ip
    subscriber.confirmed_user_agent = (user_agent or "")[:400] or None
    subscriber.unsubscribed_at = None
    subscriber.unsubscribe_channel = None
    for course in catalog.offered_on_signup():
        enroll(session, subscriber, course, now)
    for name in catalog.lists_on_signup():
        join(session, subscriber, name, now)
    return subscriber


def join(session: Session, subscriber: Subscriber, name: str, now: datetime) -> Membership:
    """Put the reader on a list (again): issues dated from now on reach them."""
    query = select(Membership).where(
        Membership.subscriber_id == subscriber.id, Membership.list == name
    )
    membership = session.scalars(query).one_or_none()
    if membership is None:
        membership = Membership(subscriber_id=subscriber.id, list=name, joined_at=now)
        session.add(membership)
    elif membership.left_at is not None:
        membership.joined_at, membership.left_at = now, None
    return membership


def _left_after_last_signup(subscriber: Subscriber) -> bool:
    left, signed_up = subscriber.unsubscribed_at, subscriber.consent_at
    return left is not None and (signed_up is None or signed_up <= left)


def enroll(session: Session, subscriber: Subscriber, course: Course, now: datetime) -> Enrollment:
    """Start the course, or pick it up where the reader left it."""
    query = select(Enrollment).where(
        Enrollment.subscriber_id == subscriber.id, Enrollment.course == course.slug
    )
    enrollment = session.scalars(query).one_or_none()
    if enrollment is None:
        enrollment = Enrollment(
            subscriber_id=subscriber.id, course=course.slug, started_at=now, position=0
        )
        session.add(enrollment)
    elif enrollment.state is EnrollmentState.CANCELLED:
        enrollment.started_at = restarted_at(
            course,
            enrollment.position,
            enrollment.started_at,
            subscriber.timezone,
            now,
            enrollment.pace,
        )
    else:
        return enrollment
    enrollment.next_due_at = due_for(
        course,
        enrollment.position,
        enrollment.started_at,
        subscriber.timezone,
        enrollment.pace or 1,
    )
    enrollment.state = (
        EnrollmentState.ACTIVE if enrollment.next_due_at else EnrollmentState.COMPLETED
    )
    session.flush()
    return enrollment


def unsubscribe(session: Session, uid: str, channel: str, now: datetime) -> Subscriber | None:
    """Stop all mail to the reader at once: queued sends are skipped, courses cancelled."""
    subscriber = session.scalars(select(Subscriber).where(Subscriber.uid == uid)).one_or_none()
    if subscriber is None:
        return None
    if subscriber.status is SubscriberStatus.UNSUBSCRIBED:
        return subscriber
    stop_mail(session, subscriber, SubscriberStatus.UNSUBSCRIBED, channel, now)
    log.info("reader unsubscribed", extra={"subscriber": subscriber.id, "channel": channel})
    return subscriber


def stop_mail(
    session: Session,
    subscriber: Subscriber,
    status: SubscriberStatus,
    channel: str,
    now: datetime,
) -> None:
    """End every course and list of a reader who left, bounced or complained, and skip
    what is queued for them."""
    subscriber.status = status
    subscriber.unsubscribed_at = subscriber.unsubscribed_at or now
    subscriber.unsubscribe_channel = subscriber.unsubscribe_channel or channel
    session.execute(
        update(Enrollment)
        .where(
            Enrollment.subscriber_id == subscriber.id,
            Enrollment.state.in_([EnrollmentState.ACTIVE, EnrollmentState.PAUSED]),
        )
        .values(state=EnrollmentState.CANCELLED, next_due_at=None)
    )
    session.execute(
        update(Membership)
        .where(Membership.subscriber_id == subscriber.id, Membership.left_at.is_(None))
        .values(left_at=now)
    )
    session.execute(
        update(Delivery)
        .where(Delivery.subscriber_id == subscriber.id, Delivery.status == DeliveryStatus.QUEUED)
        .values(status=DeliveryStatus.SKIPPED, last_error=str(status), updated_at=now)
    )

"""What happens to a reader: signing up, confirming, leaving. Web pages only call these."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    JSON,
    Integer,
    bindparam,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from core.db import is_postgresql
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
    new_uid,
)
from core.types import UTCDateTime
from courses.model import Catalog, Course
from tasks.plan import due_for, restarted_at
from tasks.privacy import address_hash, hash_key

log = logging.getLogger(__name__)

# Statuses from which a reader may (re)confirm. Bounced and complained addresses may not.
CONFIRMABLE = {SubscriberStatus.PENDING, SubscriberStatus.UNSUBSCRIBED}
# At most one confirmation (or "already here" note) an address in this long.
RESEND_AFTER = timedelta(minutes=10)


@dataclass(frozen=True)
class Signup:
    email: str  # already normalised
    first_name: str | None
    timezone: str
    ip: str | None
    user_agent: str | None
    source: str
    consent_text_version: str
    wanted: list[str] | None = None  # slugs chosen; None: everything offered


def find_by_email(session: Session, email: str) -> Subscriber | None:
    query = select(Subscriber).where(func.lower(Subscriber.email) == email.lower())
    return session.scalars(query).one_or_none()


def is_suppressed(session: Session, email: str, key: str | None = None) -> bool:
    """Whether the address must never be mailed: suppressed in clear, or erased at its
    reader's request (then only its hash is kept; `key` defaults to the settings' one)."""
    digest = address_hash(email, key or hash_key())
    query = select(_SUPPRESSED)
    return bool(session.connection().scalar(query, {"email": email.lower(), "digest": digest}))


# Built once: a signup runs these, and building a statement costs more than running it.
_SUPPRESSED = exists().where(
    or_(
        func.lower(Suppression.email) == bindparam("email"),
        Suppression.email_hash == bindparam("digest"),
    )
)
_SUPPRESSED_OR_KNOWN = select(
    _SUPPRESSED,
    select(Subscriber.id)
    .where(func.lower(Subscriber.email) == bindparam("email"))
    .scalar_subquery(),
)
# The whole of a signup in one statement, on PostgreSQL: is the address suppressed, is it
# known; a new reader is written with their consent record, a pending or unsubscribed one
# gets their consent renewed; then the letter that is due (a confirmation, or for a
# reader already here a note with their page) unless the same letter went in the last
# RESEND_AFTER. One round trip whatever the address, so the time of the answer does not
# tell a known address from a new one. (SQLite has no INSERT or UPDATE in a WITH clause.)
_SIGN_UP = text(
    """
    WITH blocked AS (
        SELECT EXISTS (
            SELECT 1 FROM suppressions WHERE lower(email) = :email OR email_hash = :digest
        ) AS yes
    ),
    known AS (
        SELECT id, status FROM subscribers WHERE lower(email) = :email
    ),
    new_reader AS (
        INSERT INTO subscribers (uid, email, status, created_at, first_name, timezone,
            consent_at, consent_ip, consent_user_agent, consent_source, consent_text_version,
            wanted)
        SELECT :uid, :address, 'pending', :now, :first_name, :timezone, :now, :consent_ip,
            :consent_user_agent, :consent_source, :consent_text_version, :wanted
        WHERE NOT (SELECT yes FROM blocked) AND NOT EXISTS (SELECT 1 FROM known)
        -- Taken by another request a moment ago: that one sends the confirmation.
        ON CONFLICT DO NOTHING
        RETURNING id
    ),
    renewed AS (
        UPDATE subscribers SET first_name = :first_name, timezone = :timezone,
            consent_at = :now, consent_ip = :consent_ip,
            consent_user_agent = :consent_user_agent, consent_source = :consent_source,
            consent_text_version = :consent_text_version, wanted = :wanted
        WHERE id IN (SELECT id FROM known WHERE status IN ('pending', 'unsubscribed'))
            AND NOT (SELECT yes FROM blocked)
        RETURNING id
    ),
    letter AS (
        SELECT id, 'confirmation' AS kind FROM new_reader
        UNION ALL SELECT id, 'confirmation' FROM renewed
        UNION ALL SELECT id, 'already_here' FROM known
            WHERE status = 'active' AND NOT (SELECT yes FROM blocked)
    )
    INSERT INTO deliveries (kind, subscriber_id, status, attempts, round, created_at, updated_at)
    SELECT kind, id, 'queued', 0, 1, :now, :now FROM letter
    -- Asked of the reader's own deliveries (by index), not as an anti-join that reads
    -- them all: the plan may be made while the table's statistics still say it is empty.
    WHERE NOT COALESCE((
        SELECT true FROM deliveries
        WHERE subscriber_id = letter.id AND kind = letter.kind AND created_at > :since
        LIMIT 1
    ), false)
    RETURNING id
    """
).bindparams(
    bindparam("now", type_=UTCDateTime()),
    bindparam("since", type_=UTCDateTime()),
    bindparam("wanted", type_=JSON()),
)


def subscribe(session: Session, signup: Signup, now: datetime) -> int | None:
    """Record a signup; return the id of a confirmation delivery to send, if one is due.

    The caller answers the same whatever happened here, so no one can learn from the
    page whether an address is known. On PostgreSQL this is one statement, which may run
    outside a transaction (core.db.statement_scope).
    """
    address = {"email": signup.email.lower(), "digest": address_hash(signup.email, hash_key())}
    if is_postgresql(session):
        return _subscribe_in_one_statement(session, signup, address, now)
    # One round trip asks both questions: is the address suppressed, is it known.
    suppressed, reader_id = session.connection().execute(_SUPPRESSED_OR_KNOWN, address).one()
    if suppressed:
        return None
    if reader_id is None:
        # A new address, the usual case: written without the ORM's bookkeeping.
        delivery_id = _insert_with_notice(session, signup, now)
        if delivery_id is not None:
            return delivery_id
    subscriber = find_by_email(session, signup.email)  # known, or signed up a moment ago
    assert subscriber is not None
    if subscriber.is_active:
        # Not a second confirmation: a note with a way to their page, at most so often.
        return _notify(session, subscriber, DeliveryKind.ALREADY_HERE, now)
    if subscriber.status not in CONFIRMABLE:
        return None
    for name, value in _consent(signup, now).items():
        setattr(subscriber, name, value)
    return _notify(session, subscriber, DeliveryKind.CONFIRMATION, now)


def _subscribe_in_one_statement(
    session: Session, signup: Signup, address: dict[str, str], now: datetime
) -> int | None:
    consent = _consent(signup, now)
    del consent["consent_at"]  # :now
    values = {**address, **consent, "address": signup.email, "uid": new_uid()}
    values |= {"now": now, "since": now - RESEND_AFTER}
    session.flush()  # the statement reads what this session changed,
    delivery_id = session.connection().scalar(_SIGN_UP, values)
    session.expire_all()  # and may change a reader the session holds
    return delivery_id


def _notify(
    session: Session, subscriber: Subscriber, kind: DeliveryKind, now: datetime
) -> int | None:
    """Write a letter about a signup, unless one went to this address in the last
    RESEND_AFTER: a form posted again and again mails its owner once."""
    values = {"reader": subscriber.id, "kind": kind, "now": now, "since": now - RESEND_AFTER}
    values |= {"new_reader": subscriber.id, "new_kind": kind}
    return session.connection().scalar(_NOTICE_UNLESS_RECENT, values)


# The check and the write in one statement, so that a known address costs about what a
# new one does (the time of the answer must not tell them apart either).
_recent = (
    select(Delivery.id)
    .where(
        Delivery.subscriber_id == bindparam("reader"),
        Delivery.kind == bindparam("kind"),
        Delivery.created_at > bindparam("since"),
    )
    .exists()
)
_NOTICE_UNLESS_RECENT = (
    insert(Delivery)
    .from_select(
        ["kind", "subscriber_id", "status", "attempts", "round", "created_at", "updated_at"],
        select(
            # Named apart from the condition's: PostgreSQL would deduce two types for one.
            bindparam("new_kind", type_=Delivery.kind.type),
            bindparam("new_reader", type_=Integer()),
            literal(DeliveryStatus.QUEUED, Delivery.status.type),
            literal(0),
            literal(1),
            bindparam("now", type_=UTCDateTime()),
            bindparam("now", type_=UTCDateTime()),
        ).where(~_recent),
    )
    .returning(Delivery.id)
)


def _write_notice(session: Session, reader_id: int, kind: DeliveryKind, now: datetime) -> int:
    row = {"kind": kind, "subscriber_id": reader_id, "created_at": now, "updated_at": now}
    return session.scalars(insert(Delivery).returning(Delivery.id), [row]).one()


def _insert_with_notice(session: Session, signup: Signup, now: datetime) -> int | None:
    """A new pending reader with their consent record, and their confirmation letter; None
    if the address is taken (the same address signed up in another request a moment ago).
    SQLite's way; PostgreSQL does all of a signup in one statement (_SIGN_UP)."""
    values = {"email": signup.email, "created_at": now, **_consent(signup, now)}
    statement = sqlite.insert(Subscriber).values(values).on_conflict_do_nothing()
    reader_id = session.scalars(statement.returning(Subscriber.id)).one_or_none()
    if reader_id is None:
        return None
    return _write_notice(session, reader_id, DeliveryKind.CONFIRMATION, now)


def _consent(signup: Signup, now: datetime) -> dict[str, object]:
    """What the reader gave, and the record of their consent: when, where, which words."""
    return {
        "first_name": signup.first_name,
        "timezone": signup.timezone,
        "consent_at": now,
        "consent_ip": signup.ip,
        "consent_user_agent": (signup.user_agent or "")[:400] or None,
        "consent_source": signup.source,
        "consent_text_version": signup.consent_text_version,
        "wanted": signup.wanted,
    }


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
    wanted = subscriber.wanted
    for course in catalog.offered_on_signup():
        if wanted is None or course.slug in wanted:
            enroll(session, subscriber, course, now)
    for name in catalog.lists_on_signup(wanted):
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

"""Tend's data model. Time is UTC everywhere in here."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from core.clock import utcnow
from core.types import UTCDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


def status_column(enum_class: type[enum.Enum], default: enum.Enum) -> Mapped[Any]:
    # Stored as plain strings: adding a status later needs no database type change.
    kind = Enum(enum_class, native_enum=False, length=20, values_callable=_values)
    return mapped_column(kind, default=default, nullable=False)


def _values(enum_class: type[enum.Enum]) -> list[str]:
    return [member.value for member in enum_class]


def new_uid() -> str:
    """An opaque public id: what signed links carry instead of an address or a row number."""
    return secrets.token_urlsafe(16)


class SubscriberStatus(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


class Subscriber(Base):
    __tablename__ = "subscribers"
    __table_args__ = (
        Index("uq_subscribers_email_lower", text("lower(email)"), unique=True),
        # The dashboard's filter by status, newest first.
        Index("ix_subscribers_status_id", "status", "id"),
        # Searches by the start of an address or a name (LIKE 'ann%'): the unique index
        # compares by the database's collation, which LIKE cannot use; these compare bytes.
        Index("ix_subscribers_email_prefix", text("lower(email) text_pattern_ops")).ddl_if(
            dialect="postgresql"
        ),
        Index(
            "ix_subscribers_first_name_prefix", text("lower(first_name) text_pattern_ops")
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True, default=new_uid)
    email: Mapped[str] = mapped_column(String(320))
    first_name: Mapped[str | None] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    status: Mapped[SubscriberStatus] = status_column(SubscriberStatus, SubscriberStatus.PENDING)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    # The consent record: what the reader agreed to, when, where and from which form.
    consent_at: Mapped[datetime | None]
    consent_ip: Mapped[str | None] = mapped_column(String(45))
    consent_user_agent: Mapped[str | None] = mapped_column(String(400))
    consent_source: Mapped[str | None] = mapped_column(String(100))
    consent_text_version: Mapped[str | None] = mapped_column(String(40))
    # The courses and newsletters (slugs) chosen at signup; NULL: everything offered.
    wanted: Mapped[list[str] | None] = mapped_column(JSON)
    confirmed_at: Mapped[datetime | None]
    confirmed_ip: Mapped[str | None] = mapped_column(String(45))
    confirmed_user_agent: Mapped[str | None] = mapped_column(String(400))
    unsubscribed_at: Mapped[datetime | None]
    # "link", "one-click", "preferences", "operator:<their address>" ...
    unsubscribe_channel: Mapped[str | None] = mapped_column(String(100))

    enrollments: Mapped[list[Enrollment]] = relationship(back_populates="subscriber")

    @property
    def is_active(self) -> bool:
        return self.status is SubscriberStatus.ACTIVE


class EnrollmentState(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Enrollment(Base):
    __tablename__ = "enrollments"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "course"),
        # A course's readers, for its funnel and the dashboard's filter by course.
        Index("ix_enrollments_course_subscriber", "course", "subscriber_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    course: Mapped[str] = mapped_column(String(100))
    state: Mapped[EnrollmentState] = status_column(EnrollmentState, EnrollmentState.ACTIVE)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Index of the next lesson to send, counting from 0.
    position: Mapped[int] = mapped_column(Integer, default=0)
    # Which time through the course: a restart begins the next round, whose lessons are
    # new deliveries (the unique key of a lesson's delivery includes its round).
    round: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # The scheduler reads only this index; NULL means nothing more is due.
    next_due_at: Mapped[datetime | None] = mapped_column(index=True)
    completed_at: Mapped[datetime | None]
    # A pause with an end resumes by itself at the tick after this moment.
    paused_until: Mapped[datetime | None]
    # 1 at the course's own rhythm; 2 for a reader who slowed down to half of it.
    pace: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # The course's version (the order of its lessons) when a lesson was last claimed.
    course_version: Mapped[str | None] = mapped_column(String(16))

    subscriber: Mapped[Subscriber] = relationship(back_populates="enrollments")


class Membership(Base):
    """A reader on a list: newsletter issues go to a list's members."""

    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "list"),
        # A list's members in reader order: issues go out by it, the dashboard filters by it.
        Index("ix_memberships_list_subscriber", "list", "subscriber_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    list: Mapped[str] = mapped_column(String(100))
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)
    left_at: Mapped[datetime | None]


class DeliveryKind(enum.StrEnum):
    CONFIRMATION = "confirmation"
    ALREADY_HERE = "already_here"  # a signup from an address that already reads: its page
    LESSON = "lesson"
    ISSUE = "issue"


class DeliveryStatus(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"  # claimed by a worker, not yet handed to the provider
    IN_FLIGHT = "in_flight"  # the request is under way: from here on it may have been sent
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
    # In doubt: the request went out and its answer never came. The provider's events
    # settle it; without any, it is sent again after TEND_UNKNOWN_RESEND_AFTER.
    UNKNOWN = "unknown"
    DELIVERED = "delivered"
    BOUNCED = "bounced"


class Delivery(Base):
    """One message to one reader. The unique constraints are what make a send happen once."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("enrollment_id", "round", "lesson"),
        UniqueConstraint("broadcast_id", "subscriber_id"),
        Index("ix_deliveries_status_updated_at", "status", "updated_at"),
        # An issue's deliveries by status: its live progress counts them every few seconds.
        Index("ix_deliveries_broadcast_id_status", "broadcast_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[DeliveryKind] = status_column(DeliveryKind, DeliveryKind.LESSON)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    enrollment_id: Mapped[int | None] = mapped_column(
        ForeignKey("enrollments.id", ondelete="CASCADE")
    )
    broadcast_id: Mapped[int | None] = mapped_column(ForeignKey("broadcasts.id"))
    # The lesson's slug (stable across renumbering), for lesson deliveries.
    lesson: Mapped[str | None] = mapped_column(String(100))
    round: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    status: Mapped[DeliveryStatus] = status_column(DeliveryStatus, DeliveryStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    message_id: Mapped[str | None] = mapped_column(String(250))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    sent_at: Mapped[datetime | None]

    subscriber: Mapped[Subscriber] = relationship()
    enrollment: Mapped[Enrollment | None] = relationship()


class Event(Base):
    """A provider event (delivered, bounce, complaint...), kept once per provider event id."""

    __tablename__ = "events"
    # Complaints within a window, for the overview's rates and /metrics.
    __table_args__ = (Index("ix_events_type_occurred_at", "type", "occurred_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    provider_event_id: Mapped[str] = mapped_column(String(200), unique=True)
    # message, event and address: a provider may report the same change under two event
    # ids; only the first is kept. NULL for events that may rightly repeat (deferred, open).
    change_key: Mapped[str | None] = mapped_column(String(400), unique=True)
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL"), index=True
    )
    type: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set once the event's effect (on the delivery and the reader) has been applied.
    processed_at: Mapped[datetime | None] = mapped_column(index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Suppression(Base):
    """An address that must never be mailed again, whatever its subscriber row says.

    A row holds the address in clear, or only its keyed hash (`tasks.privacy.address_hash`)
    once its reader asked to be erased: enough to refuse the address, not to read it back.
    """

    __tablename__ = "suppressions"
    # Unique among clear addresses only: rows with a NULL email never collide in it.
    __table_args__ = (
        Index("uq_suppressions_email_lower", text("lower(email)"), unique=True),
        # The dashboard's list, newest first, its counts by reason, its search by prefix.
        Index("ix_suppressions_created_at_id", "created_at", "id"),
        Index("ix_suppressions_reason", "reason"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320))
    email_hash: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)
    reason: Mapped[str] = mapped_column(String(40))
    source: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def prefix_index(name: str, column: Any) -> Index:
    """For searches by the start of a value (LIKE 'ann%'), on PostgreSQL: an index under
    the database's collation cannot serve LIKE; one that compares bytes can."""
    label = f"{column.key}_lower"
    return Index(
        name, func.lower(column).label(label), postgresql_ops={label: "text_pattern_ops"}
    ).ddl_if(dialect="postgresql")


prefix_index("ix_subscribers_email_prefix", Subscriber.email)
prefix_index("ix_subscribers_first_name_prefix", Subscriber.first_name)
prefix_index("ix_suppressions_email_prefix", Suppression.email)


class OperatorRole(enum.StrEnum):
    ADMIN = "admin"
    VIEWER = "viewer"


class Operator(Base):
    __tablename__ = "operators"
    __table_args__ = (Index("uq_operators_email_lower", text("lower(email)"), unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[OperatorRole] = status_column(OperatorRole, OperatorRole.VIEWER)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    # Wrong passwords in a row; at LOCK_AFTER the account waits until locked_until.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None]


class BroadcastStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    CANCELLED = "cancelled"


class Broadcast(Base):
    """A newsletter issue to every active reader of a list, sent in batches from a checkpoint."""

    __tablename__ = "broadcasts"
    __table_args__ = (UniqueConstraint("list", "issue"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list: Mapped[str] = mapped_column(String(100))
    # "newsletter/issue", the slugs of the issue's file
    issue: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(300))
    status: Mapped[BroadcastStatus] = status_column(BroadcastStatus, BroadcastStatus.SCHEDULED)
    send_at: Mapped[datetime]
    # Readers with an id at or below this have had their delivery row written.
    last_subscriber_id: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class BroadcastWave(Base):
    """The readers of a broadcast whose local send time is the same instant, sent in
    batches from a checkpoint (`id > last_subscriber_id`), so a crash resumes, never resends.
    """

    __tablename__ = "broadcast_waves"
    __table_args__ = (UniqueConstraint("broadcast_id", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"))
    due_at: Mapped[datetime] = mapped_column(index=True)
    # The time zones whose readers are in this wave.
    zones: Mapped[list[str]] = mapped_column(JSON, default=list)
    last_subscriber_id: Mapped[int] = mapped_column(Integer, default=0)
    finished_at: Mapped[datetime | None]


class Switch(Base):
    """An operator's switch, such as the one that stops all sending; a row while it is on."""

    __tablename__ = "switches"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    set_by: Mapped[str] = mapped_column(String(320))
    set_at: Mapped[datetime] = mapped_column(default=utcnow)
    reason: Mapped[str | None] = mapped_column(Text)


class ReportSnapshot(Base):
    """The latest result of a heavy dashboard report, computed in the background
    (tasks/reports/snapshots.py), so a page reads one row instead of millions."""

    __tablename__ = "report_snapshots"

    # "overview", "calendar", "courses", "funnel:<course>", "issues", "issue:<id>"...
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    computed_at: Mapped[datetime]
    seconds: Mapped[float] = mapped_column(Float)  # how long the computation took
    data: Mapped[Any] = mapped_column(JSON)

"""A reader's life in the engine: signing up, confirming, leaving and coming back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from core.db import session_scope
from core.models import (
    Delivery,
    DeliveryKind,
    Enrollment,
    EnrollmentState,
    SubscriberStatus,
    Suppression,
)
from courses.model import Catalog
from tasks import readers, schedule
from tests.support.readers import active_reader, enrollment_of

NOW = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def signup(email: str = "reader@example.org") -> readers.Signup:
    return readers.Signup(
        email=email,
        first_name=None,
        timezone="Europe/Paris",
        ip="192.0.2.1",
        user_agent="test",
        source="test",
        consent_text_version="v1",
    )


def test_a_suppressed_address_is_never_sent_a_confirmation(db: None) -> None:
    with session_scope() as session:
        session.add(Suppression(email="Bounced@Example.org", reason="bounce"))
    with session_scope() as session:
        assert readers.subscribe(session, signup("bounced@example.org"), NOW) is None


def test_a_pending_reader_who_signs_up_again_gets_a_fresh_confirmation_once_in_ten_minutes(
    db: None,
) -> None:
    with session_scope() as session:
        first = readers.subscribe(session, signup(), NOW)
        again = readers.subscribe(session, signup("READER@example.org"), NOW + timedelta(minutes=9))
        later = readers.subscribe(session, signup(), NOW + timedelta(minutes=11))
    assert first is not None
    assert again is None, "a form posted twice mails its owner once"
    assert later is not None
    assert later != first


def test_an_active_reader_who_signs_up_again_gets_a_note_with_their_page_not_a_confirmation(
    db: None, catalog: Catalog
) -> None:
    active_reader(catalog, NOW)
    with session_scope() as session:
        note = readers.subscribe(session, signup(), NOW)
        again = readers.subscribe(session, signup(), NOW + timedelta(minutes=1))
        assert note is not None
        assert again is None
        delivery = session.get(Delivery, note)
        assert delivery is not None
        assert delivery.kind is DeliveryKind.ALREADY_HERE


def test_an_unsubscribed_reader_returns_only_through_a_fresh_confirmation(
    db: None, catalog: Catalog
) -> None:
    reader, uid = active_reader(catalog, NOW)
    with session_scope() as session:
        readers.unsubscribe(session, uid, "test", NOW)
        assert readers.subscribe(session, signup(), NOW) is not None
    with session_scope() as session:
        subscriber = readers.find_by_email(session, "reader@example.org")
        assert subscriber is not None
        assert subscriber.status is SubscriberStatus.UNSUBSCRIBED
    assert enrollment_of(reader).state is EnrollmentState.CANCELLED


def test_a_returning_reader_resumes_at_their_next_lesson_without_a_burst(
    db: None, catalog: Catalog
) -> None:
    reader, uid = active_reader(catalog, NOW)
    schedule.tick(catalog, NOW)  # the welcome
    with session_scope() as session:
        readers.unsubscribe(session, uid, "test", NOW + timedelta(days=1))
    back = NOW + timedelta(days=100)
    with session_scope() as session:
        readers.subscribe(session, signup(), back)
        readers.confirm(session, uid, catalog, back)
    enrollment = enrollment_of(reader)
    assert enrollment.state is EnrollmentState.ACTIVE
    assert enrollment.position == 1
    # Lesson 2 is due on the day they return (08:00 in Paris, the zone of their new
    # signup), the next 14 days after it.
    assert enrollment.next_due_at == datetime(2026, 4, 15, 6, 0, tzinfo=UTC)
    assert schedule.tick(catalog, back).claimed == 1
    assert schedule.tick(catalog, back + timedelta(days=13)).claimed == 0
    assert schedule.tick(catalog, back + timedelta(days=14)).claimed == 1
    with session_scope() as session:
        query = select(Delivery.lesson).where(Delivery.kind == DeliveryKind.LESSON)
        lessons = session.scalars(query.order_by(Delivery.id)).all()
    assert lessons == ["welcome", "acknowledge", "not-alone"]


def test_confirming_enrolls_once_in_each_course_offered_on_signup(
    db: None, catalog: Catalog
) -> None:
    reader, uid = active_reader(catalog, NOW)
    with session_scope() as session:
        readers.confirm(session, uid, catalog, NOW + timedelta(hours=1))
        courses = session.scalars(
            select(Enrollment.course).where(Enrollment.subscriber_id == reader)
        ).all()
    assert courses == ["softening-sessions"]


def test_an_old_confirmation_link_does_not_bring_back_a_reader_who_left(
    db: None, catalog: Catalog
) -> None:
    with session_scope() as session:
        assert readers.subscribe(session, signup(), NOW) is not None
        subscriber = readers.find_by_email(session, "reader@example.org")
        assert subscriber is not None
        uid = subscriber.uid
    with session_scope() as session:
        assert readers.confirm(session, uid, catalog, NOW + timedelta(minutes=5)) is not None
        readers.unsubscribe(session, uid, "test", NOW + timedelta(days=1))
    with session_scope() as session:
        assert readers.confirm(session, uid, catalog, NOW + timedelta(days=2)) is None
        subscriber = readers.find_by_email(session, "reader@example.org")
        assert subscriber is not None
        assert subscriber.status is SubscriberStatus.UNSUBSCRIBED
    with session_scope() as session:
        readers.subscribe(session, signup(), NOW + timedelta(days=3))
        assert readers.confirm(session, uid, catalog, NOW + timedelta(days=3, minutes=5))

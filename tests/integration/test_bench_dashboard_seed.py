"""bench/seed.py at a tiny size, so the dashboard bench does not rot: the rows it writes
with COPY keep every constraint and tell a consistent story, and the schema it takes
apart for speed is put back exactly as the migrations made it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from bench import dashboard as bench
from bench.seed import COURSE, Shape, seed
from core.config import Settings
from core.db import get_engine, session_scope
from core.models import (
    Broadcast,
    BroadcastWave,
    Delivery,
    DeliveryKind,
    Enrollment,
    EnrollmentState,
    Event,
    Membership,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from courses.model import Catalog
from tests.support import postgres_server

needs_postgresql = postgres_server.needs_postgresql(
    "the seed writes with PostgreSQL's COPY; set DATABASE_URL to a PostgreSQL database"
)

SHAPE = Shape(readers=200, deliveries=2000, seed=7)


def schema() -> list[tuple[str, ...]]:
    """Every index and constraint of the public schema, with its definition."""
    with get_engine().connect() as connection:
        indexes = connection.execute(
            text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'")
        ).all()
        constraints = connection.execute(
            text(
                "SELECT conname, pg_get_constraintdef(oid), convalidated::text FROM pg_constraint "
                "WHERE connamespace = 'public'::regnamespace"
            )
        ).all()
    return sorted(tuple(row) for row in [*indexes, *constraints])


@pytest.fixture
def seeded(db: None, settings: Settings, catalog: Catalog) -> dict[str, int]:
    before = schema()
    result = seed(settings.database, SHAPE, catalog, say=lambda _: None)
    assert schema() == before, "the seed left the schema other than the migrations made it"
    return result.counts


def count(model: type) -> int:
    with session_scope() as session:
        return session.scalars(select(func.count()).select_from(model)).one()


@needs_postgresql
def test_the_seed_writes_the_rows_asked_for(seeded: dict[str, int]) -> None:
    assert count(Subscriber) == SHAPE.readers == seeded["subscribers"]
    assert count(Delivery) == SHAPE.deliveries == seeded["deliveries"]
    tables = {Enrollment: "enrollments", Event: "events", Membership: "memberships",
              Suppression: "suppressions", Broadcast: "broadcasts",
              BroadcastWave: "broadcast_waves"}  # fmt: skip
    for model, table in tables.items():
        assert count(model) == seeded[table] > 0, table


@needs_postgresql
def test_every_row_reads_back_through_the_models(seeded: dict[str, int]) -> None:
    # The ORM refuses a status it does not know: every stored enum value must be one.
    with session_scope() as session:
        readers = session.scalars(select(Subscriber)).all()
        deliveries = session.scalars(select(Delivery)).all()
        enrollments = session.scalars(select(Enrollment)).all()
        session.scalars(select(Broadcast)).all()
        events = session.scalars(select(Event)).all()
    assert all(len(reader.uid) <= 32 for reader in readers)
    assert {reader.status for reader in readers} >= {
        SubscriberStatus.ACTIVE,
        SubscriberStatus.PENDING,
        SubscriberStatus.UNSUBSCRIBED,
    }
    assert {delivery.kind for delivery in deliveries} == {
        DeliveryKind.CONFIRMATION,
        DeliveryKind.LESSON,
        DeliveryKind.ISSUE,
    }
    assert all(event.payload["tend_delivery"] == str(event.delivery_id) for event in events)
    assert {enrollment.course for enrollment in enrollments} == {COURSE}


@needs_postgresql
def test_lessons_and_issues_follow_each_readers_story(seeded: dict[str, int]) -> None:
    with session_scope() as session:
        lessons = dict(
            session.execute(
                select(Delivery.enrollment_id, func.count())
                .where(Delivery.kind == DeliveryKind.LESSON)
                .group_by(Delivery.enrollment_id)
            ).all()
        )
        enrollments = session.scalars(select(Enrollment)).all()
        # An issue went only to a member of its list who had joined and not yet left.
        strays = session.scalars(
            select(func.count())
            .select_from(Delivery)
            .join(Broadcast, Broadcast.id == Delivery.broadcast_id)
            .outerjoin(
                Membership,
                (Membership.subscriber_id == Delivery.subscriber_id)
                & (Membership.list == Broadcast.list)
                & (Membership.joined_at <= Delivery.created_at)
                & (func.coalesce(Membership.left_at, Delivery.created_at) >= Delivery.created_at),
            )
            .where(Membership.id.is_(None))
        ).one()
        pending_mail = session.scalars(
            select(func.count())
            .select_from(Delivery)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(
                Subscriber.status == SubscriberStatus.PENDING,
                Delivery.kind != DeliveryKind.CONFIRMATION,
            )
        ).one()
    assert strays == 0
    assert pending_mail == 0
    for enrollment in enrollments:
        assert lessons.get(enrollment.id, 0) == enrollment.position
        if enrollment.state is EnrollmentState.ACTIVE:
            assert enrollment.next_due_at is not None
            assert enrollment.next_due_at > enrollment.started_at + timedelta(days=1)
        else:
            assert enrollment.next_due_at is None


@needs_postgresql
def test_new_rows_get_new_ids_after_the_seed(seeded: dict[str, int]) -> None:
    # The sequences were moved past the ids COPY wrote: an insert does not collide.
    with session_scope() as session:
        reader = Subscriber(email="after-the-seed@example.org", status=SubscriberStatus.ACTIVE)
        session.add(reader)
        session.flush()
        letter = Delivery(kind=DeliveryKind.CONFIRMATION, subscriber_id=reader.id)
        session.add(letter)
        session.flush()
        assert (reader.id, letter.id) == (SHAPE.readers + 1, SHAPE.deliveries + 1)


@needs_postgresql
def test_the_bench_reaches_every_dashboard_page_it_names(
    seeded: dict[str, int], app: Flask
) -> None:
    # The pages it times exist and answer on seeded data, and their SQL is captured.
    client = bench.operator_client(app)
    found = bench.samples()
    assert found.deliveries >= 3  # a confirmation, a lesson and an issue at least
    pages = bench.pages(app, found)
    paths = [path for _, path in pages]
    assert paths[0] == "/dashboard/"
    assert f"/dashboard/readers/{found.reader_id}" in paths
    assert f"/dashboard/courses/{COURSE}" in paths
    for label, path in pages:
        timing = bench.measure(client, label, path, requests=1, errors=[])
        assert timing.statuses == [200], f"{label} ({path}) answered {timing.statuses}"
        assert timing.statements, f"no SQL seen for {label}"


def test_the_seed_refuses_sqlite(catalog: Catalog) -> None:
    with pytest.raises(ValueError, match="PostgreSQL"):
        seed("sqlite:///seed.db", SHAPE, catalog, say=lambda _: None)

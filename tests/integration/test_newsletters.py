"""Newsletter issues: each reader's own morning on the issue's date, once, resumable."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.config import Settings
from core.db import session_scope
from core.models import Broadcast, BroadcastWave, Delivery, DeliveryKind, Subscriber
from courses.model import Catalog
from emails.transports import OutboxTransport
from tasks import broadcasts, readers, schedule
from tasks.sending import Sender
from tests.support import outbox
from tests.support.readers import active_reader

JOINED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ZONES = ["Pacific/Kiritimati", "Asia/Tokyo", "Europe/Paris", "America/New_York", "Etc/GMT+12"]
# 2026-12-01 at 08:00 in each of ZONES, in UTC.
MORNINGS = {
    "Pacific/Kiritimati": datetime(2026, 11, 30, 18, 0, tzinfo=UTC),
    "Asia/Tokyo": datetime(2026, 11, 30, 23, 0, tzinfo=UTC),
    "Europe/Paris": datetime(2026, 12, 1, 7, 0, tzinfo=UTC),
    "America/New_York": datetime(2026, 12, 1, 13, 0, tzinfo=UTC),
    "Etc/GMT+12": datetime(2026, 12, 1, 20, 0, tzinfo=UTC),
}


def newsletter_only(catalog: Catalog) -> Catalog:
    return Catalog(newsletters=catalog.newsletters)


def join(catalog: Catalog, zone: str, email: str | None = None, when: datetime = JOINED) -> int:
    reader, _ = active_reader(catalog, when, email=email or f"{zone.lower()}@example.org",
                              timezone=zone)  # fmt: skip
    return reader


def issue_deliveries() -> dict[int, list[datetime]]:
    with session_scope() as session:
        rows = session.execute(
            select(Delivery.subscriber_id, Delivery.created_at).where(
                Delivery.kind == DeliveryKind.ISSUE
            )
        ).all()
    found: dict[int, list[datetime]] = {}
    for reader, created in rows:
        found.setdefault(reader, []).append(created)
    return found


def hourly(start: datetime, end: datetime) -> list[datetime]:
    return [
        start + timedelta(hours=hour) for hour in range(int((end - start) / timedelta(hours=1)))
    ]


def test_an_issue_reaches_each_reader_on_their_own_morning_exactly_once(
    db: None, catalog: Catalog
) -> None:
    letters = newsletter_only(catalog)
    ids = {zone: join(letters, zone) for zone in ZONES}
    for now in hourly(
        datetime(2026, 11, 30, 12, 0, tzinfo=UTC), datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    ):
        schedule.tick(letters, now)
        schedule.tick(letters, now)  # a second tick at the same moment changes nothing
    sent = issue_deliveries()
    assert {zone: sent[ids[zone]] for zone in ZONES} == {
        zone: [morning] for zone, morning in MORNINGS.items()
    }


def test_a_crash_in_the_middle_of_a_wave_resumes_without_sending_twice(
    db: None, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    letters = newsletter_only(catalog)
    readers_ = [join(letters, "Europe/Paris", f"r{n}@example.org") for n in range(7)]
    monkeypatch.setattr(broadcasts, "WAVE_BATCH", 3)
    real_write = broadcasts._write
    calls = {"n": 0}

    def crash_on_second_batch(*arguments: object) -> list[int]:
        calls["n"] += 1
        if calls["n"] == 2:
            raise ConnectionError("the database went away")
        return real_write(*arguments)  # type: ignore[arg-type]

    monkeypatch.setattr(broadcasts, "_write", crash_on_second_batch)
    morning = MORNINGS["Europe/Paris"]
    with pytest.raises(ConnectionError):
        schedule.tick(letters, morning)
    assert len(issue_deliveries()) == 3, "the first batch was committed"
    schedule.tick(letters, morning + timedelta(minutes=1))
    sent = issue_deliveries()
    assert sorted(sent) == sorted(readers_)
    assert all(len(times) == 1 for times in sent.values())
    with session_scope() as session:
        wave = session.scalars(select(BroadcastWave)).one()
        assert wave.last_subscriber_id == max(readers_)
        assert wave.finished_at is not None


def test_readers_who_left_or_joined_too_late_do_not_get_it(db: None, catalog: Catalog) -> None:
    letters = newsletter_only(catalog)
    stays = join(letters, "Europe/Paris", "stays@example.org")
    left = join(letters, "Europe/Paris", "left@example.org")
    late = join(
        letters,
        "Europe/Paris",
        "late@example.org",
        when=MORNINGS["Europe/Paris"] + timedelta(hours=1),
    )
    with session_scope() as session:
        uid = session.get(Subscriber, left).uid  # type: ignore[union-attr]
        readers.unsubscribe(session, uid, "test", JOINED + timedelta(days=2))
    for now in hourly(MORNINGS["Europe/Paris"], MORNINGS["Europe/Paris"] + timedelta(hours=6)):
        schedule.tick(letters, now)
    assert sorted(issue_deliveries()) == [stays]
    assert late not in issue_deliveries()


def test_an_issue_found_days_late_is_not_sent(db: None, catalog: Catalog) -> None:
    letters = newsletter_only(catalog)
    join(letters, "Europe/Paris")
    report = schedule.tick(letters, datetime(2026, 12, 5, 9, 0, tzinfo=UTC))
    assert report.issues == 0
    with session_scope() as session:
        assert session.scalars(select(Broadcast)).all() == []


def test_an_issue_goes_out_greeting_each_reader_by_name(
    db: None, catalog: Catalog, settings: Settings
) -> None:
    letters = newsletter_only(catalog)
    reader = join(letters, "Europe/Paris", "ann@example.org")
    with session_scope() as session:
        session.get(Subscriber, reader).first_name = "Ann"  # type: ignore[union-attr]
    report = schedule.tick(letters, MORNINGS["Europe/Paris"])
    ids = [delivery for batch in report.batches.values() for delivery in batch]
    sent = Sender(settings, letters, OutboxTransport(settings.outbox_dir)).send(
        ids, MORNINGS["Europe/Paris"]
    )
    assert sent.sent == ids
    (message,) = outbox.messages(settings.outbox_dir)
    assert message["Subject"] == "Naming the weather"
    assert message["List-Id"] == '"Remember and Reclaim" <remember-and-reclaim.127.0.0.1>'
    text, html = outbox.parts(message)
    assert text.startswith("Remember and Reclaim · 1 December 2026\n\nDear Ann,")
    assert "Dear Ann," in html


def test_an_issue_with_one_instant_goes_to_everyone_then(db: None, catalog: Catalog) -> None:
    newsletter = catalog.newsletters["remember-and-reclaim"]
    instant = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    issue = dataclasses.replace(newsletter.issues[0], send_at_utc=instant)
    one_instant = dataclasses.replace(newsletter, issues=(issue,))
    letters = Catalog(newsletters={newsletter.slug: one_instant})
    ids = [join(letters, zone) for zone in ZONES]
    assert schedule.tick(letters, instant - timedelta(minutes=1)).issues == 0
    assert schedule.tick(letters, instant).issues == len(ZONES)
    sent = issue_deliveries()
    assert sorted(sent) == sorted(ids)
    assert {times[0] for times in sent.values()} == {instant}

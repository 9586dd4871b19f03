"""Their data: a reader downloads all we keep about them, or deletes themself."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core.config import Settings
from core.db import session_scope
from core.links import link
from core.models import (
    Broadcast,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Enrollment,
    Event,
    Membership,
    Subscriber,
    Suppression,
)
from core.tokens import Purpose, Signer
from courses.model import Catalog
from tasks import privacy, readers
from tests.support.readers import active_reader
from tests.support.web import csrf_token, press_button, sign_up

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
ANN = "Ann.Reader@example.org"
BEN = "ben@example.org"
# Rows of a reader made by `make_reader`: on two lists, sent three messages.
ALL_OF_ANNS = {"enrollments": 1, "memberships": 2, "deliveries": 3, "subscribers": 1}
NONE_LEFT = {"enrollments": 0, "memberships": 0, "deliveries": 0, "subscribers": 0}


@dataclass(frozen=True)
class Reader:
    id: int
    uid: str
    email: str


@pytest.fixture
def issue(db: None) -> int:
    with session_scope() as session:
        broadcast = Broadcast(
            list="remember-and-reclaim",
            issue="remember-and-reclaim/spring",
            subject="Spring",
            send_at=NOW,
        )
        session.add(broadcast)
        session.flush()
        return broadcast.id


@pytest.fixture
def ann(catalog: Catalog, issue: int) -> Reader:
    return make_reader(catalog, ANN, issue)


@pytest.fixture
def ben(catalog: Catalog, issue: int) -> Reader:
    return make_reader(catalog, BEN, issue)


def make_reader(catalog: Catalog, email: str, issue: int) -> Reader:
    """An active reader with a consent record, a confirmation, a lesson and an issue sent,
    and provider events: one about their lesson, one naming only their address."""
    reader_id, uid = active_reader(catalog, NOW, email=email)
    with session_scope() as session:
        reader = session.get(Subscriber, reader_id)
        assert reader is not None
        reader.first_name, reader.created_at = email.split("@")[0], NOW
        reader.consent_at, reader.consent_ip = NOW, "192.0.2.7"
        reader.consent_source, reader.consent_text_version = "hosted form", "v1"
        enrollment = session.scalars(select(Enrollment).filter_by(subscriber_id=reader_id)).one()
        sent = {"status": DeliveryStatus.SENT, "sent_at": NOW, "created_at": NOW}
        confirmation = Delivery(kind=DeliveryKind.CONFIRMATION, subscriber_id=reader_id, **sent)
        lesson = Delivery(
            kind=DeliveryKind.LESSON,
            subscriber_id=reader_id,
            enrollment_id=enrollment.id,
            lesson="welcome",
            provider_message_id=f"provider-{uid}",
            message_id=f"<message-{uid}@example.org>",
            content_hash="c0ffee" * 8,
            **sent,
        )
        letter = Delivery(kind=DeliveryKind.ISSUE, subscriber_id=reader_id, broadcast_id=issue)
        session.add_all([confirmation, lesson, letter])
        session.flush()
        session.add_all(
            [
                provider_event(f"{uid}-delivered", lesson.id, email),
                provider_event(f"{uid}-bounce", None, email.upper()),
            ]
        )
        session.add(Suppression(email=email.upper(), reason="bounce", source="sendgrid"))
    return Reader(reader_id, uid, email)


def provider_event(event_id: str, delivery_id: int | None, email: str) -> Event:
    return Event(
        provider="sendgrid",
        provider_event_id=event_id,
        delivery_id=delivery_id,
        type="delivered",
        occurred_at=NOW,
        payload={"email": email, "event": "delivered", "sg_event_id": event_id},
    )


def path(
    settings: Settings, reader: Reader, action: str, purpose: Purpose = Purpose.PREFERENCES
) -> str:
    token = link("", Signer(settings.require_secret_key()), purpose, reader.uid)
    return f"{token}/{action}"


def download(client: FlaskClient, settings: Settings, reader: Reader) -> dict[str, Any]:
    response = press_button(client, path(settings, reader, "data"))
    assert response.status_code == 200
    return json.loads(response.text)


def rows_of(reader_id: int) -> dict[str, int]:
    """How many rows of each table belong to the reader (events through their deliveries)."""
    with session_scope() as session:
        counts = {
            model.__tablename__: session.scalar(
                select(func.count()).select_from(model).where(model.subscriber_id == reader_id)
            )
            for model in (Enrollment, Membership, Delivery)
        }
        counts["subscribers"] = session.scalar(
            select(func.count()).select_from(Subscriber).where(Subscriber.id == reader_id)
        )
        return counts


def events_naming(email: str) -> int:
    with session_scope() as session:
        return sum(
            email.lower() in json.dumps(event.payload).lower()
            for event in session.scalars(select(Event))
        )


def clear_suppressions() -> list[str | None]:
    with session_scope() as session:
        return list(session.scalars(select(Suppression.email).where(Suppression.email.isnot(None))))


def all_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {key for item in value.values() for key in all_keys(item)}
    if isinstance(value, list):
        return {key for item in value for key in all_keys(item)}
    return set()


# The download


def test_the_data_page_shows_a_button_and_a_get_downloads_nothing(
    client: FlaskClient, settings: Settings, ann: Reader
) -> None:
    page = client.get(path(settings, ann, "data"))
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert "Download my data" in page.text
    assert 'name="csrf_token"' in page.text
    assert ANN not in page.text
    assert "Content-Disposition" not in page.headers


def test_the_download_is_an_uncached_json_attachment(
    client: FlaskClient, settings: Settings, ann: Reader
) -> None:
    response = press_button(client, path(settings, ann, "data"))
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"] == 'attachment; filename="tend-my-data.json"'
    assert response.headers["Cache-Control"] == "no-store"


def test_the_download_has_the_documented_keys(
    client: FlaskClient, settings: Settings, ann: Reader
) -> None:
    data = download(client, settings, ann)
    assert set(data) == {
        "exported_at",
        "profile",
        "consent",
        "enrollments",
        "memberships",
        "deliveries",
    }
    assert set(data["profile"]) == {"email", "first_name", "timezone", "status", "created_at"}
    assert set(data["consent"]) == set(privacy.CONSENT_FIELDS)
    assert {"consent_at", "unsubscribed_at", "unsubscribe_channel"} <= set(data["consent"])
    assert [set(enrollment) for enrollment in data["enrollments"]] == [
        {"course", "state", "position", "started_at", "paused_until", "pace", "completed_at"}
    ]
    assert {frozenset(membership) for membership in data["memberships"]} == {
        frozenset({"list", "joined_at", "left_at"})
    }
    assert {frozenset(delivery) for delivery in data["deliveries"]} == {
        frozenset({"kind", "course", "lesson", "issue", "status", "sent_at", "created_at"})
    }


def test_the_download_holds_the_readers_data(
    client: FlaskClient, settings: Settings, ann: Reader
) -> None:
    data = download(client, settings, ann)
    assert data["profile"] == {
        "email": ANN,
        "first_name": "Ann.Reader",
        "timezone": "UTC",
        "status": "active",
        "created_at": "2026-03-02T09:30:00+00:00",
    }
    assert data["consent"]["consent_ip"] == "192.0.2.7"
    assert data["consent"]["consent_source"] == "hosted form"
    assert data["consent"]["confirmed_at"] == "2026-03-02T09:30:00+00:00"
    assert data["consent"]["unsubscribed_at"] is None
    (enrollment,) = data["enrollments"]
    assert enrollment["course"] == "softening-sessions"
    assert (enrollment["state"], enrollment["position"], enrollment["pace"]) == ("active", 0, 1)
    lists = {membership["list"]: membership for membership in data["memberships"]}
    assert set(lists) == {"remember-and-reclaim", "softening-sessions"}
    assert lists["softening-sessions"]["left_at"] is None
    letters = {delivery["kind"]: delivery for delivery in data["deliveries"]}
    assert set(letters) == {"confirmation", "lesson", "issue"}
    assert (letters["lesson"]["course"], letters["lesson"]["lesson"]) == (
        "softening-sessions",
        "welcome",
    )
    assert letters["issue"]["issue"] == "remember-and-reclaim/spring"
    assert letters["issue"]["course"] is None
    assert letters["lesson"]["status"] == "sent"


def test_every_time_in_the_download_is_iso_8601_utc(
    client: FlaskClient, settings: Settings, ann: Reader
) -> None:
    data = download(client, settings, ann)
    times = [data["exported_at"], data["profile"]["created_at"], data["consent"]["consent_at"]]
    times += [row["started_at"] for row in data["enrollments"]]
    times += [row["joined_at"] for row in data["memberships"]]
    times += [row["created_at"] for row in data["deliveries"]]
    for value in times:
        moment = datetime.fromisoformat(value)
        assert moment.utcoffset() == timedelta(0), value


def test_the_download_has_nothing_internal_and_nothing_of_another_reader(
    client: FlaskClient, settings: Settings, ann: Reader, ben: Reader
) -> None:
    response = press_button(client, path(settings, ann, "data"))
    keys = all_keys(json.loads(response.text))
    assert not {key for key in keys if key in {"id", "uid"} or key.endswith("_id")}
    assert not {key for key in keys if "token" in key or "hash" in key or "provider" in key}
    token = path(settings, ann, "data").split("/")[2]
    for internal in (ann.uid, token, f"provider-{ann.uid}", "message-", "c0ffee"):
        assert internal not in response.text
    for theirs in (BEN, ben.uid):
        assert theirs not in response.text


# Forms and tokens


@pytest.mark.parametrize("action", ["data", "erase"])
def test_a_post_without_its_form_token_is_refused(
    client: FlaskClient, settings: Settings, ann: Reader, action: str
) -> None:
    client.get(path(settings, ann, action))
    response = client.post(path(settings, ann, action), data={})
    assert response.status_code == 400
    assert "Please try that again" in response.text
    assert ANN not in response.text
    assert rows_of(ann.id)["subscribers"] == 1


@pytest.mark.parametrize("action", ["data", "erase"])
def test_a_tampered_token_never_shows_or_changes_a_readers_data(
    client: FlaskClient, settings: Settings, ann: Reader, action: str
) -> None:
    good = path(settings, ann, action)
    token = good.split("/")[2]
    form = {"csrf_token": csrf_token(client, good)}
    for bad in (token[:-3] + "xyz", token[: len(token) // 2], "nonsense", ann.uid):
        for response in (
            client.get(f"/p/{bad}/{action}"),
            client.post(f"/p/{bad}/{action}", data=form),
        ):
            assert response.status_code == 400, bad
            assert "This link doesn’t work" in response.text
            assert ANN not in response.text
    assert rows_of(ann.id) == ALL_OF_ANNS


@pytest.mark.parametrize("purpose", [Purpose.UNSUBSCRIBE, Purpose.CONFIRM])
def test_a_link_for_another_purpose_opens_neither_page(
    client: FlaskClient, settings: Settings, ann: Reader, purpose: Purpose
) -> None:
    form = {"csrf_token": csrf_token(client, path(settings, ann, "data"))}
    for action in ("data", "erase"):
        url = path(settings, ann, action, purpose).replace("/u/", "/p/").replace("/confirm/", "/p/")
        assert client.post(url, data=form).status_code == 400
    assert rows_of(ann.id)["subscribers"] == 1


def test_another_readers_link_shows_and_erases_only_that_reader(
    client: FlaskClient, settings: Settings, ann: Reader, ben: Reader
) -> None:
    theirs = download(client, settings, ben)
    assert theirs["profile"]["email"] == BEN
    assert ANN.lower() not in json.dumps(theirs).lower()
    assert press_button(client, path(settings, ben, "erase")).status_code == 200
    assert rows_of(ann.id) == ALL_OF_ANNS
    assert download(client, settings, ann)["profile"]["email"] == ANN


# Erasing


def test_the_erase_page_says_what_happens_and_a_get_deletes_nothing(
    client: FlaskClient, settings: Settings, ann: Reader
) -> None:
    page = client.get(path(settings, ann, "erase"))
    assert page.status_code == 200
    assert "Delete me" in page.text
    assert "cannot be undone" in page.text
    assert 'name="csrf_token"' in page.text
    assert rows_of(ann.id)["subscribers"] == 1


def test_erasing_removes_the_reader_and_all_of_theirs_and_leaves_others_untouched(
    client: FlaskClient, settings: Settings, ann: Reader, ben: Reader, issue: int
) -> None:
    bens_rows = rows_of(ben.id)
    assert events_naming(ANN) == 2
    response = press_button(client, path(settings, ann, "erase"))
    assert response.status_code == 200
    assert "All gone" in response.text
    assert rows_of(ann.id) == NONE_LEFT
    assert events_naming(ANN) == 0
    assert rows_of(ben.id) == bens_rows
    assert events_naming(BEN) == 2
    with session_scope() as session:
        assert session.get(Broadcast, issue) is not None, "the issue itself is not the reader's"


def test_after_erasing_only_a_hash_of_the_address_is_kept(
    client: FlaskClient, settings: Settings, ann: Reader, ben: Reader
) -> None:
    press_button(client, path(settings, ann, "erase"))
    assert [email.lower() for email in clear_suppressions() if email] == [BEN]
    with session_scope() as session:
        assert readers.is_suppressed(session, ANN.upper())
        assert readers.is_suppressed(session, ANN.lower())
        assert not readers.is_suppressed(session, "someone.else@example.org")
        (row,) = session.scalars(select(Suppression).where(Suppression.email.is_(None)))
        assert (row.reason, row.source) == ("erased", "reader")
        assert row.email_hash == privacy.address_hash(ANN, settings.require_secret_key()[0])
        assert "ann" not in (row.email_hash or "").lower()


def test_a_signup_with_an_erased_address_is_answered_alike_and_sends_nothing(
    client: FlaskClient, settings: Settings, ann: Reader
) -> None:
    press_button(client, path(settings, ann, "erase"))
    erased = sign_up(client, ANN.upper())
    unknown = sign_up(client, "new.reader@example.org")
    assert (erased.status_code, erased.headers["Location"]) == (
        unknown.status_code,
        unknown.headers["Location"],
    )
    with session_scope() as session:
        emails = session.scalars(select(Subscriber.email)).all()
        kinds = session.scalars(select(Delivery.kind)).all()
    assert ANN.lower() not in [email.lower() for email in emails]
    assert kinds == [DeliveryKind.CONFIRMATION], "only the unknown address is sent a link"


def test_erasing_twice_is_a_friendly_page(
    client: FlaskClient, settings: Settings, ann: Reader
) -> None:
    form = {"csrf_token": csrf_token(client, path(settings, ann, "erase"))}
    assert client.post(path(settings, ann, "erase"), data=form).status_code == 200
    for response in (
        client.post(path(settings, ann, "erase"), data=form),
        client.get(path(settings, ann, "erase")),
        client.get(path(settings, ann, "data")),
        client.post(path(settings, ann, "data"), data=form),
    ):
        assert response.status_code == 404
        assert "We keep nothing about the reader of this link" in response.text
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Suppression)) == 1


def test_the_log_says_what_happened_without_the_address(
    client: FlaskClient, settings: Settings, ann: Reader, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="tasks.privacy"):
        press_button(client, path(settings, ann, "data"))
        press_button(client, path(settings, ann, "erase"))
    records = [record for record in caplog.records if record.name == "tasks.privacy"]
    assert [record.getMessage() for record in records] == [
        "reader downloaded their data",
        "reader erased at their request",
    ]
    for record in records:
        assert record.__dict__["subscriber"] == ann.id
        logged = json.dumps(record.__dict__, default=str).lower()
        assert ANN.lower() not in logged
        assert ann.uid.lower() not in logged


# The hash and the schema


def test_the_address_hash_ignores_case_and_depends_on_the_key() -> None:
    key, other = "k" * 40, "o" * 40
    digest = privacy.address_hash("Ann@Example.org", key)
    assert digest == privacy.address_hash("ann@example.org", key)
    assert digest != privacy.address_hash("ann@example.org", other)
    assert len(digest) == 64
    assert int(digest, 16) >= 0


def test_hash_only_rows_share_the_case_blind_address_index(db: None) -> None:
    with session_scope() as session:
        session.add_all(
            [
                Suppression(email_hash="a" * 64, reason="erased"),
                Suppression(email_hash="b" * 64, reason="erased"),
                Suppression(email="reader@example.org", reason="bounce"),
            ]
        )
    with pytest.raises(IntegrityError), session_scope() as session:
        session.add(Suppression(email="READER@example.org", reason="complaint"))
    with pytest.raises(IntegrityError), session_scope() as session:
        session.add(Suppression(email_hash="a" * 64, reason="erased"))

"""Leaving: the page offers a pause instead, the goodbye says what leaving means, and the
RFC 8058 one-click POST works as a mail provider sends it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from core.config import Settings
from core.db import session_scope
from core.models import Enrollment, EnrollmentState, Membership, Subscriber, SubscriberStatus
from core.tokens import Purpose, Signer
from courses.model import Catalog
from tasks import enrollments, readers
from tests.support.readers import active_reader, enrollment_of
from tests.support.web import csrf_token

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
PAUSE_INSTEAD = "Pause everything for 4 weeks instead"


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def uid(db: None, catalog: Catalog) -> str:
    _, uid = active_reader(catalog, NOW)
    return uid


def path_for(settings: Settings, purpose: Purpose, uid: str) -> str:
    prefix = "/u/" if purpose is Purpose.UNSUBSCRIBE else "/p/"
    return prefix + Signer(settings.require_secret_key()).sign(purpose, uid)


def reader(uid: str) -> Subscriber:
    with session_scope() as session:
        found = session.scalars(select(Subscriber).where(Subscriber.uid == uid)).one()
        session.expunge(found)
        return found


def memberships(uid: str) -> list[Membership]:
    with session_scope() as session:
        query = select(Membership).where(Membership.subscriber_id == reader(uid).id)
        return list(session.scalars(query))


def enrollment(uid: str) -> Enrollment:
    return enrollment_of(reader(uid).id)


def pause_instead(client: FlaskClient, page: str) -> None:
    response = client.post(f"{page}/pause", data={"csrf_token": csrf_token(client, page)})
    assert response.status_code == 303
    assert response.headers["Location"] == page


def test_the_leave_page_offers_a_pause_beside_unsubscribing(
    client: FlaskClient, settings: Settings, uid: str
) -> None:
    page = client.get(path_for(settings, Purpose.UNSUBSCRIBE, uid))
    assert page.status_code == 200
    assert "Unsubscribe me" in page.text
    assert PAUSE_INSTEAD in page.text
    assert "Softening Sessions will wait for 4 weeks" in page.text
    assert "Remember and Reclaim still comes" in page.text, "the pause is honest about issues"
    assert f'href="{path_for(settings, Purpose.PREFERENCES, uid)}"' in page.text
    assert reader(uid).status is SubscriberStatus.ACTIVE, "opening the page changes nothing"


def test_pausing_instead_pauses_every_active_course_for_four_weeks_and_unsubscribes_nothing(
    client: FlaskClient, settings: Settings, uid: str
) -> None:
    page = path_for(settings, Purpose.UNSUBSCRIBE, uid)
    pause_instead(client, page)
    paused = enrollment(uid)
    assert paused.state is EnrollmentState.PAUSED
    assert paused.paused_until == NOW + timedelta(weeks=4)
    assert paused.next_due_at == NOW + timedelta(weeks=4)
    still = reader(uid)
    assert (still.status, still.unsubscribed_at) == (SubscriberStatus.ACTIVE, None)
    assert all(membership.left_at is None for membership in memberships(uid))
    note = client.get(page)
    assert "Your course is paused until 30 March 2026." in note.text
    assert 'role="status"' in note.text
    assert f'href="{path_for(settings, Purpose.PREFERENCES, uid)}"' in note.text
    assert "Unsubscribe me" in note.text, "leaving is still one press away"


def test_pausing_instead_leaves_a_course_already_paused_or_finished_as_it_is(
    client: FlaskClient, settings: Settings, uid: str
) -> None:
    with session_scope() as session:
        enrollments.pause(session.merge(enrollment(uid)), None)
    page = path_for(settings, Purpose.UNSUBSCRIBE, uid)
    assert PAUSE_INSTEAD not in client.get(page).text, "nothing going on: nothing to offer"
    pause_instead(client, page)
    assert enrollment(uid).paused_until is None, "paused until they resume, as they chose"
    assert "There was nothing to pause" in client.get(page).text


def test_pausing_instead_needs_the_forms_token(
    client: FlaskClient, settings: Settings, uid: str
) -> None:
    page = path_for(settings, Purpose.UNSUBSCRIBE, uid)
    client.get(page)
    response = client.post(f"{page}/pause", data={})
    assert response.status_code == 400
    assert "Please try that again" in response.text
    assert enrollment(uid).state is EnrollmentState.ACTIVE


def test_pausing_instead_with_a_tampered_token_changes_nothing(
    client: FlaskClient, settings: Settings, uid: str
) -> None:
    good = path_for(settings, Purpose.UNSUBSCRIBE, uid)
    token = csrf_token(client, good)
    preferences_token = path_for(settings, Purpose.PREFERENCES, uid).removeprefix("/p/")
    for bad in (good[:-3] + "abc", "/u/nonsense", "/u/" + preferences_token):
        response = client.post(f"{bad}/pause", data={"csrf_token": token})
        assert response.status_code == 400, bad
        assert "This link doesn’t work" in response.text
    assert enrollment(uid).state is EnrollmentState.ACTIVE


def test_a_reader_who_left_is_not_paused_back_into_anything(
    client: FlaskClient, settings: Settings, uid: str
) -> None:
    with session_scope() as session:
        readers.unsubscribe(session, uid, "one-click", NOW)
    page = path_for(settings, Purpose.UNSUBSCRIBE, uid)
    assert PAUSE_INSTEAD not in client.get(page).text
    pause_instead(client, page)
    assert enrollment(uid).state is EnrollmentState.CANCELLED
    assert reader(uid).status is SubscriberStatus.UNSUBSCRIBED


def test_the_goodbye_says_nothing_more_will_come_and_offers_the_way_back(
    client: FlaskClient, settings: Settings, uid: str
) -> None:
    page = path_for(settings, Purpose.UNSUBSCRIBE, uid)
    goodbye = client.post(page, data={"csrf_token": csrf_token(client, page)})
    assert goodbye.status_code == 200
    assert "You won’t hear from us again" in goodbye.text
    assert "nothing more will come" in goodbye.text
    assert "Changed your mind?" in goodbye.text
    assert '<a href="/">Sign up again</a>' in goodbye.text
    assert enrollment(uid).state is EnrollmentState.CANCELLED
    assert reader(uid).unsubscribe_channel == "unsubscribe page"


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_one_click_still_unsubscribes_at_once_without_cookie_token_or_redirect(
    app: Flask, settings: Settings, uid: str, content_type: str
) -> None:
    mail_provider = app.test_client(use_cookies=False)
    path = path_for(settings, Purpose.UNSUBSCRIBE, uid)
    body = {"List-Unsubscribe": "One-Click"}
    first = mail_provider.post(path, data=body, content_type=content_type)
    assert first.status_code == 200
    assert "Location" not in first.headers
    assert "Set-Cookie" not in first.headers
    left = reader(uid)
    assert (left.status, left.unsubscribe_channel) == (SubscriberStatus.UNSUBSCRIBED, "one-click")
    assert left.unsubscribed_at == NOW
    assert enrollment(uid).state is EnrollmentState.CANCELLED
    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        again = mail_provider.post(path, data=body, content_type=content_type)
    assert again.status_code == 200, "providers retry: the second POST is harmless"
    assert reader(uid).unsubscribed_at == NOW, "the first time is the one recorded"

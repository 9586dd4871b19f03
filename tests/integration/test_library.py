"""A reader's library: the letters they have received open on the web, the rest stay locked."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy import delete

from core.config import Settings
from core.db import session_scope
from core.links import link
from core.models import Subscriber
from core.tokens import Purpose, Signer
from courses.model import Catalog
from emails.transports import OutboxTransport
from tasks import readers, schedule
from tasks.sending import Sender
from tests.support import outbox
from tests.support.readers import active_reader
from web import context

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
COURSE = "softening-sessions"
# The demo course's first two lessons, and the shipped newsletter's first issue day.
WELCOME, SECOND = "welcome", "acknowledge"
PARIS_MORNING = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)  # 08:00 in Europe/Paris


def library_path(settings: Settings, uid: str) -> str:
    return "/library/" + Signer(settings.require_secret_key()).sign(Purpose.PREFERENCES, uid)


def send_due(catalog: Catalog, settings: Settings, now: datetime) -> list[int]:
    """Tick, then send everything the tick found due through the outbox."""
    report = schedule.tick(catalog, now)
    ids = [delivery for batch in report.batches.values() for delivery in batch]
    Sender(settings, catalog, OutboxTransport(settings.outbox_dir)).send(ids, now)
    return ids


def reader_named(catalog: Catalog, email: str, first_name: str, **where: str) -> str:
    _, uid = active_reader(catalog, NOW, email=email, **where)
    with session_scope() as session:
        session.query(Subscriber).filter_by(uid=uid).update({"first_name": first_name})
    return uid


def test_a_received_lesson_opens_and_the_rest_are_locked_without_links(
    client: FlaskClient, catalog: Catalog, settings: Settings
) -> None:
    _, uid = active_reader(catalog, NOW)
    send_due(catalog, settings, NOW)
    assert len(outbox.messages(settings.outbox_dir)) == 1, "the welcome went out"
    library = library_path(settings, uid)
    page = client.get(library)
    assert page.status_code == 200
    assert '<h2 id="shelf-1">Softening Sessions</h2>' in page.text
    assert f'href="{library}/{COURSE}/{WELCOME}"' in page.text
    assert "received 4 May 2026" in page.text
    assert "The step everyone skips · not yet open: arrives later" in page.text
    for lesson in catalog[COURSE].lessons[1:]:
        assert f"/{COURSE}/{lesson.slug}" not in page.text
    assert f'href="/p/{library.removeprefix("/library/")}"' in page.text
    letter = client.get(f"{library}/{COURSE}/{WELCOME}")
    assert letter.status_code == 200
    assert "Welcome to Softening Sessions" in letter.text
    assert "%%" not in letter.text


def test_a_locked_lesson_is_not_there_even_by_its_address(
    client: FlaskClient, catalog: Catalog, settings: Settings
) -> None:
    _, uid = active_reader(catalog, NOW)
    send_due(catalog, settings, NOW)
    library = library_path(settings, uid)
    for path in (f"{COURSE}/{SECOND}", f"{COURSE}/no-such-lesson", f"nothing/{WELCOME}"):
        response = client.get(f"{library}/{path}")
        assert response.status_code == 404, path
        assert "This page isn’t here" in response.text


def test_a_tampered_token_is_refused(
    client: FlaskClient, catalog: Catalog, settings: Settings
) -> None:
    _, uid = active_reader(catalog, NOW)
    send_due(catalog, settings, NOW)
    _, other = active_reader(catalog, NOW, email="other@example.org")
    _, stamp, signature = library_path(settings, uid).removeprefix("/library/").split(".")
    # The first character of the signature: the last may only carry unused padding bits.
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    for token in (f"{other}.{stamp}.{signature}", f"{uid}.{stamp}.{flipped}"):
        for path in (f"/library/{token}", f"/library/{token}/{COURSE}/{WELCOME}"):
            response = client.get(path)
            assert response.status_code == 400, path
            assert "This link doesn’t work" in response.text


def test_each_token_opens_only_its_own_readers_library(
    client: FlaskClient, catalog: Catalog, settings: Settings
) -> None:
    _, first = active_reader(catalog, NOW, email="first@example.org")
    send_due(catalog, settings, NOW)
    _, second = active_reader(catalog, NOW, email="second@example.org")
    first_library, second_library = library_path(settings, first), library_path(settings, second)
    assert f"/{COURSE}/{WELCOME}" in client.get(first_library).text
    page = client.get(second_library)
    assert page.status_code == 200
    assert "Welcome to Softening Sessions · not yet open: arrives later" in page.text
    assert "/library/" not in page.text.replace(second_library, ""), "no other reader's links"
    assert client.get(f"{second_library}/{COURSE}/{WELCOME}").status_code == 404


def test_the_letter_greets_the_reader_by_name_with_their_own_links(
    client: FlaskClient, catalog: Catalog, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    greeting = with_greeting(catalog, WELCOME)
    monkeypatch.setattr(context, "catalog", lambda: greeting)
    uid = reader_named(greeting, "ann@example.org", "Ann")
    send_due(greeting, settings, NOW)
    page = client.get(f"{library_path(settings, uid)}/{COURSE}/{WELCOME}").text
    signer = Signer(settings.require_secret_key())
    assert "Dear Ann," in page
    assert link(settings.base_url, signer, Purpose.UNSUBSCRIBE, uid) in page
    assert link(settings.base_url, signer, Purpose.PREFERENCES, uid) in page
    assert "%%" not in page


def with_greeting(catalog: Catalog, slug: str) -> Catalog:
    """The demo course with a lesson that greets its reader (the shipped ones do not)."""
    course = catalog[COURSE]
    lessons = tuple(
        dataclasses.replace(
            lesson,
            body='Dear {{ reader.first_name | default("friend") }},\n\n' + lesson.body,
            source_hash="greeting-" + lesson.source_hash,  # renders are cached on this
        )
        if lesson.slug == slug
        else lesson
        for lesson in course.lessons
    )
    courses = {**catalog.courses, COURSE: dataclasses.replace(course, lessons=lessons)}
    return dataclasses.replace(catalog, courses=courses)


def test_a_lesson_removed_from_the_course_since_it_was_sent_is_left_out(
    client: FlaskClient, catalog: Catalog, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, uid = active_reader(catalog, NOW)
    send_due(catalog, settings, NOW)
    course = catalog[COURSE]
    shorter = dataclasses.replace(course, lessons=course.lessons[1:])
    edited = dataclasses.replace(catalog, courses={**catalog.courses, COURSE: shorter})
    monkeypatch.setattr(context, "catalog", lambda: edited)
    library = library_path(settings, uid)
    page = client.get(library)
    assert page.status_code == 200
    assert "Welcome to Softening Sessions" not in page.text
    assert "The step everyone skips · not yet open: arrives later" in page.text
    assert client.get(f"{library}/{COURSE}/{WELCOME}").status_code == 404


def test_a_newsletter_issue_shows_up_once_received(
    client: FlaskClient, catalog: Catalog, settings: Settings
) -> None:
    uid = reader_named(catalog, "ann@example.org", "Ann", timezone="Europe/Paris")
    send_due(catalog, settings, NOW)
    library = library_path(settings, uid)
    assert "Remember and Reclaim" not in client.get(library).text
    send_due(catalog, settings, PARIS_MORNING)
    page = client.get(library).text
    assert "Remember and Reclaim" in page
    issue = f"{library}/remember-and-reclaim/naming-the-weather"
    assert f'href="{issue}"' in page
    assert "received 1 December 2026" in page  # the reader's own day
    assert "The longer table · not yet open: arrives later" in page
    letter = client.get(issue)
    assert letter.status_code == 200
    assert "Dear Ann," in letter.text


def test_a_reader_who_left_keeps_what_they_received(
    client: FlaskClient, catalog: Catalog, settings: Settings
) -> None:
    _, uid = active_reader(catalog, NOW)
    send_due(catalog, settings, NOW)
    with session_scope() as session:
        readers.unsubscribe(session, uid, "test", NOW)
    library = library_path(settings, uid)
    page = client.get(library).text
    assert f'href="{library}/{COURSE}/{WELCOME}"' in page
    assert "The step everyone skips · not sent to you" in page
    assert "arrives later" not in page
    assert client.get(f"{library}/{COURSE}/{WELCOME}").status_code == 200


def test_a_good_link_to_a_deleted_reader_is_a_friendly_404(
    client: FlaskClient, catalog: Catalog, settings: Settings
) -> None:
    _, uid = active_reader(catalog, NOW)
    send_due(catalog, settings, NOW)
    with session_scope() as session:
        session.execute(delete(Subscriber).where(Subscriber.uid == uid))
    library = library_path(settings, uid)
    for path in (library, f"{library}/{COURSE}/{WELCOME}"):
        response = client.get(path)
        assert response.status_code == 404
        assert "This page isn’t here" in response.text

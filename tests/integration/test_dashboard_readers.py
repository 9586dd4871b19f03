"""The dashboard's readers: search and filters, a reader's page with their consent record
and timeline, and the actions an admin takes for a reader, which change what the reader's
own page shows exactly as the reader's own buttons would."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from flask.testing import FlaskClient
from sqlalchemy import insert, select
from werkzeug.test import TestResponse

from core.config import Settings
from core.db import session_scope
from core.models import (
    Delivery,
    DeliveryStatus,
    Enrollment,
    EnrollmentState,
    Event,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from core.tokens import Purpose, Signer
from courses.model import Catalog
from emails.transports import OutboxTransport
from tasks import readers, schedule
from tasks.privacy import address_hash, hash_key
from tasks.reports import directory
from tasks.sending import Sender
from tests.support import outbox
from tests.support.broker import queued_sends
from tests.support.operators import form_token
from tests.support.worker import celery_worker

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
COURSE, COURSE_TITLE, LIST = "softening-sessions", "Softening Sessions", "remember-and-reclaim"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"
XSS = "<script>alert(1)</script>"


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def signed_up(
    catalog: Catalog, email: str, first_name: str | None = None, *, confirm: bool = True
) -> int:
    """A reader who signed up on the hosted form (and confirmed): their id."""
    signup = readers.Signup(
        email=email,
        first_name=first_name,
        timezone="Europe/Paris",
        ip="192.0.2.7",
        user_agent=BROWSER,
        source="hosted form",
        consent_text_version="2026-01",
    )
    with session_scope() as session:
        readers.subscribe(session, signup, NOW - timedelta(hours=1))
        reader = readers.find_by_email(session, email)
        assert reader is not None
        if confirm:
            readers.confirm(session, reader.uid, catalog, NOW, ip="198.51.100.9", user_agent="Mail")
        return reader.id


def many_readers(count: int, status: SubscriberStatus = SubscriberStatus.ACTIVE) -> list[int]:
    with session_scope() as session:
        rows = [
            {"uid": f"many{n}", "email": f"many{n:03}@example.org", "status": status,
             "created_at": NOW}
            for n in range(count)
        ]  # fmt: skip
        statement = insert(Subscriber).returning(Subscriber.id, sort_by_parameter_order=True)
        return [row.id for row in session.execute(statement, rows)]


def shown(client: FlaskClient, **args: str) -> list[str]:
    """The addresses the readers' list shows for a search, in their order."""
    page = client.get("/dashboard/readers", query_string=args)
    assert page.status_code == 200
    return re.findall(r'<a href="/dashboard/readers/\d+">([^<]+)</a>', page.text)


def uid_of(reader_id: int) -> str:
    with session_scope() as session:
        reader = session.get(Subscriber, reader_id)
        assert reader is not None
        return reader.uid


def own_page(client: FlaskClient, settings: Settings, reader_id: int) -> TestResponse:
    """The reader's own preferences page, from the signed link in their letters."""
    token = Signer(settings.require_secret_key()).sign(Purpose.PREFERENCES, uid_of(reader_id))
    return client.get(f"/p/{token}")


def act(client: FlaskClient, reader_id: int, action: str, **fields: str) -> TestResponse:
    """Press one of the reader page's buttons, as an operator's browser would."""
    form = {"csrf_token": form_token(client), **fields}
    return client.post(f"/dashboard/readers/{reader_id}/{action}", data=form)


def act_and_look(client: FlaskClient, reader_id: int, action: str, **fields: str) -> str:
    """Act, follow the redirect back to the reader's page, and return that page."""
    answer = act(client, reader_id, action, **fields)
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"/dashboard/readers/{reader_id}"
    page = client.get(answer.headers["Location"])
    assert page.status_code == 200
    return page.text


def enrollment(reader_id: int) -> Enrollment:
    with session_scope() as session:
        found = session.scalars(select(Enrollment).where(Enrollment.subscriber_id == reader_id))
        return found.one()


def welcome_sent(catalog: Catalog, settings: Settings, reader_id: int) -> int:
    """Tick and send: the reader's welcome lesson, sent; its delivery id."""
    report = schedule.tick(catalog, NOW)
    ids = [delivery_id for ids in report.batches.values() for delivery_id in ids]
    Sender(settings, catalog, OutboxTransport(settings.outbox_dir)).send(ids, NOW)
    with session_scope() as session:
        query = select(Delivery).where(
            Delivery.subscriber_id == reader_id, Delivery.lesson.is_not(None)
        )
        delivery = session.scalars(query).one()
        assert delivery.status is DeliveryStatus.SENT
        return delivery.id


def status_of(delivery_id: int) -> DeliveryStatus:
    with session_scope() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        return delivery.status


# Search and filters


def test_a_search_finds_readers_by_the_start_of_their_address(
    admin: FlaskClient, catalog: Catalog
) -> None:
    for email in ("ann@example.org", "anna@example.net", "bob@example.org"):
        signed_up(catalog, email)
    assert shown(admin, q="ANN") == ["anna@example.net", "ann@example.org"]
    assert shown(admin, q="ann@") == ["ann@example.org"]
    assert shown(admin, q="example") == [], "an address matches from its start only"


def test_a_search_finds_readers_by_first_name_ignoring_case(
    admin: FlaskClient, catalog: Catalog
) -> None:
    signed_up(catalog, "one@example.org", "Maria")
    signed_up(catalog, "two@example.org", "Marianne")
    signed_up(catalog, "three@example.org", "Tom")
    assert shown(admin, q="maria") == ["two@example.org", "one@example.org"]
    assert shown(admin, q="TOM") == ["three@example.org"]


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("a_", ["a_b@example.org"]),
        ("a%", ["a%c@example.org"]),
        ("%", []),
        ("_", []),
        ("a\\", ["a\\d@example.org"]),
    ],
)
def test_percent_underscore_and_backslash_in_a_search_match_only_themselves(
    admin: FlaskClient, catalog: Catalog, query: str, found: list[str]
) -> None:
    for email in ("axb@example.org", "a_b@example.org", "a%c@example.org", "a\\d@example.org"):
        signed_up(catalog, email, confirm=False)
    assert shown(admin, q=query) == found


def test_filters_by_status_list_and_course(admin: FlaskClient, catalog: Catalog) -> None:
    reading = signed_up(catalog, "reading@example.org")
    signed_up(catalog, "pending@example.org", confirm=False)
    left_list = signed_up(catalog, "left-list@example.org")
    with session_scope() as session:
        reader = session.get(Subscriber, left_list)
        assert reader is not None
        readers.unsubscribe(session, reader.uid, "test", NOW)
    assert shown(admin, status="pending") == ["pending@example.org"]
    assert shown(admin, status="unsubscribed") == ["left-list@example.org"]
    assert shown(admin, list=LIST) == ["reading@example.org"], "only readers on the list now"
    assert shown(admin, course=COURSE) == ["left-list@example.org", "reading@example.org"]
    assert shown(admin, course=COURSE, status="active") == ["reading@example.org"]
    assert shown(admin, course="no-such-course") == []
    assert shown(admin, status="nonsense") == shown(admin), "an unknown status filters nothing"
    assert reading


def test_readers_come_fifty_a_page_newest_first_with_newer_and_older_links(
    admin: FlaskClient,
) -> None:
    ids = many_readers(120)
    first = admin.get("/dashboard/readers", query_string={"status": "active"})
    addresses = re.findall(r">(many\d+@example.org)<", first.text)
    assert addresses == [f"many{n:03}@example.org" for n in range(119, 69, -1)]
    assert "Newer" not in first.text
    older = re.search(r'href="(/dashboard/readers\?[^"]*before=\d+[^"]*)"', first.text)
    assert older, "the first page links to older readers"
    second = admin.get(older.group(1).replace("&amp;", "&"))
    assert re.findall(r">(many\d+)@", second.text)[0] == "many069"
    assert "status=active" in older.group(1), "the link keeps the filters"
    last = admin.get("/dashboard/readers", query_string={"before": str(ids[20])})
    assert len(re.findall(r">many\d+@", last.text)) == 20
    assert "Older" not in last.text
    newer = re.search(r'href="(/dashboard/readers\?after=\d+)"', last.text)
    assert newer, "the last page links to newer readers"
    back = admin.get(newer.group(1))
    assert re.findall(r">(many\d+)@", back.text) == [f"many{n:03}" for n in range(69, 19, -1)]
    assert "120 readers match." in first.text


def test_the_count_of_matching_readers_stops_at_its_cap(db: None) -> None:
    many_readers(12)
    with session_scope() as session:
        assert directory.count_matching(session, directory.ReaderFilter(), cap=10) == (10, True)
        assert directory.count_matching(session, directory.ReaderFilter(), cap=12) == (12, False)
        page = directory.search(session, directory.ReaderFilter(query="many01"), size=5)
    assert [row.email for row in page.rows] == ["many011@example.org", "many010@example.org"]
    assert (page.newer, page.older) == (None, None)


def test_an_empty_search_says_so(admin: FlaskClient) -> None:
    page = admin.get("/dashboard/readers", query_string={"q": "nobody"})
    assert "No readers match this search." in page.text


# A reader's page


def test_the_readers_page_shows_the_consent_record_courses_lists_and_timeline(
    admin: FlaskClient, catalog: Catalog, settings: Settings
) -> None:
    reader_id = signed_up(catalog, "ann@example.org", "Ann")
    delivery_id = welcome_sent(catalog, settings, reader_id)
    with session_scope() as session:
        session.add(
            Event(
                provider="sendgrid",
                provider_event_id="event-1",
                delivery_id=delivery_id,
                type="deferred",
                occurred_at=NOW + timedelta(minutes=5),
                payload={"email": "ann@example.org", "response": "mailbox busy, try later"},
            )
        )
    page = admin.get(f"/dashboard/readers/{reader_id}")
    assert page.status_code == 200
    text = page.text
    for fact in ("ann@example.org", "Ann", "Europe/Paris", "192.0.2.7", BROWSER, "hosted form",
                 "2026-01", "198.51.100.9", "2026-03-02 09:00", "2026-03-02 10:00"):  # fmt: skip
        assert fact in text, fact
    assert COURSE_TITLE in text
    assert LIST in text
    timeline = text[text.index('id="timeline"') :]
    for entry in ("event: deferred", "mailbox busy, try later", "lesson",
                  f"{COURSE}/{catalog[COURSE].lessons[0].slug}", "sent", "confirmed",
                  "signed up", "enrolled"):  # fmt: skip
        assert entry in timeline, entry
    assert timeline.index("event: deferred") < timeline.index("signed up"), "newest first"


def test_an_unknown_reader_has_a_friendly_page(admin: FlaskClient) -> None:
    page = admin.get("/dashboard/readers/999")
    assert page.status_code == 404
    assert "No such reader" in page.text
    assert "Log out" in page.text, "inside the dashboard, not a bare error"


def test_a_script_in_a_first_name_is_only_ever_text(admin: FlaskClient, catalog: Catalog) -> None:
    reader_id = signed_up(catalog, "xss@example.org", XSS)
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    for path in ("/dashboard/readers", f"/dashboard/readers/{reader_id}"):
        page = admin.get(path)
        assert XSS not in page.text, path
        assert escaped in page.text, path
    assert shown(admin, q="<script") == ["xss@example.org"]


def test_a_viewer_sees_a_reader_without_the_buttons(viewer: FlaskClient, catalog: Catalog) -> None:
    reader_id = signed_up(catalog, "ann@example.org")
    page = viewer.get(f"/dashboard/readers/{reader_id}")
    assert page.status_code == 200
    assert "ann@example.org" in page.text
    for button in ("Pause 2 weeks", "Unsubscribe from everything", "Erase this reader"):
        assert button not in page.text
    assert act(viewer, reader_id, "unsubscribe").status_code == 403
    assert enrollment(reader_id).state is EnrollmentState.ACTIVE


# Actions


@pytest.mark.parametrize("weeks", ["2", "4"])
def test_an_admin_pauses_a_course_for_some_weeks_as_the_reader_would(
    admin: FlaskClient, client: FlaskClient, catalog: Catalog, settings: Settings, weeks: str
) -> None:
    reader_id = signed_up(catalog, "ann@example.org")
    page = act_and_look(admin, reader_id, "pause", course=COURSE, weeks=weeks)
    until = NOW + timedelta(weeks=int(weeks))
    assert f"{COURSE_TITLE} is paused until {until.day} {until:%B %Y}" in page
    paused = enrollment(reader_id)
    assert (paused.state, paused.paused_until, paused.next_due_at) == (
        EnrollmentState.PAUSED, until, until)  # fmt: skip
    assert f"Paused until {until.day} {until:%B %Y}" in own_page(client, settings, reader_id).text


def test_an_admin_pauses_until_resumed_and_resumes(
    admin: FlaskClient, client: FlaskClient, catalog: Catalog, settings: Settings
) -> None:
    reader_id = signed_up(catalog, "ann@example.org")
    page = act_and_look(admin, reader_id, "pause", course=COURSE, weeks="")
    assert "paused until it is resumed" in page
    assert f'action="/dashboard/readers/{reader_id}/resume"' in page
    assert "Paused until you resume it" in own_page(client, settings, reader_id).text

    page = act_and_look(admin, reader_id, "resume", course=COURSE)
    assert f"{COURSE_TITLE} goes on from the next letter." in page
    assert enrollment(reader_id).state is EnrollmentState.ACTIVE
    assert enrollment(reader_id).next_due_at is not None
    assert "Going on at its usual pace" in own_page(client, settings, reader_id).text


def test_a_refused_action_changes_nothing_and_says_why(
    admin: FlaskClient, catalog: Catalog
) -> None:
    reader_id = signed_up(catalog, "ann@example.org")
    page = act_and_look(admin, reader_id, "resume", course=COURSE)
    assert "Nothing changed: the course is active, not paused." in page
    page = act_and_look(admin, reader_id, "pause", course="no-such-course", weeks="2")
    assert "Nothing changed: there is no course" in page
    page = act_and_look(admin, reader_id, "pause", course=COURSE, weeks="9")
    assert "Nothing changed" in page
    assert enrollment(reader_id).state is EnrollmentState.ACTIVE


def test_an_admin_unsubscribes_a_reader_from_everything(
    admin: FlaskClient, client: FlaskClient, catalog: Catalog, settings: Settings
) -> None:
    reader_id = signed_up(catalog, "ann@example.org")
    page = act_and_look(admin, reader_id, "unsubscribe")
    assert "Unsubscribed from everything" in page
    assert "operator:admin@example.org" in page, "the consent record says who did it"
    with session_scope() as session:
        reader = session.get(Subscriber, reader_id)
        assert reader is not None
        assert reader.status is SubscriberStatus.UNSUBSCRIBED
        assert reader.unsubscribe_channel == "operator:admin@example.org"
    assert enrollment(reader_id).state is EnrollmentState.CANCELLED
    assert "You unsubscribed on 2 March 2026" in own_page(client, settings, reader_id).text


def test_erasing_asks_first_then_leaves_only_a_hash(
    admin: FlaskClient, client: FlaskClient, catalog: Catalog, settings: Settings
) -> None:
    reader_id = signed_up(catalog, "ann@example.org", "Ann")
    welcome_sent(catalog, settings, reader_id)
    token = Signer(settings.require_secret_key()).sign(Purpose.PREFERENCES, uid_of(reader_id))
    confirm_page = admin.get(f"/dashboard/readers/{reader_id}/erase")
    assert confirm_page.status_code == 200
    assert 'name="confirm"' in confirm_page.text

    unconfirmed = act(admin, reader_id, "erase")
    assert unconfirmed.status_code == 303
    assert "Nothing was erased" in admin.get(unconfirmed.headers["Location"]).text
    assert admin.get(f"/dashboard/readers/{reader_id}").status_code == 200

    done = act(admin, reader_id, "erase", confirm="erase")
    assert done.status_code == 303
    assert "The reader is erased" in admin.get(done.headers["Location"]).text
    assert admin.get(f"/dashboard/readers/{reader_id}").status_code == 404
    assert client.get(f"/p/{token}").status_code == 404, "the reader's own page is gone too"
    with session_scope() as session:
        assert session.scalars(select(Delivery)).all() == []
        suppression = session.scalars(select(Suppression)).one()
        assert suppression.email is None
        assert suppression.email_hash == address_hash("ann@example.org", hash_key(settings))
        assert readers.is_suppressed(session, "Ann@Example.org")


def test_a_resent_lesson_reaches_the_reader_exactly_once_more(
    admin: FlaskClient, catalog: Catalog, settings: Settings
) -> None:
    reader_id = signed_up(catalog, "ann@example.org")
    delivery_id = welcome_sent(catalog, settings, reader_id)
    assert len(outbox.messages(settings.outbox_dir)) == 1

    page = act_and_look(admin, reader_id, "resend", delivery=str(delivery_id))
    assert "is queued to be sent again" in page
    assert status_of(delivery_id) is DeliveryStatus.QUEUED
    assert queued_sends(settings) == [[delivery_id]]
    again = act_and_look(admin, reader_id, "resend", delivery=str(delivery_id))
    assert "Nothing changed: the letter is queued already" in again, "a second press is refused"
    assert queued_sends(settings) == [[delivery_id]]

    # What the worker does with the queued task, twice over as a redelivered task would.
    sender = Sender(settings, catalog, OutboxTransport(settings.outbox_dir))
    assert sender.send([delivery_id], NOW).sent == [delivery_id]
    assert sender.send([delivery_id], NOW).sent == []
    sent = outbox.messages(settings.outbox_dir)
    assert len(sent) == 2
    assert sent[0]["Subject"] == sent[1]["Subject"]
    assert status_of(delivery_id) is DeliveryStatus.SENT


@pytest.mark.worker
def test_a_resent_lesson_goes_out_from_a_real_worker_once(
    admin: FlaskClient, catalog: Catalog, settings: Settings
) -> None:
    reader_id = signed_up(catalog, "ann@example.org")
    delivery_id = welcome_sent(catalog, settings, reader_id)
    with celery_worker() as log:
        act(admin, reader_id, "resend", delivery=str(delivery_id))
        outbox.wait_for(
            lambda: status_of(delivery_id) is DeliveryStatus.SENT,
            30.0,
            f"the resent lesson to be sent (worker log: {log})",
        )
    assert len(outbox.messages(settings.outbox_dir)) == 2
    assert Path(log).exists()


def test_a_suppressed_reader_is_not_sent_a_lesson_again(
    admin: FlaskClient, catalog: Catalog, settings: Settings
) -> None:
    reader_id = signed_up(catalog, "ann@example.org")
    delivery_id = welcome_sent(catalog, settings, reader_id)
    with session_scope() as session:
        session.add(Suppression(email="ann@example.org", reason="bounce", source="sendgrid"))
    page = act_and_look(admin, reader_id, "resend", delivery=str(delivery_id))
    assert "Nothing changed: the address is suppressed" in page
    assert status_of(delivery_id) is DeliveryStatus.SENT
    assert queued_sends(settings) == []
    assert len(outbox.messages(settings.outbox_dir)) == 1


def test_an_unsubscribed_reader_is_not_sent_a_lesson_again(
    admin: FlaskClient, catalog: Catalog, settings: Settings
) -> None:
    reader_id = signed_up(catalog, "ann@example.org")
    delivery_id = welcome_sent(catalog, settings, reader_id)
    act(admin, reader_id, "unsubscribe")
    page = act_and_look(admin, reader_id, "resend", delivery=str(delivery_id))
    assert "Nothing changed: the reader is unsubscribed" in page
    assert status_of(delivery_id) is DeliveryStatus.SENT
    assert queued_sends(settings) == []


def test_only_the_readers_own_lessons_can_be_sent_again(
    admin: FlaskClient, catalog: Catalog, settings: Settings
) -> None:
    ann = signed_up(catalog, "ann@example.org")
    bob = signed_up(catalog, "bob@example.org")
    schedule.tick(catalog, NOW)
    with session_scope() as session:
        query = select(Delivery.id).where(
            Delivery.subscriber_id == bob, Delivery.lesson.is_not(None)
        )
        bobs = session.scalars(query).one()
    page = act_and_look(admin, ann, "resend", delivery=str(bobs))
    assert "Nothing changed: that letter is not this reader" in page

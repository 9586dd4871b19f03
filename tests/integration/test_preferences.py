"""The reader's preferences page: it shows their courses and newsletters, and each button
changes the database as `tasks` promises, for the reader of the token and no one else."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from flask.testing import FlaskClient
from sqlalchemy import delete, select
from werkzeug.test import TestResponse

from core.config import Settings
from core.db import session_scope
from core.models import Enrollment, EnrollmentState, Membership, Subscriber, SubscriberStatus
from core.tokens import Purpose, Signer
from courses.model import Catalog
from tasks import enrollments, readers, schedule
from tests.support.readers import active_reader, enrollment_of
from tests.support.web import csrf_token

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
COURSE, COURSE_TITLE = "softening-sessions", "Softening Sessions"
NEWSLETTER, NEWSLETTER_TITLE = "remember-and-reclaim", "Remember and Reclaim"
COURSE_BUTTONS = (
    "Pause for 2 weeks",
    "Pause for 4 weeks",
    "Pause until I resume",
    "Slow down to half as often",
    "Restart from the first letter",
)


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def uid(db: None, catalog: Catalog) -> str:
    """An active reader in the demo course and on the demo newsletter's list."""
    _, uid = active_reader(catalog, NOW)
    return uid


def page_of(settings: Settings, uid: str, purpose: Purpose = Purpose.PREFERENCES) -> str:
    return "/p/" + Signer(settings.require_secret_key()).sign(purpose, uid)


def act(client: FlaskClient, page: str, route: str, **fields: str) -> TestResponse:
    """Press a button of the page: post its form, with the page's CSRF token."""
    return client.post(f"{page}/{route}", data={"csrf_token": csrf_token(client, page), **fields})


def course_action(client: FlaskClient, page: str, action: str, **fields: str) -> TestResponse:
    return act(client, page, "course", course=COURSE, action=action, **fields)


def reader(uid: str) -> Subscriber:
    with session_scope() as session:
        found = session.scalars(select(Subscriber).where(Subscriber.uid == uid)).one()
        session.expunge(found)
        return found


def enrollment(uid: str) -> Enrollment:
    return enrollment_of(reader(uid).id)


def membership(uid: str, name: str = NEWSLETTER) -> Membership:
    with session_scope() as session:
        query = select(Membership).where(
            Membership.subscriber_id == reader(uid).id, Membership.list == name
        )
        return session.scalars(query).one()


def assert_done(client: FlaskClient, response: TestResponse, page: str, message: str) -> None:
    """The change redirected back to the page, which now says what changed."""
    assert response.status_code == 303
    assert response.headers["Location"] == page
    shown = client.get(page)
    assert shown.status_code == 200
    assert message in shown.text
    assert 'role="status"' in shown.text


def test_the_page_shows_the_readers_courses_newsletters_and_details(
    client: FlaskClient, settings: Settings, catalog: Catalog, uid: str
) -> None:
    page = client.get(page_of(settings, uid))
    assert page.status_code == 200
    assert f'<h3 id="course-{COURSE}">{COURSE_TITLE}</h3>' in page.text
    assert "Going on at its usual pace. 0 of 5 letters." in page.text
    for label in COURSE_BUTTONS:
        assert f'{label}<span class="visually-hidden">: {COURSE_TITLE}</span>' in page.text
    assert "Resume where I left off" not in page.text, "an active course has nothing to resume"
    assert NEWSLETTER_TITLE in page.text
    assert "On: each new issue reaches you." in page.text
    assert 'option selected value="UTC"' in page.text
    assert '<label for="first_name">' in page.text
    assert "Unsubscribe from everything" in page.text


def test_an_operator_signed_in_to_the_dashboard_can_open_a_readers_page(
    admin: FlaskClient, settings: Settings, uid: str
) -> None:
    # The page renders inside its own transaction; the signed-in operator, read there for
    # the first time, needed a second one, which on SQLite waited out the busy timeout.
    response = admin.get(page_of(settings, uid))
    assert response.status_code == 200, response.text


def test_the_page_counts_the_letters_had_in_words(
    client: FlaskClient, settings: Settings, catalog: Catalog, uid: str
) -> None:
    for day in (0, 14, 28):
        schedule.tick(catalog, NOW + timedelta(days=day, hours=1))
    page = client.get(page_of(settings, uid))
    assert "3 of 5 letters" in page.text


@pytest.mark.parametrize("weeks", [2, 4])
def test_a_pause_for_some_weeks_ends_by_itself(
    client: FlaskClient, settings: Settings, uid: str, weeks: int
) -> None:
    page = page_of(settings, uid)
    response = course_action(client, page, "pause", weeks=str(weeks))
    until = NOW + timedelta(days=7 * weeks)
    assert_done(client, response, page, f"paused until {until.day} {until:%B %Y}")
    paused = enrollment(uid)
    assert paused.state is EnrollmentState.PAUSED
    assert paused.paused_until == until
    assert paused.next_due_at == until, "the tick picks it up again then"


def test_a_pause_until_i_resume_has_no_end(
    client: FlaskClient, settings: Settings, uid: str
) -> None:
    page = page_of(settings, uid)
    response = course_action(client, page, "pause")
    assert_done(client, response, page, "paused until you resume it")
    paused = enrollment(uid)
    assert paused.state is EnrollmentState.PAUSED
    assert (paused.paused_until, paused.next_due_at) == (None, None)
    assert "Resume where I left off" in client.get(page).text


def test_resuming_goes_on_from_the_next_letter_without_a_burst(
    client: FlaskClient, settings: Settings, catalog: Catalog, uid: str
) -> None:
    page = page_of(settings, uid)
    schedule.tick(catalog, NOW + timedelta(hours=1))  # the welcome
    course_action(client, page, "pause")
    later = NOW + timedelta(days=60)
    with time_machine.travel(later, tick=False):
        response = course_action(client, page, "resume")
        assert_done(client, response, page, "goes on from where you left off")
    resumed = enrollment(uid)
    assert resumed.state is EnrollmentState.ACTIVE
    assert resumed.position == 1, "the next lesson, not the first and not a later one"
    assert resumed.next_due_at is not None
    assert resumed.next_due_at.date() == later.date(), "due today, not weeks ago"
    report = schedule.tick(catalog, later + timedelta(hours=1))
    assert report.claimed == 1, "one letter, not the four missed while paused"


def test_slowing_down_halves_the_rhythm_and_the_usual_pace_restores_it(
    client: FlaskClient, settings: Settings, uid: str
) -> None:
    page = page_of(settings, uid)
    assert_done(client, course_action(client, page, "slow-down"), page, "half as often")
    assert enrollment(uid).pace == 2
    assert "Going on at half its usual pace" in client.get(page).text
    assert_done(client, course_action(client, page, "usual-pace"), page, "usual pace")
    assert enrollment(uid).pace == 1


def test_restarting_begins_again_from_the_first_letter(
    client: FlaskClient, settings: Settings, catalog: Catalog, uid: str
) -> None:
    page = page_of(settings, uid)
    for day in (0, 14):
        schedule.tick(catalog, NOW + timedelta(days=day, hours=1))
    with time_machine.travel(NOW + timedelta(days=20), tick=False):
        response = course_action(client, page, "restart")
        assert_done(client, response, page, "begins again from its first letter")
        assert "0 of 5 letters" in client.get(page).text
    again = enrollment(uid)
    assert (again.state, again.position, again.round) == (EnrollmentState.ACTIVE, 0, 2)


def test_a_completed_course_cannot_be_paused_and_says_why(
    client: FlaskClient, settings: Settings, uid: str
) -> None:
    with session_scope() as session:
        enrollments.complete(session.merge(enrollment(uid)), NOW)
    page = page_of(settings, uid)
    assert "Finished" in client.get(page).text
    response = course_action(client, page, "pause", weeks="2")
    assert response.status_code == 400
    assert "Softening Sessions was not changed." in response.text
    assert "The course is completed: there is nothing to pause." in response.text
    assert 'role="alert"' in response.text
    assert enrollment(uid).state is EnrollmentState.COMPLETED


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"course": "no-such-course", "action": "pause"}, "We don’t know that course"),
        ({"course": COURSE, "action": "explode"}, "Please use the buttons on this page"),
        ({"course": COURSE, "action": "pause", "weeks": "3"}, "Please use the buttons"),
        ({"course": "", "action": "pause"}, "Please use the buttons on this page"),
    ],
)
def test_a_made_up_course_action_shows_the_page_again_with_a_message(
    client: FlaskClient, settings: Settings, uid: str, fields: dict[str, str], message: str
) -> None:
    response = act(client, page_of(settings, uid), "course", **fields)
    assert response.status_code == 400
    assert message in response.text
    assert "<h1>Your letters</h1>" in response.text
    assert enrollment(uid).state is EnrollmentState.ACTIVE


def test_a_course_not_started_can_be_started_but_not_paused(
    client: FlaskClient, settings: Settings, uid: str
) -> None:
    with session_scope() as session:
        session.execute(delete(Enrollment).where(Enrollment.subscriber_id == reader(uid).id))
    page = page_of(settings, uid)
    assert "Not started" in client.get(page).text
    refused = course_action(client, page, "pause")
    assert refused.status_code == 400
    assert "You are not reading Softening Sessions" in refused.text
    assert_done(client, course_action(client, page, "start"), page, "has begun")
    started = enrollment(uid)
    assert (started.state, started.position) == (EnrollmentState.ACTIVE, 0)
    again = course_action(client, page, "start")
    assert again.status_code == 400, "a course is not started twice"
    assert "The course is active already." in again.text


def test_a_newsletter_can_be_turned_off_and_on_again(
    client: FlaskClient, settings: Settings, uid: str
) -> None:
    page = page_of(settings, uid)
    off = act(client, page, "list", list_name=NEWSLETTER, turn="off")
    assert_done(client, off, page, f"You won’t get {NEWSLETTER_TITLE} any more.")
    assert membership(uid).left_at == NOW
    assert "Off: no issues come to you." in client.get(page).text
    later = NOW + timedelta(days=3)
    with time_machine.travel(later, tick=False):
        on = act(client, page, "list", list_name=NEWSLETTER, turn="on")
        assert_done(client, on, page, f"{NEWSLETTER_TITLE} is on again")
    rejoined = membership(uid)
    assert (rejoined.left_at, rejoined.joined_at) == (None, later), "issues from now on"
    assert enrollment(uid).state is EnrollmentState.ACTIVE, "the course is another matter"


def test_a_list_that_is_no_newsletters_cannot_be_turned_off(
    client: FlaskClient, settings: Settings, uid: str
) -> None:
    response = act(client, page_of(settings, uid), "list", list_name=COURSE, turn="off")
    assert response.status_code == 400
    assert "We don’t know that newsletter." in response.text
    assert membership(uid, COURSE).left_at is None


def test_the_name_and_time_zone_are_saved_together(
    client: FlaskClient, settings: Settings, uid: str
) -> None:
    page = page_of(settings, uid)
    response = act(client, page, "details", first_name="Ann", timezone="America/New_York")
    assert_done(client, response, page, "America/New York")
    saved = reader(uid)
    assert (saved.first_name, saved.timezone) == ("Ann", "America/New_York")
    shown = client.get(page).text
    assert 'value="Ann"' in shown
    assert 'option selected value="America/New_York"' in shown


def test_a_name_is_saved_without_its_line_breaks(
    client: FlaskClient, settings: Settings, uid: str
) -> None:
    page = page_of(settings, uid)
    act(client, page, "details", first_name="Ann\r\nBcc: victim@example.org", timezone="UTC")
    assert reader(uid).first_name == "Ann Bcc: victim@example.org"


def test_a_name_too_long_is_refused_and_kept_to_correct(
    client: FlaskClient, settings: Settings, uid: str
) -> None:
    name = "A" * 101
    response = act(client, page_of(settings, uid), "details", first_name=name, timezone="UTC")
    assert response.status_code == 400
    assert "Please keep your name under 100 characters." in response.text
    assert f'value="{name}"' in response.text, "what the reader typed is kept"
    assert reader(uid).first_name is None


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "../../etc/passwd"])
def test_an_unknown_time_zone_is_refused_and_nothing_is_saved(
    client: FlaskClient, settings: Settings, uid: str, zone: str
) -> None:
    response = act(client, page_of(settings, uid), "details", first_name="Ann", timezone=zone)
    assert response.status_code == 400
    assert "Please choose a time zone from the list." in response.text
    assert 'aria-invalid="true"' in response.text
    saved = reader(uid)
    assert (saved.first_name, saved.timezone) == (None, "UTC")


@pytest.mark.parametrize(
    ("route", "fields"),
    [
        ("course", {"course": COURSE, "action": "pause"}),
        ("list", {"list_name": NEWSLETTER, "turn": "off"}),
        ("details", {"first_name": "Ann", "timezone": "UTC"}),
        ("unsubscribe", {}),
    ],
)
def test_a_post_without_its_form_token_changes_nothing(
    client: FlaskClient, settings: Settings, uid: str, route: str, fields: dict[str, str]
) -> None:
    page = page_of(settings, uid)
    client.get(page)  # a session, but no token in the post
    response = client.post(f"{page}/{route}", data=fields)
    assert response.status_code == 400
    assert "Please try that again" in response.text
    assert_unchanged(uid)


def assert_unchanged(uid: str) -> None:
    now = reader(uid)
    assert (now.status, now.first_name) == (SubscriberStatus.ACTIVE, None)
    assert enrollment(uid).state is EnrollmentState.ACTIVE
    assert membership(uid).left_at is None


def test_a_tampered_token_shows_nothing_and_changes_nothing(
    client: FlaskClient, settings: Settings, uid: str
) -> None:
    good = page_of(settings, uid)
    token = csrf_token(client, good)
    unsubscribe_token = page_of(settings, uid, Purpose.UNSUBSCRIBE)
    for bad in (good[:-3] + "abc", good[: len(good) // 2], "/p/nonsense", unsubscribe_token):
        page = client.get(bad)
        assert page.status_code == 400, bad
        assert "This link doesn’t work" in page.text
        assert COURSE_TITLE not in page.text
        posted = client.post(
            f"{bad}/course", data={"csrf_token": token, "course": COURSE, "action": "pause"}
        )
        assert posted.status_code == 400
        assert client.post(f"{bad}/unsubscribe", data={"csrf_token": token}).status_code == 400
    assert_unchanged(uid)


def test_a_readers_token_changes_only_that_reader(
    client: FlaskClient, settings: Settings, catalog: Catalog, uid: str
) -> None:
    _, other = active_reader(catalog, NOW, email="other@example.org")
    page = page_of(settings, other)
    course_action(client, page, "pause")
    act(client, page, "list", list_name=NEWSLETTER, turn="off")
    act(client, page, "details", first_name="Bo", timezone="Asia/Tokyo")
    assert enrollment(other).state is EnrollmentState.PAUSED
    assert reader(other).first_name == "Bo"
    assert_unchanged(uid)
    assert reader(uid).timezone == "UTC"


def test_unsubscribing_from_everything_is_recorded_as_from_this_page(
    client: FlaskClient, settings: Settings, uid: str
) -> None:
    page = page_of(settings, uid)
    response = act(client, page, "unsubscribe")
    assert_done(client, response, page, "Nothing more will come from us.")
    left = reader(uid)
    assert left.status is SubscriberStatus.UNSUBSCRIBED
    assert left.unsubscribe_channel == "preferences page"
    assert left.unsubscribed_at == NOW
    assert enrollment(uid).state is EnrollmentState.CANCELLED
    assert membership(uid).left_at == NOW


def test_a_reader_who_left_sees_so_and_the_way_back_and_can_change_nothing(
    client: FlaskClient, settings: Settings, uid: str
) -> None:
    with session_scope() as session:
        readers.unsubscribe(session, uid, "one-click", NOW)
    page = page_of(settings, uid)
    shown = client.get(page)
    assert shown.status_code == 200
    assert "You unsubscribed on 2 March 2026." in shown.text
    assert 'href="/">Sign up again</a>' in shown.text
    assert "Pause for 2 weeks" not in shown.text
    assert "Turn on" not in shown.text
    token = csrf_token(client, "/")  # this page has no form left: one from the signup page
    for route, fields in (
        ("course", {"course": COURSE, "action": "restart"}),
        ("list", {"list_name": NEWSLETTER, "turn": "on"}),
        ("details", {"first_name": "Ann", "timezone": "UTC"}),
    ):
        response = client.post(f"{page}/{route}", data={"csrf_token": token, **fields})
        assert response.status_code == 400, route
        assert "You are not receiving letters now" in response.text
    assert enrollment(uid).state is EnrollmentState.CANCELLED, "no mail after leaving"
    assert membership(uid).left_at == NOW
    assert reader(uid).first_name is None


@pytest.mark.parametrize("leave_first", [False, True])
def test_the_page_leads_to_the_library_and_the_readers_data_whether_or_not_they_left(
    client: FlaskClient, catalog: Catalog, settings: Settings, leave_first: bool
) -> None:
    _, uid = active_reader(catalog, NOW)
    if leave_first:
        with session_scope() as session:
            readers.unsubscribe(session, uid, "test", NOW)
    token = Signer(settings.require_secret_key()).sign(Purpose.PREFERENCES, uid)

    page = client.get(f"/p/{token}").text

    for path in (f"/library/{token}", f"/p/{token}/data", f"/p/{token}/erase"):
        assert f'href="{path}"' in page

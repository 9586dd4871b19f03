"""The reader's own page (a signed link in every letter, no login), and letters on the web.

GET shows the reader's courses, newsletters and details; each change is a small POST form
of its own that acts and redirects back with a word about what changed. The signed token
in the address is the only thing that says who the reader is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from core.clock import utcnow
from core.db import session_scope
from core.models import Enrollment, Subscriber
from core.tokens import Purpose
from courses.model import Course
from emails.render import (
    PREFERENCES_URL,
    UNSUBSCRIBE_URL,
    render_issue,
    render_lesson,
)
from tasks import enrollments, preferences, readers
from web import context
from web.preference_forms import CourseForm, DetailsForm, ListForm
from web.preference_view import course_rows, list_rows, long_local_date, newsletter_lists
from web.security import letter_response
from web.tokens import link_limited, read_token

bp = Blueprint("preferences", __name__)

# The category of this page's notes, so that another page of the reader's never shows them.
FLASHED = "preferences"
USE_THE_BUTTONS = "That didn’t work. Please use the buttons on this page."
NOT_ACTIVE = (
    "You are not receiving letters now, so there is nothing to change here. "
    "To come back, please sign up again."
)


class RefusedError(Exception):
    """A change the page cannot make; the message says why, to the reader."""


@bp.get("/p/<token>")
@link_limited
def page(token: str) -> tuple[str, int]:
    return _page(token, read_token(Purpose.PREFERENCES, token))


@bp.post("/p/<token>/details")
@link_limited
def details(token: str) -> Response | tuple[str, int]:
    uid = read_token(Purpose.PREFERENCES, token)
    form = DetailsForm()
    if not form.validate():
        problem = "Please look at the highlighted field below."
        return _page(token, uid, details_form=form, problem=problem, status=400)
    return _act(token, uid, partial(_save_details, form.first_name.data, form.timezone.data))


@bp.post("/p/<token>/course")
@link_limited
def course(token: str) -> Response | tuple[str, int]:
    uid = read_token(Purpose.PREFERENCES, token)
    form = CourseForm()
    if not form.validate():
        return _page(token, uid, problem=USE_THE_BUTTONS, status=400)
    weeks = int(form.weeks.data) if form.weeks.data else None
    return _act(token, uid, partial(_change_course, form.course.data, form.action.data, weeks))


@bp.post("/p/<token>/list")
@link_limited
def newsletter_list(token: str) -> Response | tuple[str, int]:
    uid = read_token(Purpose.PREFERENCES, token)
    form = ListForm()
    if not form.validate():
        return _page(token, uid, problem=USE_THE_BUTTONS, status=400)
    return _act(token, uid, partial(_turn_list, form.list_name.data, form.turn.data == "on"))


@bp.post("/p/<token>/unsubscribe")
@link_limited
def unsubscribe(token: str) -> Response:
    """The same leaving as the footer's link, recorded as made from this page."""
    uid = read_token(Purpose.PREFERENCES, token)
    with session_scope() as session:
        if readers.unsubscribe(session, uid, "preferences page", utcnow()) is None:
            abort(404)
    flash("You are unsubscribed from everything. Nothing more will come from us.", FLASHED)
    return redirect(url_for("preferences.page", token=token), code=303)


def _page(
    token: str,
    uid: str,
    *,
    details_form: DetailsForm | None = None,
    problem: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    catalog = context.catalog()
    with session_scope() as session:
        reader = _reader(session, uid)
        html = render_template(
            "preferences.html",
            token=token,
            reader=reader,
            courses=course_rows(session, reader, catalog),
            lists=list_rows(session, reader, catalog),
            details=details_form if details_form is not None else _details_of(reader),
            left_on=_left_on(reader),
            problem=problem,
        )
    return html, status


def _details_of(reader: Subscriber) -> DetailsForm:
    # formdata=None: filled from the reader even when the request is another form's POST.
    return DetailsForm(formdata=None, obj=reader)


def _left_on(reader: Subscriber) -> str | None:
    left = reader.unsubscribed_at
    return long_local_date(left, reader.timezone) if left and not reader.is_active else None


def _reader(session: Session, uid: str) -> Subscriber:
    reader = preferences.find_reader(session, uid)
    if reader is None:
        abort(404)  # a good token for a reader whose data was erased
    return reader


Change = Callable[[Session, Subscriber], str]


def _act(token: str, uid: str, change: Change) -> Response | tuple[str, int]:
    """Make one change for an active reader and come back to the page saying what it was.
    A refusal rolls back whatever the change had begun and shows the page with why."""
    try:
        with session_scope() as session:
            reader = _reader(session, uid)
            if not reader.is_active:
                raise RefusedError(NOT_ACTIVE)
            done = change(session, reader)
    except RefusedError as refusal:
        return _page(token, uid, problem=str(refusal), status=400)
    flash(done, FLASHED)
    return redirect(url_for("preferences.page", token=token), code=303)


def _save_details(
    first_name: str | None, timezone: str, _session: Session, reader: Subscriber
) -> str:
    preferences.update_details(reader, first_name, timezone)
    return f"Saved. Your letters arrive in the morning, {timezone.replace('_', ' ')} time."


def _turn_list(name: str, on: bool, session: Session, reader: Subscriber) -> str:
    title = newsletter_lists(context.catalog()).get(name)
    if title is None:
        raise RefusedError("We don’t know that newsletter. Please use the buttons on this page.")
    if on:
        readers.join(session, reader, name, utcnow())
        return f"{title} is on again: its next issue will reach you."
    preferences.leave_list(session, reader, name, utcnow())
    return f"You won’t get {title} any more."


@dataclass(frozen=True)
class _CourseChange:
    reader: Subscriber
    course: Course
    enrollment: Enrollment
    now: datetime
    weeks: int | None


def _change_course(
    slug: str, action: str, weeks: int | None, session: Session, reader: Subscriber
) -> str:
    course = context.catalog().get(slug)
    if course is None:
        raise RefusedError("We don’t know that course. Please use the buttons on this page.")
    try:
        if action == "start":
            return _start(session, reader, course)
        enrollment = preferences.enrollment_in(session, reader, slug)
        if enrollment is None:
            raise RefusedError(f"You are not reading {course.title}: there is nothing to change.")
        return COURSE_CHANGES[action](_CourseChange(reader, course, enrollment, utcnow(), weeks))
    except enrollments.EnrollmentError as error:
        reason = str(error)
        raise RefusedError(
            f"{course.title} was not changed. {reason[:1].upper()}{reason[1:]}."
        ) from None


def _start(session: Session, reader: Subscriber, course: Course) -> str:
    enrollment = preferences.start(session, reader, course, utcnow())
    if enrollment.position > 0:
        return f"{course.title} goes on from where you left off."
    return f"{course.title} has begun. {_first_letter(enrollment, reader.timezone)}"


def _first_letter(enrollment: Enrollment, timezone: str) -> str:
    due = enrollment.next_due_at
    if due is None or due <= utcnow():
        return "Its first letter is on its way."
    return f"Its first letter comes on {long_local_date(due, timezone)}."


def _pause(change: _CourseChange) -> str:
    weeks, title = change.weeks, change.course.title
    until = change.now + timedelta(weeks=weeks) if weeks else None
    enrollments.pause(change.enrollment, until)
    if until is None:
        return f"{title} is paused until you resume it. Nothing will arrive meanwhile."
    day = long_local_date(until, change.reader.timezone)
    return f"{title} is paused until {day}. It goes on by itself then, from where you left off."


def _resume(change: _CourseChange) -> str:
    reader, course = change.reader, change.course
    enrollments.resume(change.enrollment, course, reader.timezone, change.now)
    return f"Welcome back. {course.title} goes on from where you left off, one letter at a time."


def _slow_down(change: _CourseChange) -> str:
    reader, course = change.reader, change.course
    enrollments.slow_down(change.enrollment, course, reader.timezone, 2)
    return f"{course.title} now comes half as often."


def _usual_pace(change: _CourseChange) -> str:
    reader, course = change.reader, change.course
    enrollments.slow_down(change.enrollment, course, reader.timezone, 1)
    return f"{course.title} is back to its usual pace."


def _restart(change: _CourseChange) -> str:
    reader, course = change.reader, change.course
    enrollments.restart(change.enrollment, course, reader.timezone, change.now)
    return f"{course.title} begins again from its first letter."


COURSE_CHANGES: dict[str, Callable[[_CourseChange], str]] = {
    "pause": _pause,
    "resume": _resume,
    "slow-down": _slow_down,
    "usual-pace": _usual_pace,
    "restart": _restart,
}


@bp.get("/read/<publication>/<letter>")
def read(publication: str, letter: str) -> Response:
    """A lesson or issue as a page, for a link from another letter or to share."""
    catalog, base_url = context.catalog(), context.settings().base_url
    course, newsletter = catalog.get(publication), catalog.newsletters.get(publication)
    lesson = course.lesson(letter) if course else None
    issue = newsletter.issue(letter) if newsletter else None
    if course and lesson:
        rendered = render_lesson(course, lesson, base_url)
    elif newsletter and issue:
        rendered = render_issue(newsletter, issue, base_url)
    else:
        abort(404)
    page, _ = rendered.for_reader({UNSUBSCRIBE_URL: "#", PREFERENCES_URL: "#"})
    return letter_response(page)

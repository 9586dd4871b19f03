"""Dashboard: readers. Search and filter them, open one reader's page (consent record,
courses, lists, timeline), and act for them as they could themselves: pause, resume,
send a lesson again, unsubscribe, erase.

The queries are in `tasks.reports.directory` and `tasks.reports.timeline`; every action
is a thin call into `tasks.operator_actions`, which goes through the reader's own code.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from core.clock import utcnow
from core.db import session_scope
from core.models import SubscriberStatus
from emails.render import long_date
from tasks import operator_actions, privacy
from tasks.operator_actions import ActionRefusedError
from tasks.reports import directory, timeline
from web import context
from web.dashboard.blueprint import bp

QUERY_LENGTH = 320
NAME_LENGTH = 100
PAUSES = {"2": 2, "4": 4, "": None}  # weeks; "" until resumed
CONFIRM = "erase"


@bp.get("/readers")
def readers() -> str:
    wanted = _filter_from(request.args)
    with session_scope() as session:
        page = directory.search(
            session,
            wanted,
            before=request.args.get("before", type=int),
            after=request.args.get("after", type=int),
        )
    return render_template(
        "dashboard/readers.html",
        wanted=wanted,
        page=page,
        statuses=[str(status) for status in SubscriberStatus],
        lists=_lists(),
        courses=sorted(context.catalog().courses),
    )


@bp.get("/readers/<int:reader_id>")
def reader(reader_id: int) -> str | tuple[str, int]:
    catalog = context.catalog()
    with session_scope() as session:
        found = timeline.reader_file(session, reader_id)
        if found is None:
            return _gone()
        return render_template(
            "dashboard/reader.html",
            file=found,
            titles={slug: course.title for slug, course in catalog.courses.items()},
            lengths={slug: len(course.lessons) for slug, course in catalog.courses.items()},
        )


@bp.post("/readers/<int:reader_id>/pause")
def reader_pause(reader_id: int) -> Response:
    course, weeks = request.form.get("course", ""), request.form.get("weeks", "")
    if weeks not in PAUSES:
        return _refused(reader_id, "choose 2 weeks, 4 weeks or until resumed")
    return _act(reader_id, lambda session: _pause(session, reader_id, course, PAUSES[weeks]))


@bp.post("/readers/<int:reader_id>/resume")
def reader_resume(reader_id: int) -> Response:
    slug = request.form.get("course", "")
    return _act(reader_id, lambda session: _resume(session, reader_id, slug))


@bp.post("/readers/<int:reader_id>/resend")
def reader_resend(reader_id: int) -> Response:
    delivery_id = request.form.get("delivery", type=int)
    if delivery_id is None:
        return _refused(reader_id, "choose a letter to send again")
    try:
        lesson = operator_actions.resend_lesson(reader_id, delivery_id, utcnow())
    except ActionRefusedError as refusal:
        return _refused(reader_id, str(refusal))
    except LookupError:
        abort(404)
    flash(f"{lesson} is queued to be sent again. It goes out within a minute.")
    return _back(reader_id)


@bp.post("/readers/<int:reader_id>/unsubscribe")
def reader_unsubscribe(reader_id: int) -> Response:
    def unsubscribe(session: Session) -> str:
        operator_actions.unsubscribe(session, reader_id, current_user.email, utcnow())
        return "Unsubscribed from everything: nothing more will be sent to this reader."

    return _act(reader_id, unsubscribe)


@bp.get("/readers/<int:reader_id>/erase")
def reader_erase_page(reader_id: int) -> str | tuple[str, int]:
    with session_scope() as session:
        found = timeline.find_reader(session, reader_id)
        if found is None:
            return _gone()
        return render_template("dashboard/reader_erase.html", reader=found)


@bp.post("/readers/<int:reader_id>/erase")
def reader_erase(reader_id: int) -> Response | tuple[str, int]:
    """Erase only with the box ticked: the page asks first, and nothing undoes this."""
    if request.form.get("confirm") != CONFIRM:
        flash("Nothing was erased: tick the box to confirm first.", "error")
        return redirect(url_for("dashboard.reader_erase_page", reader_id=reader_id), code=303)
    key = privacy.hash_key(context.settings())
    try:
        with session_scope() as session:
            operator_actions.erase(session, reader_id, key, utcnow(), current_user.email)
    except LookupError:
        return _gone()
    flash("The reader is erased. Only a hash of the address is kept, so it is never mailed again.")
    return redirect(url_for("dashboard.readers"), code=303)


def _filter_from(args: MultiDict[str, str]) -> directory.ReaderFilter:
    """The search form's fields, cut to size; a status we do not know filters nothing."""
    status = args.get("status", "")
    return directory.ReaderFilter(
        query=args.get("q", "")[:QUERY_LENGTH],
        status=SubscriberStatus(status) if status in set(SubscriberStatus) else None,
        list=args.get("list", "")[:NAME_LENGTH] or None,
        course=args.get("course", "")[:NAME_LENGTH] or None,
    )


def _lists() -> list[str]:
    catalog = context.catalog()
    publications = [*catalog.courses.values(), *catalog.newsletters.values()]
    return sorted({publication.list for publication in publications})


def _pause(session: Session, reader_id: int, slug: str, weeks: int | None) -> str:
    course = operator_actions.course_of(context.catalog(), slug)
    now = utcnow()
    operator_actions.pause_course(session, reader_id, course.slug, weeks, now)
    if weeks is None:
        return f"{course.title} is paused until it is resumed."
    until = now + timedelta(weeks=weeks)
    return f"{course.title} is paused until {long_date(until.date())}; it goes on by itself then."


def _resume(session: Session, reader_id: int, slug: str) -> str:
    course = operator_actions.course_of(context.catalog(), slug)
    operator_actions.resume_course(session, reader_id, course, utcnow())
    return f"{course.title} goes on from the next letter."


def _act(reader_id: int, action: Callable[[Session], str]) -> Response:
    """Run one action in one transaction and come back to the reader's page saying what
    changed, or why nothing did (the transaction is then rolled back)."""
    try:
        with session_scope() as session:
            done = action(session)
    except ActionRefusedError as refusal:
        return _refused(reader_id, str(refusal))
    except LookupError:
        abort(404)
    flash(done)
    return _back(reader_id)


def _refused(reader_id: int, reason: str) -> Response:
    flash(f"Nothing changed: {reason}.", "error")
    return _back(reader_id)


def _back(reader_id: int) -> Response:
    return redirect(url_for("dashboard.reader", reader_id=reader_id), code=303)


def _gone() -> tuple[str, int]:
    message = (
        "There is no reader with this number. They may have been erased, or forgotten "
        "after never confirming."
    )
    return render_template("dashboard/message.html", title="No such reader", message=message), 404

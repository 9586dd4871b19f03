"""The reader's own page (a signed link in every letter, no login), and letters on the web."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from sqlalchemy import select

from core.db import session_scope
from core.links import link
from core.models import Enrollment, Subscriber
from core.tokens import Purpose
from emails.render import PREFERENCES_URL, UNSUBSCRIBE_URL, render_issue, render_lesson
from web import context
from web.tokens import read_token

bp = Blueprint("preferences", __name__)


@bp.get("/p/<token>")
def page(token: str) -> str:
    uid = read_token(Purpose.PREFERENCES, token)
    with session_scope() as session:
        reader = session.scalars(select(Subscriber).where(Subscriber.uid == uid)).one_or_none()
        if reader is None:
            abort(404)
        enrollments = session.scalars(
            select(Enrollment).where(Enrollment.subscriber_id == reader.id)
        ).all()
        courses = [
            (context.catalog().get(enrollment.course), enrollment) for enrollment in enrollments
        ]
        unsubscribe = link(context.settings().base_url, context.signer(), Purpose.UNSUBSCRIBE, uid)
        return render_template(
            "preferences.html", reader=reader, courses=courses, unsubscribe_url=unsubscribe
        )


@bp.get("/read/<publication>/<letter>")
def read(publication: str, letter: str) -> str:
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
    return page

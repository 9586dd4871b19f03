"""Dashboard: courses, and each course's funnel (which lesson readers stop after)."""

from __future__ import annotations

from flask import abort, render_template

from core.db import session_scope
from tasks.reports import funnel as report
from web import context
from web.dashboard.blueprint import bp


@bp.get("/courses")
def courses() -> str:
    catalog = context.catalog()
    with session_scope() as session:
        counts = report.course_counts(session, catalog.courses)
    return render_template(
        "dashboard/courses.html", courses=list(catalog.courses.values()), counts=counts
    )


@bp.get("/courses/<slug>")
def course_funnel(slug: str) -> str:
    course = context.catalog().get(slug)
    if course is None:
        abort(404)
    with session_scope() as session:
        funnel = report.funnel(session, course)
    return render_template(
        "dashboard/course.html", funnel=funnel, course=course, bars=_bars(funnel)
    )


def _bars(funnel: report.Funnel) -> list[tuple[str, int, int, str]]:
    """The chart's bars, (label, value, part drawn inside, kind): enrolled, each lesson
    sent (delivered inside it), completed."""
    lessons = [
        (f"{step.number}. {step.subject}", step.sent, step.delivered, "lesson")
        for step in funnel.steps
        if step.number is not None
    ]
    return [
        ("Enrolled", funnel.counts.enrolled, 0, "enrolled"),
        *lessons,
        ("Completed", funnel.counts.completed, 0, "completed"),
    ]

"""Dashboard: courses, and each course's funnel (which lesson readers stop after).

Both read the reports' latest snapshots (tasks/reports/snapshots.py): a funnel joins every
lesson delivery of the course, millions at scale."""

from __future__ import annotations

import dataclasses

from flask import abort, render_template

from tasks.reports import funnel as report
from web import context
from web.dashboard.blueprint import bp
from web.dashboard.overview import latest


@bp.get("/courses")
def courses() -> str:
    catalog = context.catalog()
    counts, as_of = latest("courses")
    return render_template(
        "dashboard/courses.html",
        courses=list(catalog.courses.values()),
        counts=counts,
        as_of=as_of,
    )


@bp.get("/courses/<slug>")
def course_funnel(slug: str) -> str:
    course = context.catalog().get(slug)
    if course is None:
        abort(404)
    stored, as_of = latest(f"funnel:{slug}")
    funnel = dataclasses.replace(stored, course=course)  # a snapshot holds no catalog objects
    return render_template(
        "dashboard/course.html", funnel=funnel, course=course, bars=_bars(funnel), as_of=as_of
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

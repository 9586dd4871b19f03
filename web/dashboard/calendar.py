"""Dashboard: the next 7 days. How many lessons and newsletter issues go out, by day and by
the time of day it is for their readers. Read from the report's latest snapshot: counting
a million readers' next lessons takes seconds (tasks/reports/snapshots.py)."""

from __future__ import annotations

from flask import render_template
from markupsafe import Markup

from tasks.reports.forward import BUCKET_NAMES, Forward
from web import context
from web.dashboard import charts
from web.dashboard.blueprint import bp
from web.dashboard.overview import latest

BUCKET_HOURS = {"night": "0–6 h", "morning": "6–12 h", "afternoon": "12–18 h", "evening": "18–24 h"}


@bp.get("/calendar")
def calendar() -> str:
    plan, as_of = latest("calendar")
    return render_template(
        "dashboard/calendar.html",
        plan=plan,
        as_of=as_of,
        chart=week_chart(plan),
        buckets=BUCKET_NAMES,
        bucket_hours=BUCKET_HOURS,
        courses=context.catalog().courses,
    )


def week_chart(plan: Forward) -> Markup:
    labels = [day.strftime("%a %d") for day in plan.days]
    series = [
        charts.Series("Lessons", "lessons", [plan.lessons.day_total(day) for day in plan.days]),
        charts.Series("Issues", "issues", [plan.issues.day_total(day) for day in plan.days]),
    ]
    return charts.stacked_bars("Letters due in the next 7 days", labels, series, "letters")

"""Dashboard: the overview. Is mail flowing, is anyone hurt by it, and the switch that
stops all sending.

The page is built from one report (tasks/reports/overview.py) and the engine's live state
(tasks/heartbeat.py); its live panel asks again every 5 seconds through htmx. The full
page never waits for the workers' ping: it shows the count kept from a recent one, and the
panel's own request (which may wait half a second) fills it in.
"""

from __future__ import annotations

import logging
from datetime import date

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup
from werkzeug.wrappers import Response

from core.clock import utcnow
from core.db import session_scope
from tasks import heartbeat
from tasks.reports.overview import (
    BOUNCES,
    COMPLAINTS,
    Overview,
    Rate,
    ReaderSeries,
)
from tasks.reports.overview import (
    overview as overview_report,
)
from tasks.switches import resume_sending, sending_stopped, stop_sending
from web import context
from web.dashboard import charts
from web.dashboard.blueprint import bp

log = logging.getLogger(__name__)

REASON_LENGTH = 500
# The outcomes' colours (classes in overview.css), in the order the bars stack.
OUTCOME_CLASSES = {
    "delivered": "delivered",
    "sent": "sent",
    "in doubt": "doubt",
    "bounced": "bounced",
    "failed": "failed",
    "skipped": "skipped",
    "waiting": "waiting",
}
READER_CLASSES = {"active": "active", "pending": "pending", "left": "left"}
THRESHOLDS = {"Bounced": BOUNCES, "Complaints": COMPLAINTS}


@bp.get("/")
def overview() -> str:
    now = utcnow()
    with session_scope() as session:
        report = overview_report(session, now)
    return render_template(
        "dashboard/overview.html",
        report=report,
        sends_chart=sends_chart(report),
        readers_chart=readers_chart(report.readers),
        meters={rate.label: rate_meter(rate) for rate in report.rates},
        outcome_order=list(OUTCOME_CLASSES),
        percent=charts.percent,
        transport=context.settings().transport,
        **_live(wait=False),
    )


@bp.get("/overview/live")
def overview_live() -> str:
    """The live panel alone, for htmx to swap in every few seconds."""
    return render_template("dashboard/overview_live.html", **_live(wait=True))


@bp.post("/sending/stop")
def stop() -> Response:
    reason = (request.form.get("reason") or "").strip()[:REASON_LENGTH] or None
    with session_scope() as session:
        already = sending_stopped(session)
        switch = stop_sending(session, current_user.email, utcnow(), reason)
        by = switch.set_by
    if already is not None:
        flash(f"Sending was already stopped by {by}. Nothing changed.")
    else:
        log.warning("sending stopped", extra={"operator": by, "reason": reason})
        flash("Sending is stopped. Due letters wait, untouched, until you resume.")
    return redirect(url_for("dashboard.overview"))


@bp.post("/sending/resume")
def resume() -> Response:
    with session_scope() as session:
        lifted = resume_sending(session)
    if lifted:
        log.warning("sending resumed", extra={"operator": current_user.email})
        flash("Sending resumes with the next tick, within a minute.")
    else:
        flash("Sending was not stopped. Nothing changed.")
    return redirect(url_for("dashboard.overview"))


def _live(wait: bool) -> dict[str, object]:
    now = utcnow()
    state = heartbeat.live(context.settings().require_redis_url(), wait=wait)
    with session_scope() as session:
        switch = sending_stopped(session)
    return {"live": state, "switch": switch, "now": now}


def sends_chart(report: Overview) -> Markup:
    labels = [_day(day) for day in report.days]
    series = [
        charts.Series(
            name.capitalize(),
            css,
            [report.sends.get(day, {}).get(name, 0) for day in report.days],
        )
        for name, css in OUTCOME_CLASSES.items()
        if report.outcomes.get(name)
    ]
    return charts.stacked_bars("Letters per day by outcome", labels, series, "letters")


def readers_chart(readers: ReaderSeries) -> Markup:
    labels = [_day(day) for day in readers.days]
    series = [
        charts.Series(name.capitalize(), css, readers.by_status[name])
        for name, css in READER_CLASSES.items()
    ]
    return charts.lines("Readers by status at the end of each day", labels, series, "readers")


def rate_meter(rate: Rate) -> Markup:
    threshold = THRESHOLDS.get(rate.label)
    marks = (
        [(threshold.warn, f"warn at {charts.percent(threshold.warn)}"),
         (threshold.alarm, f"alarm at {charts.percent(threshold.alarm)}")]
        if threshold else []
    )  # fmt: skip
    return charts.meter(rate.label, rate.rate, marks, rate.level)


def _day(day: date) -> str:
    return day.strftime("%d %b")

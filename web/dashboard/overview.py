"""Dashboard: the overview. Is mail flowing, is anyone hurt by it, and the switch that
stops all sending.

The page is built from one report (tasks/reports/overview.py) and the engine's live state
(tasks/heartbeat.py); its live panel asks again every 5 seconds through htmx. The full
page never waits for the workers' ping: it shows the count kept from a recent one, and the
panel's own request (which may wait half a second) fills it in.

The report reads every delivery of the last 30 days: at scale that takes seconds, so the
page shows its latest snapshot (tasks/reports/snapshots.py), kept fresh by beat. This
module also holds what every page built on a snapshot shares: `latest` and the admin's
"Refresh now".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup
from werkzeug.wrappers import Response

from core.clock import utcnow
from core.db import session_scope
from tasks import heartbeat, jobs
from tasks.reports import snapshots
from tasks.reports.overview import (
    BOUNCES,
    COMPLAINTS,
    Overview,
    Rate,
    ReaderSeries,
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


@dataclass(frozen=True)
class AsOf:
    """When a page's figures were computed, for the muted line _as_of.html draws."""

    name: str  # the snapshot's name, which "Refresh now" posts
    computed_at: datetime
    every_minutes: float
    today: bool  # computed on today's UTC date: the time alone says when


def latest(name: str) -> tuple[Any, AsOf]:
    """The snapshot `name`, computed now if none is recent enough (404: unknown name)."""
    now = utcnow()
    compute = snapshots.compute_for(name, context.catalog(), now)
    if compute is None:
        abort(404)
    every = context.settings().reports_every
    with session_scope() as session:
        data, computed_at = snapshots.read(session, name, compute, snapshots.max_age(every), now)
    return data, AsOf(name, computed_at, every / 60, computed_at.date() == now.date())


@bp.post("/reports/refresh")
def refresh_report() -> Response:
    """Recompute one report at once, then show its page again (admins only: a POST)."""
    name = request.form.get("name", "")
    back = _page_of(name)
    now = utcnow()
    compute = snapshots.compute_for(name, context.catalog(), now)
    if compute is None or back is None:
        abort(404)
    with session_scope() as session:
        snapshots.refresh(session, name, compute, now)
    log.info("report refreshed", extra={"report": name, "operator": current_user.email})
    flash("The figures are refreshed.")
    return redirect(back)


def _page_of(name: str) -> str | None:
    """The page a snapshot is shown on."""
    kind, _, arg = name.partition(":")
    pages = {
        "overview": url_for("dashboard.overview"),
        "calendar": url_for("dashboard.calendar"),
        "courses": url_for("dashboard.courses"),
        "issues": url_for("dashboard.issues"),
    }
    if name in pages:
        return pages[name]
    if kind == "funnel" and arg:
        return url_for("dashboard.course_funnel", slug=arg)
    if kind == "issues" and arg.isdigit():
        return url_for("dashboard.issues", page=arg)
    if kind == "issue" and arg.isdigit():
        return url_for("dashboard.issue", broadcast_id=int(arg))
    return None


@bp.get("/")
def overview() -> str:
    report, as_of = latest("overview")
    return render_template(
        "dashboard/overview.html",
        report=report,
        as_of=as_of,
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
        held = _queue_waiting()
        flash(
            f"Sending resumes. Letters held back while it was stopped, queued again: "
            f"{held:,}. The next tick goes on where things stood."
        )
    else:
        flash("Sending was not stopped. Nothing changed.")
    return redirect(url_for("dashboard.overview"))


def _queue_waiting() -> int:
    try:
        return jobs.queue_waiting()
    except Exception:  # the broker is down: the tick's sweep queues them a little later
        log.exception("could not queue the held letters; the tick will")
        return 0


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

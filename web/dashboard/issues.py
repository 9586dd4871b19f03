"""Dashboard: newsletter issues, one issue's live progress, and cancelling or resuming it.

The list reads its latest snapshot (it counts every delivery of twenty issues). An issue's
progress is live: its counts by status come from an index; only the readers its waves
have still to write come from a snapshot of a few minutes ago (tasks/reports/issues.py)."""

from __future__ import annotations

import logging
from datetime import datetime

from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from core.clock import utcnow
from core.db import session_scope
from tasks import broadcasts, jobs
from tasks.reports import issues as report
from tasks.reports import snapshots
from web import context
from web.dashboard.blueprint import bp
from web.dashboard.overview import latest

log = logging.getLogger(__name__)
POLL_SECONDS = 3


@bp.get("/issues")
def issues() -> str:
    page = request.args.get("page", "1")
    number = int(page) if page.isdigit() and len(page) < 7 else 1
    found, as_of = latest("issues" if number == 1 else f"issues:{number}")
    return render_template("dashboard/issues.html", page=found, as_of=as_of)


@bp.get("/issues/<int:broadcast_id>")
def issue(broadcast_id: int) -> str:
    return render_template("dashboard/issue.html", progress=_progress(broadcast_id))


@bp.get("/issues/<int:broadcast_id>/progress")
def issue_progress(broadcast_id: int) -> str:
    """The live part of the issue's page, polled by htmx while the issue goes out."""
    return render_template("dashboard/issue_progress.html", progress=_progress(broadcast_id))


@bp.post("/issues/<int:broadcast_id>/cancel")
def cancel_issue(broadcast_id: int) -> Response:
    try:
        skipped = broadcasts.cancel_issue(broadcast_id, utcnow())
    except LookupError:
        abort(404)
    except broadcasts.IssueStateError as error:
        flash(f"Nothing changed: {error}.", "error")
    else:
        noun = "delivery" if skipped == 1 else "deliveries"
        flash(
            f"The issue is cancelled. {skipped:,} queued {noun} will not go out; what was"
            " sent stays sent."
        )
    return redirect(url_for("dashboard.issue", broadcast_id=broadcast_id))


@bp.post("/issues/<int:broadcast_id>/resume")
def resume_issue(broadcast_id: int) -> Response:
    try:
        queued = broadcasts.resume_issue(broadcast_id, utcnow())
    except LookupError:
        abort(404)
    except broadcasts.IssueStateError as error:
        flash(f"Nothing changed: {error}.", "error")
    else:
        _queue(queued)
        flash(
            "The issue goes on from where it stopped. Readers who already have it will not"
            " get it again."
        )
    return redirect(url_for("dashboard.issue", broadcast_id=broadcast_id))


def _progress(broadcast_id: int) -> report.Progress:
    now = utcnow()
    name = f"issue:{broadcast_id}"
    max_age = snapshots.max_age(context.settings().reports_every)
    with session_scope() as session:

        def recent() -> tuple[report.Totals, datetime]:
            # Asked for only while waves are open: the slow count, at most every few minutes.
            compute = lambda s: report.totals(s, broadcast_id)  # noqa: E731
            return snapshots.read(session, name, compute, max_age, now)

        found = report.progress(session, broadcast_id, now, recent)
    if found is None:
        abort(404)
    return found


def _queue(ids: list[int]) -> None:
    """After the commit. If the broker is down, the tick finds them queued and sends them."""
    try:
        jobs.queue_batches([ids])
    except Exception:
        log.exception("could not queue %d resumed deliveries; the tick will send them", len(ids))

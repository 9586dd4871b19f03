"""Dashboard: newsletter issues, one issue's live progress, and cancelling or resuming it."""

from __future__ import annotations

import logging

from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from core.clock import utcnow
from core.db import session_scope
from tasks import broadcasts, jobs
from tasks.reports import issues as report
from web.dashboard.blueprint import bp

log = logging.getLogger(__name__)
POLL_SECONDS = 3


@bp.get("/issues")
def issues() -> str:
    page = request.args.get("page", "1")
    number = int(page) if page.isdigit() and len(page) < 7 else 1
    with session_scope() as session:
        found = report.issues(session, number)
    return render_template("dashboard/issues.html", page=found)


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
    with session_scope() as session:
        found = report.progress(session, broadcast_id, utcnow())
    if found is None:
        abort(404)
    return found


def _queue(ids: list[int]) -> None:
    """After the commit. If the broker is down, the tick finds them queued and sends them."""
    try:
        jobs.queue_batches([ids])
    except Exception:
        log.exception("could not queue %d resumed deliveries; the tick will send them", len(ids))

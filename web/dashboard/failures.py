"""Dashboard: deliveries that failed, that are in doubt, or that bounced; retrying them."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from core.clock import utcnow
from core.db import session_scope
from core.models import DeliveryStatus
from tasks import retry
from tasks.reports import failures as report
from tasks.switches import sending_stopped
from web.dashboard.blueprint import bp

LABELS = {
    DeliveryStatus.FAILED: "Failed",
    DeliveryStatus.UNKNOWN: "In doubt",
    DeliveryStatus.BOUNCED: "Bounced",
}


def _status(value: str | None, allowed: tuple[DeliveryStatus, ...]) -> DeliveryStatus | None:
    return next((status for status in allowed if status.value == value), None)


@bp.get("/failures")
def failures() -> str:
    status = _status(request.args.get("status"), report.SHOWN) or DeliveryStatus.FAILED
    after = report.Cursor.parse(request.args.get("after"))
    with session_scope() as session:
        counts = report.status_counts(session)
        page = report.failures(session, status, after)
        stopped = sending_stopped(session) is not None
    return render_template(
        "dashboard/failures.html",
        status=status,
        counts=counts,
        labels=LABELS,
        cap=report.COUNT_CAP,
        page=page,
        first_page=after is None,
        retryable=status in retry.RETRYABLE,
        stopped=stopped,
    )


@bp.get("/failures/counts")
def failure_counts() -> str:
    """The counts at the top of the page, polled by htmx to stay current."""
    status = _status(request.args.get("status"), report.SHOWN) or DeliveryStatus.FAILED
    with session_scope() as session:
        counts = report.status_counts(session)
    return render_template(
        "dashboard/failure_counts.html",
        status=status,
        counts=counts,
        labels=LABELS,
        cap=report.COUNT_CAP,
    )


@bp.post("/failures/<int:delivery_id>/retry")
def retry_failure(delivery_id: int) -> Response:
    status = _status(request.form.get("status"), retry.RETRYABLE)
    if status is None:
        flash("Only failed or in-doubt deliveries can be sent again.", "error")
        return redirect(url_for("dashboard.failures"))
    if retry.retry_one(delivery_id, status, utcnow()):
        flash(f"Delivery {delivery_id} is queued to be sent again.")
    else:
        flash(
            f"Delivery {delivery_id} was not queued: it is no longer {LABELS[status].lower()}"
            " (someone may have retried it already), or its reader can no longer be mailed.",
            "error",
        )
    return redirect(url_for("dashboard.failures", status=status.value))


@bp.post("/failures/retry-all")
def retry_all_failures() -> Response:
    status = _status(request.form.get("status"), retry.RETRYABLE)
    if status is None:
        flash("Only failed or in-doubt deliveries can be sent again.", "error")
        return redirect(url_for("dashboard.failures"))
    if status is DeliveryStatus.UNKNOWN and request.form.get("understood") != "yes":
        flash(
            "Nothing was queued. Tick the box to confirm that some of these readers may get"
            " a second copy.",
            "error",
        )
        return redirect(url_for("dashboard.failures", status=status.value))
    count = retry.retry_all(status, utcnow())
    noun = "delivery is" if count == 1 else "deliveries are"
    flash(f"{count} {noun} queued to be sent again." if count else "Nothing needed queueing.")
    return redirect(url_for("dashboard.failures", status=status.value))

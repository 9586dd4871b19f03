"""Dashboard: addresses that are never mailed again, with why and since when. Read-only:
lifting a suppression could mail someone who asked not to be, so it is not offered here."""

from __future__ import annotations

from flask import render_template, request

from core.db import session_scope
from tasks.reports import suppressions as report
from tasks.reports.failures import Cursor
from web.dashboard.blueprint import bp

PREFIX_MAX = 320  # no address is longer


@bp.get("/suppressions")
def suppressions() -> str:
    prefix = request.args.get("q", "").strip()[:PREFIX_MAX]
    after = Cursor.parse(request.args.get("after"))
    with session_scope() as session:
        counts = report.reason_counts(session)
        page = report.suppressions(session, prefix, after)
    return render_template(
        "dashboard/suppressions.html",
        counts=counts,
        total=sum(count for _, count in counts),
        page=page,
        prefix=prefix,
        first_page=after is None,
    )

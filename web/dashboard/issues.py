"""Dashboard: Newsletter issues (placeholder until its page lands)."""

from __future__ import annotations

from flask import render_template

from web.dashboard.blueprint import bp


@bp.get("/issues")
def issues() -> str:
    return render_template(
        "dashboard/message.html", title="Newsletter issues", message="Not built yet."
    )

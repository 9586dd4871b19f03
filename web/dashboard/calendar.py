"""Dashboard: Next 7 days (placeholder until its page lands)."""

from __future__ import annotations

from flask import render_template

from web.dashboard.blueprint import bp


@bp.get("/calendar")
def calendar() -> str:
    return render_template("dashboard/message.html", title="Next 7 days", message="Not built yet.")

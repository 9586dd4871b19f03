"""Dashboard: Overview (placeholder until its page lands)."""

from __future__ import annotations

from flask import render_template

from web.dashboard.blueprint import bp


@bp.get("/")
def overview() -> str:
    return render_template("dashboard/message.html", title="Overview", message="Not built yet.")

"""Dashboard: Failures (placeholder until its page lands)."""

from __future__ import annotations

from flask import render_template

from web.dashboard.blueprint import bp


@bp.get("/failures")
def failures() -> str:
    return render_template("dashboard/message.html", title="Failures", message="Not built yet.")

"""Dashboard: Suppressions (placeholder until its page lands)."""

from __future__ import annotations

from flask import render_template

from web.dashboard.blueprint import bp


@bp.get("/suppressions")
def suppressions() -> str:
    return render_template("dashboard/message.html", title="Suppressions", message="Not built yet.")

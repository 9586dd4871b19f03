"""Dashboard: Readers (placeholder until its page lands)."""

from __future__ import annotations

from flask import render_template

from web.dashboard.blueprint import bp


@bp.get("/readers")
def readers() -> str:
    return render_template("dashboard/message.html", title="Readers", message="Not built yet.")

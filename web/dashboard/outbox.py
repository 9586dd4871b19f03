"""Dashboard: Outbox (placeholder until its page lands)."""

from __future__ import annotations

from flask import render_template

from web.dashboard.blueprint import bp


@bp.get("/outbox")
def outbox() -> str:
    return render_template("dashboard/message.html", title="Outbox", message="Not built yet.")

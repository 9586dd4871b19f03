"""Dashboard: Import and export (placeholder until its page lands)."""

from __future__ import annotations

from flask import render_template

from web.dashboard.blueprint import bp


@bp.get("/import-export")
def transfer() -> str:
    return render_template(
        "dashboard/message.html", title="Import and export", message="Not built yet."
    )

"""Dashboard: Courses (placeholder until its page lands)."""

from __future__ import annotations

from flask import render_template

from web.dashboard.blueprint import bp


@bp.get("/courses")
def courses() -> str:
    return render_template("dashboard/message.html", title="Courses", message="Not built yet.")

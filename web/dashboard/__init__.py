"""The operators' dashboard at /dashboard/: readers, courses, sends, failures, switches."""

from __future__ import annotations

from flask import Flask

# Each module adds its pages to the blueprint.
from web.dashboard import (  # noqa: F401
    auth,
    calendar,
    courses,
    failures,
    issues,
    outbox,
    overview,
    readers,
    suppressions,
    transfer,
)
from web.dashboard.access import init_app as init_access
from web.dashboard.blueprint import bp


def init_app(app: Flask) -> None:
    init_access(app)
    app.register_blueprint(bp)

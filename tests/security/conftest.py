"""The suite's app: the real configuration (CSRF on, every limit in Redis) with limits
roomy enough that a walk over every route is not cut short by them. The rate limit tests
build apps with their own, small limits."""

from __future__ import annotations

import pytest
from flask import Flask

from core.config import Settings
from web import create_app

ROOMY = "10000/minute"


def roomy(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "signup_limits": ROOMY,
            "address_limits": ROOMY,
            "login_limits": ROOMY,
            "link_limits": ROOMY,
        }
    )


@pytest.fixture
def app(db: None, settings: Settings) -> Flask:
    app = create_app(roomy(settings))
    app.config["TESTING"] = True
    return app

"""Tend's web side: the reader's pages, and the `tend` command line."""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from core.config import Settings, get_settings
from tasks.catalog import get_catalog
from web import (
    author,
    dashboard,
    errors,
    hooks,
    leave,
    library,
    ops,
    preferences,
    privacy,
    request_log,
    security,
    signup,
)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or get_settings()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.require_secret_key()[-1],
        SESSION_COOKIE_SECURE=settings.base_url.startswith("https://"),
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_HTTPONLY=True,
        # Outside loopback the base URL must be https (core/config.py): cookies go Secure.
        REMEMBER_COOKIE_SECURE=settings.base_url.startswith("https://"),
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    app.extensions["tend.settings"] = settings
    # First of the hooks: whatever the others log carries this request's id.
    request_log.init_app(app)
    if settings.proxy_hops:
        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    # Loading the courses here means a broken lesson stops the web process at start-up.
    get_catalog()
    security.init_app(app, settings)

    app.register_blueprint(signup.bp)
    app.register_blueprint(leave.bp)
    app.register_blueprint(preferences.bp)
    app.register_blueprint(author.bp)
    app.register_blueprint(hooks.bp)
    app.register_blueprint(library.bp)
    app.register_blueprint(privacy.bp)
    app.register_blueprint(ops.bp)
    dashboard.init_app(app)
    errors.init_app(app)
    return app

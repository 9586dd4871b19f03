"""Friendly pages for what goes wrong, never a bare error."""

from __future__ import annotations

import logging

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from web.security import retry_after

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    app.register_error_handler(CSRFError, _form_expired)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)


def _form_expired(_error: CSRFError) -> tuple[str, int]:
    return render_template(
        "error.html",
        title="Please try that again",
        code=400,
        message="This form was open for a long time or came from "
        "elsewhere. Go back, reload the page and send it again.",
    ), 400


def _http_error(error: HTTPException) -> tuple[str, int] | tuple[str, int, dict[str, str]]:
    code = error.code or 500
    if code == 429:
        return (
            render_template(
                "error.html",
                title="Slow down a little",
                code=429,
                message="There were many tries from here in a short time. "
                "Please wait a few minutes and try again.",
            ),
            429,
            {"Retry-After": str(retry_after())},
        )
    titles = {404: "This page isn’t here", 405: "That doesn’t work here"}
    return render_template(
        "error.html",
        title=titles.get(code, error.name),
        code=code,
        message="Check the address, or start again from the home page.",
    ), code


def _unexpected(error: Exception) -> tuple[str, int]:
    log.exception("unexpected error", exc_info=error)
    return render_template(
        "error.html",
        title="Something went wrong on our side",
        code=500,
        message="Nothing you did caused this. Please try again in a minute.",
    ), 500

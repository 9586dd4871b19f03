"""Reading signed tokens from links, with a friendly page when one is bad."""

from __future__ import annotations

from flask import abort, make_response, render_template

from core.tokens import Purpose, TokenError
from web import context


def read_token(purpose: Purpose, token: str) -> str:
    """The reader's uid from the token, or stop with a page that says what to do."""
    try:
        return context.signer().unsign(purpose, token)
    except TokenError as error:
        status = 410 if error.reason == "expired" else 400
        page = render_template("link_problem.html", reason=error.reason, purpose=str(purpose))
        abort(make_response(page, status))

"""Reading signed tokens from links, with a friendly page when one is bad."""

from __future__ import annotations

from flask import Response, abort, g, make_response, render_template

from core.tokens import Purpose, TokenError
from web import context
from web.security import limiter


def read_token(purpose: Purpose, token: str) -> str:
    """The reader's uid from the token, or stop with a page that says what to do."""
    try:
        return context.signer().unsign(purpose, token)
    except TokenError as error:
        g.bad_link = True
        status = 410 if error.reason == "expired" else 400
        page = render_template("link_problem.html", reason=error.reason, purpose=str(purpose))
        abort(make_response(page, status))


def _link_limits() -> str:
    return context.settings().link_limits


def _was_a_bad_link(_response: Response) -> bool:
    return bool(g.get("bad_link", False))


# Guessing a signed link is hopeless, but each try costs a signature check and a page, and
# a robot may try many: an address that keeps opening bad links waits for a while. Only
# bad links count, so a mail provider posting many readers' one-click unsubscribes from
# one address is never slowed. One count for every page that reads a link.
link_limited = limiter.shared_limit(_link_limits, scope="links", deduct_when=_was_a_bad_link)

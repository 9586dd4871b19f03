"""Their data: a reader downloads all we keep about them, or deletes themself.

Both are reached from the reader's own page with its signed token (there is no login).
As with every link in mail, a GET only shows a button and only the POST acts: mail
scanners open links, and must neither download nor delete anything.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, render_template

from core.clock import utcnow
from core.db import session_scope
from core.tokens import Purpose
from tasks import privacy
from web import context
from web.forms import ButtonForm
from web.tokens import link_limited, read_token

bp = Blueprint("privacy", __name__)

DOWNLOAD_NAME = "tend-my-data.json"


@bp.get("/p/<token>/data")
@link_limited
def data_page(token: str) -> str | tuple[str, int]:
    if not _known(read_token(Purpose.PREFERENCES, token)):
        return _nothing_here("There is nothing here")
    return render_template("privacy_data.html", form=ButtonForm(), token=token)


@bp.post("/p/<token>/data")
@link_limited
def download(token: str) -> Response | tuple[str, int]:
    uid = read_token(Purpose.PREFERENCES, token)
    if not ButtonForm().validate_on_submit():
        return render_template("privacy_data.html", form=ButtonForm(), token=token, stale=True), 400
    with session_scope() as session:
        data = privacy.export(session, uid, utcnow())
    if data is None:
        return _nothing_here("There is nothing here")
    return _attachment(data)


@bp.get("/p/<token>/erase")
@link_limited
def erase_page(token: str) -> str | tuple[str, int]:
    if not _known(read_token(Purpose.PREFERENCES, token)):
        return _nothing_here("There is nothing to delete")
    return render_template("privacy_erase.html", form=ButtonForm(), token=token)


@bp.post("/p/<token>/erase")
@link_limited
def erase(token: str) -> str | tuple[str, int]:
    uid = read_token(Purpose.PREFERENCES, token)
    if not ButtonForm().validate_on_submit():
        return render_template(
            "privacy_erase.html", form=ButtonForm(), token=token, stale=True
        ), 400
    key = privacy.hash_key(context.settings())
    with session_scope() as session:
        erased = privacy.erase(session, uid, key, utcnow())
    if erased is None:
        return _nothing_here("There is nothing to delete")
    return render_template("privacy_erased.html")


def _known(uid: str) -> bool:
    with session_scope() as session:
        return privacy.has_reader(session, uid)


def _attachment(data: dict[str, Any]) -> Response:
    response = Response(json.dumps(data, indent=2, ensure_ascii=False), mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="{DOWNLOAD_NAME}"'
    # Personal data: no browser or proxy cache may keep a copy.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _nothing_here(title: str) -> tuple[str, int]:
    # A valid link whose reader is gone: erased already, or a pending signup forgotten.
    return render_template(
        "error.html",
        title=title,
        code=404,
        message="We keep nothing about the reader of this link. "
        "If you asked us to delete your data, that is done.",
    ), 404

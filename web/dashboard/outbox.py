"""Dashboard: the outbox viewer. With the outbox transport (the development default) every
message is an .eml file under TEND_DATA_DIR/outbox; this lists them newest first and shows
one: its headers, its text, and its HTML in a sandboxed frame that can run nothing. The
HTML is an answer of its own (`/outbox/<name>/html`) under the letter's Content-Security-
Policy, so the viewer's page keeps the dashboard's strict one.

The transport names each file `<UTC time to the microsecond>-<Message-ID's local part>.eml`
(emails/transports/outbox.py), so names sort by time: the newest are the largest names,
found without a stat per file, and a page ends at a name (keyset), however many files.
"""

from __future__ import annotations

import email.policy
import heapq
import os
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from flask import Response, abort, render_template, request

from web import context
from web.dashboard.blueprint import bp
from web.security import letter_response

PAGE_SIZE = 50
# What the transport writes; anything else (a path, "..", a half-written ".part") is refused.
NAME = re.compile(r"[0-9A-Za-z][0-9A-Za-z._@+=-]{0,250}\.eml")
PARSER = BytesParser(policy=email.policy.default)


@dataclass(frozen=True)
class Summary:
    name: str
    sender: str
    to: str
    subject: str
    date: str


@dataclass(frozen=True)
class Shown:
    name: str
    subject: str
    headers: list[tuple[str, str]]
    text: str | None
    html: str | None


def _outbox() -> Path | None:
    """The outbox folder, or None when mail does not go there."""
    settings = context.settings()
    return settings.outbox_dir if settings.transport == "outbox" else None


def _not_here() -> tuple[str, int]:
    transport = context.settings().transport
    message = (
        f"Mail goes out through {transport} here, so there are no .eml files to show. "
        "The outbox viewer works when TEND_TRANSPORT is outbox, as it is under tend dev."
    )
    return render_template("dashboard/message.html", title="No outbox here", message=message), 404


def newest_names(directory: Path, before: str | None, size: int) -> tuple[list[str], int]:
    """Up to `size` names of messages, newest first, older than `before`; and how many
    messages there are in all."""
    try:
        with os.scandir(directory) as entries:
            names = [entry.name for entry in entries if NAME.fullmatch(entry.name)]
    except FileNotFoundError:  # nothing has been sent yet
        return [], 0
    older = (name for name in names if before is None or name < before)
    return heapq.nlargest(size, older), len(names)


def summary(directory: Path, name: str) -> Summary | None:
    """The headers a list shows; None if the file went away meanwhile."""
    try:
        with (directory / name).open("rb") as file:
            message = PARSER.parse(file, headersonly=True)
    except FileNotFoundError:
        return None
    return Summary(
        name=name,
        sender=str(message.get("From", "")),
        to=str(message.get("To", "")),
        subject=str(message.get("Subject", "")),
        date=str(message.get("Date", "")),
    )


def letter_path(directory: Path, name: str) -> Path | None:
    """The file of message `name` in the outbox, or None for any other path."""
    if not NAME.fullmatch(name) or ".." in name:
        return None
    path = directory / name
    if path.parent.resolve() != directory.resolve() or not path.is_file():
        return None
    return path


def shown(path: Path) -> Shown:
    message = PARSER.parsebytes(path.read_bytes())
    assert isinstance(message, EmailMessage)
    headers = [(key, str(value)) for key, value in message.items()]
    subject = str(message.get("Subject", ""))
    return Shown(path.name, subject, headers, _part(message, "plain"), _part(message, "html"))


def _part(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None:
        return None
    # The file holds RFC 5322 line endings (CRLF); the page wants plain newlines.
    return str(part.get_content()).replace("\r\n", "\n")


@bp.get("/outbox")
def outbox() -> str | tuple[str, int]:
    directory = _outbox()
    if directory is None:
        return _not_here()
    before = request.args.get("before")
    before = before if before and NAME.fullmatch(before) else None
    names, total = newest_names(directory, before, PAGE_SIZE + 1)
    letters = [found for name in names[:PAGE_SIZE] if (found := summary(directory, name))]
    return render_template(
        "dashboard/outbox.html",
        letters=letters,
        total=total,
        directory=directory,
        first_page=before is None,
        next_before=names[PAGE_SIZE - 1] if len(names) > PAGE_SIZE else None,
    )


@bp.get("/outbox/<name>")
def outbox_letter(name: str) -> str | tuple[str, int]:
    directory = _outbox()
    if directory is None:
        return _not_here()
    path = letter_path(directory, name)
    if path is None:
        abort(404)
    return render_template("dashboard/outbox_letter.html", letter=shown(path))


@bp.get("/outbox/<name>/html")
def outbox_letter_html(name: str) -> Response | tuple[str, int]:
    """The letter's HTML part alone, for the viewer's sandboxed frame."""
    directory = _outbox()
    if directory is None:
        return _not_here()
    path = letter_path(directory, name)
    html = shown(path).html if path is not None else None
    if html is None:
        abort(404)
    return letter_response(html)

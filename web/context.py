"""What views need from the app: its settings, the courses, the link signer, the reader."""

from __future__ import annotations

from flask import current_app, request

from core.config import Settings
from core.tokens import Signer
from courses.model import Catalog
from emails.message import display_name
from tasks.catalog import get_catalog


def settings() -> Settings:
    return current_app.extensions["tend.settings"]


def catalog() -> Catalog:
    # Read again when a course file changes, as the worker does.
    return get_catalog()


def signer() -> Signer:
    return Signer(settings().require_secret_key())


def client_ip() -> str | None:
    return request.remote_addr


def user_agent() -> str | None:
    """The browser's own description, kept with the consent record: without control
    characters or lone surrogates (a NUL cannot be stored in PostgreSQL's text)."""
    agent = display_name(request.headers.get("User-Agent", ""))
    return agent[:400] or None

"""Dashboard: Import and export.

Readers come in from a CSV file in two steps: the upload is checked by a task (a dry run
that changes nothing) and its preview shown; an admin then starts the import, another
task, whose progress the page polls. Readers and deliveries go out as CSV files, streamed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from flask import Response, abort, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf.csrf import validate_csrf
from werkzeug.wrappers import Response as BaseResponse
from wtforms import ValidationError

from core.clock import utcnow
from core.models import DeliveryStatus, SubscriberStatus
from emails.message import display_name
from tasks import exports, imports
from web import context
from web.dashboard.blueprint import bp
from web.request_log import streamed
from web.security import csrf

log = logging.getLogger(__name__)

# The app takes request bodies up to 64 KB; an upload of a large list may take this much.
UPLOAD_LIMIT = 64 * 1024 * 1024


@dataclass
class UploadForm:
    """What the operator filled in, and what is wrong with it."""

    source: str = ""
    chosen: list[str] = field(default_factory=list)
    active: bool = False
    errors: dict[str, str] = field(default_factory=dict)


@bp.get("/import-export")
def transfer() -> str:
    return _page(UploadForm())


def _page(form: UploadForm) -> str:
    return render_template(
        "dashboard/transfer.html",
        form=form,
        publications=_publications(),
        recent=imports.recent(),
        reader_statuses=[status.value for status in SubscriberStatus],
        delivery_statuses=[status.value for status in DeliveryStatus],
        source_max=imports.SOURCE_MAX,
    )


def _publications() -> list[dict[str, object]]:
    catalog = context.catalog()
    offered = {publication.slug for publication in catalog.offered()}
    return [
        {"slug": p.slug, "title": p.title, "kind": kind, "offered": p.slug in offered}
        for kind, group in (("course", catalog.courses), ("newsletter", catalog.newsletters))
        for p in group.values()
    ]


@bp.post("/import")
@csrf.exempt  # checked below, once the larger limit lets the form be read
def transfer_upload() -> BaseResponse | tuple[str, int]:
    request.max_content_length = UPLOAD_LIMIT
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        return _message("The form had expired", "Please reload the page and try again."), 400
    form = _read_form()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        form.errors["file"] = "Please choose a CSV file."
    if form.errors or upload is None:
        return _page(form), 400
    options = imports.Options(
        source=form.source,
        chosen=form.chosen,
        active=form.active,
        filename=display_name(upload.filename or "")[:200],
        uploaded_by=current_user.email,
        uploaded_at=utcnow().isoformat(),
    )
    try:
        upload_id = imports.new_upload(upload.stream, options)
    finally:
        upload.close()  # a large upload is spooled to a temporary file: closed at once
    imports.check.delay(upload_id)
    return redirect(url_for("dashboard.transfer_import", upload_id=upload_id), code=303)


def _read_form() -> UploadForm:
    source = display_name(request.form.get("source", ""))
    form = UploadForm(
        source=source,
        chosen=request.form.getlist("chosen"),
        active=request.form.get("mode") == "active",
    )
    if not source:
        form.errors["source"] = "Please say where these readers gave their consent."
    elif len(source) > imports.SOURCE_MAX:
        form.errors["source"] = f"Please keep it under {imports.SOURCE_MAX} characters."
    if request.form.get("mode") not in {"active", "pending"}:
        form.errors["mode"] = "Please choose whether readers start at once or confirm first."
    publications = {p["slug"]: p for p in _publications()}
    if not form.chosen or any(slug not in publications for slug in form.chosen):
        form.errors["chosen"] = "Please choose at least one course or newsletter."
    elif not form.active and not all(publications[slug]["offered"] for slug in form.chosen):
        # Confirming enrolls only in what the signup form offers (tasks.readers.confirm).
        form.errors["chosen"] = (
            "Readers who confirm by email can only receive what the signup form offers. "
            "Import them as active, or choose only offered courses and newsletters."
        )
    return form


@bp.get("/import/<upload_id>")
def transfer_import(upload_id: str) -> str:
    return render_template("dashboard/import.html", item=_progress(upload_id))


@bp.get("/import/<upload_id>/progress")
def transfer_progress(upload_id: str) -> str:
    """The live part of the import's page, polled while a task works on it."""
    return render_template("dashboard/import_progress.html", item=_progress(upload_id))


@bp.post("/import/<upload_id>/run")
def transfer_run(upload_id: str) -> BaseResponse:
    _progress(upload_id)
    if imports.request_run(upload_id):
        imports.run.delay(upload_id)
        log.info("import started", extra={"import": upload_id, "operator": current_user.email})
    return redirect(url_for("dashboard.transfer_import", upload_id=upload_id), code=303)


@bp.post("/import/<upload_id>/discard")
def transfer_discard(upload_id: str) -> BaseResponse | tuple[str, int]:
    _progress(upload_id)
    if not imports.discard(upload_id):
        return _message("Still importing", "An import cannot be discarded while it runs."), 409
    return redirect(url_for("dashboard.transfer"), code=303)


def _progress(upload_id: str) -> imports.Progress:
    item = imports.progress(upload_id) if imports.valid_id(upload_id) else None
    if item is None:
        abort(404)
    return item


@bp.get("/export/readers.csv")
def export_readers() -> Response | tuple[str, int]:
    return _export("readers", exports.readers_csv, {s.value for s in SubscriberStatus})


@bp.get("/export/deliveries.csv")
def export_deliveries() -> Response | tuple[str, int]:
    return _export("deliveries", exports.deliveries_csv, {s.value for s in DeliveryStatus})


def _export(
    name: str, rows: Callable[[exports.Filters], Iterator[str]], statuses: set[str]
) -> Response | tuple[str, int]:
    status = request.args.get("status") or None
    if status is not None and status not in statuses:
        return _message("No such status", f"Choose one of: {', '.join(sorted(statuses))}."), 400
    try:
        since = _day(request.args.get("since") or None)
    except ValueError:
        return _message("Not a date", "Please give the date as YYYY-MM-DD."), 400
    log.info("exported %s", name, extra={"operator": current_user.email, "status": status})
    filename = f"tend-{name}-{utcnow():%Y-%m-%d}.csv"
    return Response(
        streamed(rows(exports.Filters(status=status, since=since))),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",  # addresses: no copy in any cache on the way
        },
    )


def _day(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)


def _message(title: str, message: str) -> str:
    return render_template("dashboard/message.html", title=title, message=message)

"""Importing readers from a CSV file: a dry run first, then the import, each as a task.

An upload is kept under `<data dir>/imports/<id>/` (the file as sent, and the operator's
choices), never served or run. Its progress and results live in a Redis hash,
`tend:import:<id>`, which the dashboard polls: losing it loses a progress bar, never a
reader. The file is deleted once imported; what it added is in the database.

The file: a header row naming the columns (`email`; `first_name` and `timezone` if
wanted), UTF-8 with or without a BOM, commas or semicolons. Addresses are checked and
normalised as the signup form does it. A suppressed address is never added (in clear or
by its hash), an existing reader is never changed, and each new reader's consent record
names the operator's source. Active readers start their courses at once, as on
confirmation; pending ones get the confirmation letter, as after a signup.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import itertools
import json
import logging
import re
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from zoneinfo import available_timezones

import redis
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.config import get_settings
from core.db import among, is_postgresql, session_scope
from core.models import (
    Delivery,
    DeliveryKind,
    Enrollment,
    EnrollmentState,
    Membership,
    Subscriber,
    SubscriberStatus,
    Suppression,
    new_uid,
)
from courses.model import Catalog
from emails.message import display_name
from tasks import jobs
from tasks.catalog import get_catalog
from tasks.celery_app import celery
from tasks.plan import due_for
from tasks.privacy import address_hash, hash_key
from tasks.rate_limit import redis_client

log = logging.getLogger(__name__)

CHUNK = 1000  # rows a transaction; also at most one send batch of confirmations
SHOWN_INVALID = 100
SHOWN_SAMPLES = 5
SHOWN_ZONE_LINES = 20
KEPT_FOR = 14 * 24 * 3600  # seconds a finished import's figures stay on the page
CONSENT_VERSION = "import"
SOURCE_PREFIX = "import: "
SOURCE_MAX = 100 - len(SOURCE_PREFIX)  # Subscriber.consent_source holds 100 characters
NAME_MAX = 100  # Subscriber.first_name

CHECKING, CHECKED, FAILED = "checking", "checked", "failed"
QUEUED, IMPORTING, DONE = "queued", "importing", "done"
COUNTS = ("new", "existing", "invalid", "suppressed", "duplicate")

_ID = re.compile(r"[0-9a-f]{32}")
_ALIASES = {
    "email": {"email", "e_mail", "email_address"},
    "first_name": {"first_name", "firstname", "first", "name"},
    "timezone": {"timezone", "time_zone", "tz"},
}


class UnreadableFileError(Exception):
    """The file as a whole cannot be read; the message says why, for the operator."""


@dataclass(frozen=True)
class Options:
    """What the operator chose when uploading."""

    source: str  # where these readers gave their consent, in the operator's words
    chosen: list[str]  # slugs of courses and newsletters
    active: bool  # True: the operator attests consent; False: each confirms by email
    filename: str
    uploaded_by: str
    uploaded_at: str


@dataclass(frozen=True)
class Row:
    line: int  # as a spreadsheet numbers it: the header is row 1
    email: str
    first_name: str | None
    timezone: str
    zone_unknown: bool  # the file named a zone we do not know: UTC instead


@dataclass(frozen=True)
class Invalid:
    line: int
    reason: str
    value: str


@dataclass
class Chunk:
    """Consecutive rows of the file: valid rows not seen before, and what was not."""

    rows: list[Row] = field(default_factory=list)
    invalid: list[Invalid] = field(default_factory=list)
    duplicate: int = 0
    read: int = 0  # rows read from the start of the file up to the end of this chunk

    @property
    def size(self) -> int:
        return len(self.rows) + len(self.invalid) + self.duplicate


@dataclass(frozen=True)
class Progress:
    """An import as the dashboard shows it."""

    id: str
    stage: str
    total: int
    done: int
    counts: dict[str, int]
    preview: dict[str, Any] | None
    error: str | None
    options: Options

    @property
    def working(self) -> bool:
        return self.stage in {CHECKING, QUEUED, IMPORTING}


# --- Reading the file ---------------------------------------------------------------


def read_rows(path: Path) -> Iterator[Row | Invalid]:
    """Each non-blank row of the file after its header, checked. UnreadableFileError if the file
    is not UTF-8 CSV with a header naming an email column."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        line = 0  # the last row read whole
        try:
            first = handle.readline()
            reader = csv.reader(itertools.chain([first], handle), delimiter=_delimiter(first))
            columns = _columns(next(reader, []))
            line = 1
            for line, values in enumerate(reader, start=2):
                if not _blank(values):
                    yield parse_row(line, values, columns)
        except UnicodeDecodeError:
            raise UnreadableFileError(
                f"The file is not UTF-8 text (near row {line + 1}). "
                "Save it as “CSV UTF-8” and upload it again."
            ) from None
        except csv.Error as error:
            raise UnreadableFileError(
                f"Row {line + 1} could not be read as CSV: {error}."
            ) from None


def _delimiter(header: str) -> str:
    # Spreadsheets set to a decimal comma save with semicolons.
    return ";" if header.count(";") > header.count(",") else ","


def _blank(values: list[str]) -> bool:
    return not any(value.strip() for value in values)


def _columns(header: list[str]) -> dict[str, int]:
    names = [re.sub(r"[\s-]+", "_", name.strip().lower()) for name in header]
    columns = {}
    for column, aliases in _ALIASES.items():
        found = next((index for index, name in enumerate(names) if name in aliases), None)
        if found is not None:
            columns[column] = found
    if "email" not in columns:
        raise UnreadableFileError(
            "The first row must name the columns, one of them “email” "
            "(and, if you like, “first_name” and “timezone”)."
        )
    return columns


def parse_row(line: int, values: list[str], columns: dict[str, int]) -> Row | Invalid:
    """One row, checked as the signup form checks its fields."""
    raw = _cell(values, columns.get("email"))
    if not raw:
        return Invalid(line, "No email address.", "")
    try:
        email = validate_email(raw, check_deliverability=False).normalized.lower()
    except (EmailNotValidError, UnicodeError) as error:
        return Invalid(line, str(error) or "Not an email address.", display_name(raw)[:80])
    zone, unknown = _zone(_cell(values, columns.get("timezone")))
    # A name goes into a To: header and into HTML: stored as it will stand in the header.
    name = display_name(_cell(values, columns.get("first_name")))[:NAME_MAX] or None
    return Row(line, email, name, zone, unknown)


def _cell(values: list[str], index: int | None) -> str:
    return values[index].strip() if index is not None and index < len(values) else ""


def _zone(text: str) -> tuple[str, bool]:
    if not text:
        return "UTC", False
    known = _zone_names().get(text.lower())
    return (known, False) if known else ("UTC", True)


@functools.cache
def _zone_names() -> dict[str, str]:
    # The zones the signup form offers, found whatever their capitals.
    names = [name for name in available_timezones() if "/" in name or name == "UTC"]
    return {name.lower(): name for name in names}


def chunks(path: Path, skip: int = 0) -> Iterator[Chunk]:
    """The file in chunks of about CHUNK rows; the first `skip` rows (done before a
    restart) are only remembered, so that a later copy of their address is a duplicate."""
    seen: set[bytes] = set()  # 8-byte digests: a million addresses in tens of megabytes
    chunk = Chunk()
    for read, item in enumerate(read_rows(path), start=1):
        counted = read > skip
        if isinstance(item, Invalid):
            if counted:
                chunk.invalid.append(item)
        elif (digest := hashlib.blake2b(item.email.encode(), digest_size=8).digest()) in seen:
            chunk.duplicate += counted
        else:
            seen.add(digest)
            if counted:
                chunk.rows.append(item)
        chunk.read = read
        if chunk.size >= CHUNK:
            yield chunk
            chunk = Chunk()
    yield chunk


def count_rows(path: Path) -> int:
    """The non-blank rows after the header, read without checking them (fast)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        try:
            delimiter = _delimiter(handle.readline())
            return sum(not _blank(values) for values in csv.reader(handle, delimiter=delimiter))
        except (UnicodeDecodeError, csv.Error):
            return 0  # read_rows says where and why


# --- What the database knows -------------------------------------------------------


def suppressed_among(session: Session, emails: list[str]) -> set[str]:
    """Those of the addresses that must never be mailed: in clear, or by their hash."""
    if not emails:
        return set()
    key = hash_key()
    hashes = {address_hash(email, key): email for email in emails}
    query = select(Suppression.email, Suppression.email_hash).where(
        or_(
            among(session, func.lower(Suppression.email), emails),
            among(session, Suppression.email_hash, list(hashes)),
        )
    )
    found = set()
    for email, digest in session.execute(query):
        found.add((email or "").lower())
        found.add(hashes.get(digest or "", ""))
    return found & set(emails)


def existing_among(session: Session, emails: list[str]) -> set[str]:
    if not emails:
        return set()
    lowered = func.lower(Subscriber.email)
    return set(session.scalars(select(lowered).where(among(session, lowered, emails))))


# --- Uploads and their progress ------------------------------------------------------


def new_upload(stream: IO[bytes], options: Options) -> str:
    """Keep the file and the operator's choices; the id of the new import."""
    upload_id = secrets.token_hex(16)
    folder = _folder(upload_id)
    folder.mkdir(parents=True, mode=0o700)
    with (folder / "upload.csv").open("wb") as target:
        shutil.copyfileobj(stream, target)
    (folder / "options.json").write_text(json.dumps(asdict(options)))
    _set(upload_id, stage=CHECKING, total=0, done=0)
    return upload_id


def progress(upload_id: str) -> Progress | None:
    """Where the import stands; None if there is no such import."""
    options = _options(upload_id)
    if options is None:
        return None
    fields = {
        key.decode(): value.decode() for key, value in _redis().hgetall(_key(upload_id)).items()
    }
    preview = fields.get("preview")
    return Progress(
        id=upload_id,
        stage=fields.get("stage", FAILED),
        total=int(fields.get("total", 0)),
        done=int(fields.get("done", 0)),
        counts={name: int(fields.get(name, 0)) for name in COUNTS},
        preview=json.loads(preview) if preview else None,
        error=fields.get("error") or (None if fields else "Its progress is no longer known."),
        options=options,
    )


def recent(limit: int = 10) -> list[Progress]:
    """The latest imports, newest first."""
    root = get_settings().data_dir / "imports"
    folders = [path for path in root.glob("*") if _ID.fullmatch(path.name)]
    folders.sort(key=lambda path: path.stat().st_mtime, reverse=True)
    found = (progress(path.name) for path in folders[:limit])
    return [item for item in found if item is not None]


def request_run(upload_id: str) -> bool:
    """Mark a checked import as queued; False if it is not checked, or already asked for
    (a second click, a second admin): only the first request may queue the task."""
    current = progress(upload_id)
    if current is None or current.stage != CHECKED:
        return False
    if not _redis().hsetnx(_key(upload_id), "run_requested", utcnow().isoformat()):
        return False
    _set(upload_id, stage=QUEUED, done=0)
    return True


def discard(upload_id: str) -> bool:
    """Delete an import that is not running: its file, its choices, its progress."""
    current = progress(upload_id)
    if current is None or current.stage in {QUEUED, IMPORTING}:
        return False
    shutil.rmtree(_folder(upload_id), ignore_errors=True)
    _redis().delete(_key(upload_id))
    return True


def valid_id(upload_id: str) -> bool:
    return bool(_ID.fullmatch(upload_id))


def _folder(upload_id: str) -> Path:
    if not valid_id(upload_id):  # the id becomes a path: nothing but hex digits
        raise ValueError("not an import id")
    return get_settings().data_dir / "imports" / upload_id


def _options(upload_id: str) -> Options | None:
    if not valid_id(upload_id):
        return None
    path = _folder(upload_id) / "options.json"
    return Options(**json.loads(path.read_text())) if path.exists() else None


@functools.cache
def _redis() -> redis.Redis:
    return redis_client(get_settings().require_redis_url())


def _key(upload_id: str) -> str:
    return f"tend:import:{upload_id}"


def _set(upload_id: str, **fields: object) -> None:
    with _redis().pipeline() as pipe:
        pipe.hset(_key(upload_id), mapping={name: str(value) for name, value in fields.items()})
        pipe.expire(_key(upload_id), KEPT_FOR)
        pipe.execute()


def _add(upload_id: str, counts: dict[str, int], done: int) -> None:
    """Record a committed chunk: its counts and the rows read so far, in one transaction."""
    with _redis().pipeline() as pipe:
        for name, value in counts.items():
            pipe.hincrby(_key(upload_id), name, value)
        pipe.hset(_key(upload_id), "done", str(done))
        pipe.execute()


# --- The dry run -----------------------------------------------------------------


@celery.task(name="tasks.imports.check", ignore_result=True)
def check(upload_id: str) -> None:
    """Read the whole file and say what an import would do, without changing anything."""
    try:
        dry_run(upload_id)
    except UnreadableFileError as problem:
        _set(upload_id, stage=FAILED, error=str(problem))


def dry_run(upload_id: str) -> dict[str, Any] | None:
    path = _folder(upload_id) / "upload.csv"
    if not path.exists():  # discarded before a worker got to it
        return None
    _set(upload_id, stage=CHECKING, total=count_rows(path), done=0)
    preview: dict[str, Any] = dict.fromkeys((*COUNTS, "zone_unknown"), 0)
    preview.update(invalid_rows=[], samples=[], zone_lines=[])
    for chunk in chunks(path):
        with session_scope() as session:
            _preview_chunk(session, chunk, preview)
        _set(upload_id, done=chunk.read)
    preview["rows"] = sum(preview[name] for name in COUNTS)
    _set(upload_id, stage=CHECKED, total=preview["rows"], preview=json.dumps(preview))
    return preview


def _preview_chunk(session: Session, chunk: Chunk, preview: dict[str, Any]) -> None:
    emails = [row.email for row in chunk.rows]
    suppressed = suppressed_among(session, emails)
    existing = existing_among(session, emails) - suppressed
    new = [row for row in chunk.rows if row.email not in suppressed | existing]
    preview["new"] += len(new)
    preview["existing"] += len(existing)
    preview["suppressed"] += len(suppressed)
    preview["duplicate"] += chunk.duplicate
    preview["invalid"] += len(chunk.invalid)
    unknown = [row.line for row in chunk.rows if row.zone_unknown]
    preview["zone_unknown"] += len(unknown)
    preview["zone_lines"] = [*preview["zone_lines"], *unknown][:SHOWN_ZONE_LINES]
    shown = [asdict(item) for item in chunk.invalid]
    preview["invalid_rows"] = [*preview["invalid_rows"], *shown][:SHOWN_INVALID]
    samples = [asdict(row) for row in new[:SHOWN_SAMPLES]]
    preview["samples"] = [*preview["samples"], *samples][:SHOWN_SAMPLES]


# --- The import ------------------------------------------------------------------


@celery.task(name="tasks.imports.run", ignore_result=True)
def run(upload_id: str) -> None:
    try:
        import_file(upload_id)
    except UnreadableFileError as problem:
        _set(upload_id, stage=FAILED, error=str(problem))


def import_file(upload_id: str, catalog: Catalog | None = None) -> dict[str, int] | None:
    """Add the file's new readers, a chunk a transaction; the counts, or None if the
    import was not asked for or is over. A restart goes on after the last chunk recorded
    (a chunk committed but not recorded is read again: its readers then count as existing).
    """
    current = progress(upload_id)
    if current is None or current.stage not in {QUEUED, IMPORTING}:
        return None
    skip = current.done if current.stage == IMPORTING else 0
    _set(upload_id, stage=IMPORTING)
    catalog = catalog or get_catalog()
    path = _folder(upload_id) / "upload.csv"
    for chunk in chunks(path, skip):
        with session_scope() as session:
            counts, notices = import_chunk(session, chunk, current.options, catalog, utcnow())
        _queue(jobs.queue_send, notices)  # confirmations, once their rows are committed
        _add(upload_id, counts, chunk.read)
    _set(upload_id, stage=DONE, finished_at=utcnow().isoformat())
    path.unlink(missing_ok=True)  # the addresses are in the database now, or refused
    if current.options.active:
        _queue(jobs.tick.delay)  # first lessons are due now, as after a confirmation
    final = progress(upload_id)
    log.info("readers imported", extra={"import": upload_id, **(final.counts if final else {})})
    return final.counts if final else None


def import_chunk(
    session: Session, chunk: Chunk, options: Options, catalog: Catalog, now: datetime
) -> tuple[dict[str, int], list[int]]:
    """Insert a chunk's new readers; its counts and the confirmation deliveries to send."""
    suppressed = suppressed_among(session, [row.email for row in chunk.rows])
    wanted = [row for row in chunk.rows if row.email not in suppressed]
    added = _insert_readers(session, wanted, options, now)
    notices: list[int] = []
    if options.active:
        zones = {row.email: row.timezone for row in wanted}
        _start(session, catalog, options.chosen, added, zones, now)
    else:
        notices = _write_confirmations(session, list(added.values()), now)
    counts = {
        "new": len(added),
        "existing": len(wanted) - len(added),
        "suppressed": len(suppressed),
        "invalid": len(chunk.invalid),
        "duplicate": chunk.duplicate,
    }
    return counts, notices


def _insert_readers(
    session: Session, rows: list[Row], options: Options, now: datetime
) -> dict[str, int]:
    """One INSERT for the chunk; an address already there is left as it is (ON CONFLICT
    DO NOTHING). The new readers' ids by address."""
    if not rows:
        return {}
    status = SubscriberStatus.ACTIVE if options.active else SubscriberStatus.PENDING
    record = {
        "status": status,
        "created_at": now,
        "consent_at": now,
        "consent_ip": None,
        "consent_user_agent": None,
        "consent_source": SOURCE_PREFIX + options.source,
        "consent_text_version": CONSENT_VERSION,
        "wanted": options.chosen,
        # Active at once: the operator attested the consent that a confirmation proves.
        "confirmed_at": now if options.active else None,
    }
    values = [
        {"uid": new_uid(), "email": row.email, "first_name": row.first_name,
         "timezone": row.timezone, **record}
        for row in rows
    ]  # fmt: skip
    # Parameters rather than one VALUES list: the statement is compiled once and cached,
    # and SQLAlchemy still sends the rows in a few multi-row INSERTs ("insertmanyvalues").
    table = Subscriber.__table__
    dialect_insert = postgresql.insert if is_postgresql(session) else sqlite.insert
    statement = dialect_insert(table).on_conflict_do_nothing()
    returned = session.execute(statement.returning(table.c.id, table.c.email), values)
    return {email: reader_id for reader_id, email in returned}


def _start(
    session: Session,
    catalog: Catalog,
    chosen: list[str],
    readers: dict[str, int],
    zones: dict[str, str],
    now: datetime,
) -> None:
    """Enroll new active readers and put them on their lists, as `tasks.readers.enroll`
    and `join` do on confirmation, in a few statements for the whole chunk."""
    if not readers:
        return
    enrollments = []
    for course in (catalog.courses[slug] for slug in chosen if slug in catalog.courses):
        # The first lesson's moment depends only on the zone: computed once per zone.
        due = {zone: due_for(course, 0, now, zone) for zone in set(zones.values())}
        for email, reader_id in readers.items():
            next_due = due[zones[email]]
            state = EnrollmentState.ACTIVE if next_due else EnrollmentState.COMPLETED
            enrollments.append({"subscriber_id": reader_id, "course": course.slug,
                                "started_at": now, "position": 0, "round": 1, "pace": 1,
                                "next_due_at": next_due, "state": state})  # fmt: skip
    if enrollments:
        session.execute(insert(Enrollment), enrollments)
    memberships = [
        {"subscriber_id": reader_id, "list": name, "joined_at": now}
        for name in lists_of(catalog, chosen)
        for reader_id in readers.values()
    ]
    if memberships:
        session.execute(insert(Membership), memberships)


def lists_of(catalog: Catalog, chosen: list[str]) -> list[str]:
    """The lists of the chosen courses and newsletters, as a signup joins them."""
    publications = (catalog.publication(slug) for slug in chosen)
    return sorted({publication.list for publication in publications if publication})


def _write_confirmations(session: Session, reader_ids: list[int], now: datetime) -> list[int]:
    if not reader_ids:
        return []
    rows = [
        {"kind": DeliveryKind.CONFIRMATION, "subscriber_id": reader_id,
         "created_at": now, "updated_at": now}
        for reader_id in reader_ids
    ]  # fmt: skip
    statement = insert(Delivery).returning(Delivery.id, sort_by_parameter_order=True)
    return list(session.scalars(statement, rows))


def _queue(enqueue: Any, *args: object) -> None:
    """Queue follow-up work; if the broker is down, the tick's sweep sends it later."""
    try:
        enqueue(*args)
    except Exception:
        log.exception("could not queue work after an import; the next tick will pick it up")

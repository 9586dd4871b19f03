"""Importing readers from a CSV file: a dry run that changes nothing, then the import,
which never re-adds a suppressed address and never changes a reader already here."""

from __future__ import annotations

import io
import re
import shutil
import time
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import TestResponse, encode_multipart

from core.clock import utcnow
from core.config import Settings
from core.db import session_scope
from core.models import (
    Delivery,
    DeliveryKind,
    Enrollment,
    EnrollmentState,
    Membership,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from courses.model import Catalog
from tasks import imports
from tasks.plan import due_for
from tasks.privacy import address_hash, hash_key
from tests.support.operators import form_token
from tests.support.processes import wait_for, wait_for_log
from tests.support.readers import active_reader
from tests.support.worker import WORKER_OPTIONS, celery

COURSE = "softening-sessions"
NEWSLETTER = "remember-and-reclaim"
# A BOM, semicolons, capitals, a repeat, a bad address, an unknown zone, a blank line.
MIXED = (
    "\ufeffEmail;First Name;Timezone\r\n"
    "new.one@Example.org;Nora;Europe/Berlin\r\n"
    "reader@example.org;Someone Else;UTC\r\n"
    "blocked@example.org;Bo;\r\n"
    "Erased@Example.org;Eve;\r\n"
    "NEW.ONE@example.org;Nora again;\r\n"
    "not an address;Zed;\r\n"
    ";Nobody;\r\n"
    "\r\n"
    "new.two@example.org;;Mars/Olympus\r\n"
)


def upload(
    client: FlaskClient,
    text: str | bytes,
    *,
    source: str = "paper list at the May workshop",
    chosen: tuple[str, ...] = (COURSE,),
    mode: str = "pending",
    filename: str = "readers.csv",
) -> TestResponse:
    body = text.encode() if isinstance(text, str) else text
    file = FileStorage(io.BytesIO(body), filename, content_type="text/csv")
    form = MultiDict(
        [("csrf_token", form_token(client)), ("source", source), ("mode", mode),
         *(("chosen", slug) for slug in chosen), ("file", file)]
    )  # fmt: skip
    # Encoded here, in memory: the test client spools a large body to a temporary file
    # that it never closes.
    boundary, encoded = encode_multipart(form)
    content_type = f"multipart/form-data; boundary={boundary}"
    return client.post("/dashboard/import", data=encoded, content_type=content_type)


def uploaded(answer: TestResponse) -> str:
    assert answer.status_code == 303, answer.text
    match = re.fullmatch(r"/dashboard/import/([0-9a-f]{32})", answer.headers["Location"])
    assert match, answer.headers["Location"]
    return match.group(1)


def checked(client: FlaskClient, text: str, **options: object) -> str:
    """Uploaded and dry-run (here, rather than by a worker): the import's id."""
    upload_id = uploaded(upload(client, text, **options))  # type: ignore[arg-type]
    imports.check(upload_id)
    return upload_id


def suppress(email: str, *, erased: bool = False) -> None:
    with session_scope() as session:
        if erased:
            digest = address_hash(email, hash_key())
            session.add(Suppression(email=None, email_hash=digest, reason="erased"))
        else:
            session.add(Suppression(email=email, reason="bounce", source="sendgrid"))


def readers_by_email() -> dict[str, Subscriber]:
    with session_scope() as session:
        return {reader.email: reader for reader in session.scalars(select(Subscriber))}


@pytest.fixture(autouse=True)
def no_uploads(settings: Settings) -> None:
    """No uploads left from an earlier test (start_afresh empties tables and Redis only)."""
    shutil.rmtree(settings.data_dir / "imports", ignore_errors=True)


@pytest.fixture
def known(catalog: Catalog) -> None:
    """An active reader, a bounced address and an erased one."""
    active_reader(catalog, utcnow())
    suppress("blocked@example.org")
    suppress("erased@example.org", erased=True)


def test_the_page_offers_the_upload_to_admins_and_exports_to_everyone(
    admin: FlaskClient, viewer: FlaskClient
) -> None:
    page = admin.get("/dashboard/import-export")
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in page.text
    assert 'name="source"' in page.text
    assert "Softening Sessions" in page.text
    assert "No imports yet." in page.text
    looked = viewer.get("/dashboard/import-export")
    assert 'name="source"' not in looked.text
    assert "Importing readers takes an admin." in looked.text
    assert "/dashboard/export/readers.csv" in looked.text


def test_a_dry_run_counts_every_kind_of_row_and_changes_nothing(
    admin: FlaskClient, known: None
) -> None:
    upload_id = checked(admin, MIXED)
    item = imports.progress(upload_id)
    assert item is not None
    assert item.stage == imports.CHECKED
    preview = item.preview
    assert preview is not None
    figures = {name: preview[name] for name in imports.COUNTS}
    assert figures == {"new": 2, "existing": 1, "suppressed": 2, "duplicate": 1, "invalid": 2}
    assert [row["line"] for row in preview["invalid_rows"]] == [7, 8]
    assert preview["invalid_rows"][1]["reason"] == "No email address."
    assert (preview["zone_unknown"], preview["zone_lines"]) == (1, [10])
    assert [row["email"] for row in preview["samples"]] == [
        "new.one@example.org",
        "new.two@example.org",
    ]
    assert set(readers_by_email()) == {"reader@example.org"}
    page = admin.get(f"/dashboard/import/{upload_id}")
    assert "What this file would do" in page.text
    assert "Import 2 readers" in page.text
    assert "not an address" in page.text
    assert "Mars/Olympus" not in page.text


def test_the_import_adds_new_readers_with_a_consent_record_and_a_confirmation(
    admin: FlaskClient, known: None
) -> None:
    before = readers_by_email()["reader@example.org"]
    upload_id = checked(admin, MIXED)
    started = admin.post(
        f"/dashboard/import/{upload_id}/run", data={"csrf_token": form_token(admin)}
    )
    assert started.status_code == 303
    assert imports.import_file(upload_id) == {
        "new": 2, "existing": 1, "suppressed": 2, "duplicate": 1, "invalid": 2,
    }  # fmt: skip
    readers = readers_by_email()
    assert set(readers) == {"reader@example.org", "new.one@example.org", "new.two@example.org"}
    nora, two = readers["new.one@example.org"], readers["new.two@example.org"]
    assert (nora.first_name, nora.timezone, nora.status) == (
        "Nora",
        "Europe/Berlin",
        SubscriberStatus.PENDING,
    )
    assert (two.first_name, two.timezone) == (None, "UTC")
    assert nora.consent_source == "import: paper list at the May workshop"
    assert (nora.consent_ip, nora.consent_text_version) == (None, "import")
    assert nora.consent_at is not None
    assert nora.confirmed_at is None
    assert nora.wanted == [COURSE]
    # The reader already here is left exactly as they were.
    after = readers["reader@example.org"]
    assert (after.first_name, after.status, after.consent_source) == (
        before.first_name,
        before.status,
        before.consent_source,
    )
    with session_scope() as session:
        notices = session.scalars(
            select(Delivery.subscriber_id).where(Delivery.kind == DeliveryKind.CONFIRMATION)
        ).all()
        assert sorted(notices) == sorted([nora.id, two.id])
        assert session.scalar(select(func.count()).select_from(Enrollment)) == 1
    page = admin.get(f"/dashboard/import/{upload_id}")
    assert "2 new readers added" in page.text
    assert "hx-trigger" not in page.text  # over: the page stops asking
    assert not (imports._folder(upload_id) / "upload.csv").exists()


def test_a_confirmed_import_reader_gets_the_course_as_after_a_signup(
    admin: FlaskClient, catalog: Catalog
) -> None:
    from tasks import readers as reader_tasks

    upload_id = checked(admin, "email\nann@example.org\n", chosen=(COURSE,))
    assert imports.request_run(upload_id)
    imports.import_file(upload_id)
    with session_scope() as session:
        ann = session.scalars(select(Subscriber)).one()
        assert reader_tasks.confirm(session, ann.uid, catalog, utcnow()) is not None
        enrollment = session.scalars(select(Enrollment)).one()
        assert (enrollment.course, enrollment.state) == (COURSE, EnrollmentState.ACTIVE)


def test_active_readers_are_enrolled_and_on_their_lists_at_once(
    admin: FlaskClient, catalog: Catalog
) -> None:
    text = "email,first_name,timezone\nann@example.org,Ann,America/New_York\nbo@example.org,,\n"
    upload_id = checked(admin, text, chosen=(COURSE, NEWSLETTER), mode="active")
    assert imports.request_run(upload_id)
    imports.import_file(upload_id)
    readers = readers_by_email()
    ann = readers["ann@example.org"]
    assert ann.status is SubscriberStatus.ACTIVE
    assert ann.confirmed_at is not None
    with session_scope() as session:
        enrollments = {row.subscriber_id: row for row in session.scalars(select(Enrollment))}
        lists = session.execute(select(Membership.subscriber_id, Membership.list)).all()
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0
    course = catalog.courses[COURSE]
    for reader in readers.values():
        enrollment = enrollments[reader.id]
        assert enrollment.state is EnrollmentState.ACTIVE
        # The same first lesson's moment as confirming would have given this reader.
        expected = due_for(course, 0, enrollment.started_at, reader.timezone)
        assert enrollment.next_due_at == expected
    assert sorted(lists) == sorted(
        (reader.id, name)
        for reader in readers.values()
        for name in {course.list, catalog.newsletters[NEWSLETTER].list}
    )


def test_an_import_runs_once_however_often_it_is_asked_for(admin: FlaskClient) -> None:
    upload_id = checked(admin, "email\nann@example.org\n")
    token = form_token(admin)
    for _ in range(2):
        admin.post(f"/dashboard/import/{upload_id}/run", data={"csrf_token": token})
    assert not imports.request_run(upload_id)
    assert imports.import_file(upload_id) is not None
    assert imports.import_file(upload_id) is None  # a redelivered task finds it done
    assert len(readers_by_email()) == 1


def test_a_restarted_import_goes_on_after_its_last_recorded_chunk(admin: FlaskClient) -> None:
    rows = "".join(f"r{n}@example.org\n" for n in range(2500))
    upload_id = checked(admin, "email\n" + rows + "r5@example.org\n")
    assert imports.request_run(upload_id)
    # A worker imported the first chunk and recorded it, then died.
    options = imports.progress(upload_id).options  # type: ignore[union-attr]
    first = next(imports.chunks(imports._folder(upload_id) / "upload.csv"))
    with session_scope() as session:
        counts, _ = imports.import_chunk(session, first, options, Catalog(), utcnow())
    imports._add(upload_id, counts, first.read)
    imports._set(upload_id, stage=imports.IMPORTING)
    assert imports.import_file(upload_id) == {
        "new": 2500, "existing": 0, "suppressed": 0, "duplicate": 1, "invalid": 0,
    }  # fmt: skip


def test_the_form_needs_a_file_a_consent_source_and_a_choice(admin: FlaskClient) -> None:
    answer = upload(admin, "email\nann@example.org\n", source="  ", chosen=())
    assert answer.status_code == 400
    assert "Please say where these readers gave their consent." in answer.text
    assert "Please choose at least one course or newsletter." in answer.text
    nothing = admin.post(
        "/dashboard/import",
        data={"csrf_token": form_token(admin), "source": "x", "chosen": COURSE, "mode": "pending"},
    )
    assert nothing.status_code == 400
    assert "Please choose a CSV file." in nothing.text
    stale = upload(admin, "email\n", source="fine")
    assert stale.status_code == 303
    forged = admin.post(
        "/dashboard/import",
        data={"csrf_token": "forged", "source": "x", "chosen": COURSE, "mode": "pending"},
    )
    assert forged.status_code == 400
    assert imports.recent()
    assert len(imports.recent()) == 1


def test_files_that_cannot_be_read_say_why(admin: FlaskClient) -> None:
    for body, reason in [
        ("name,address\nAnn,ann@example.org\n", "one of them “email”"),
        ("email\nann@example.org\n".encode("utf-16"), "not UTF-8"),
        (b"email,first_name\nann@example.org,J\xf6rg\n", "not UTF-8"),
    ]:
        upload_id = checked(admin, body)  # type: ignore[arg-type]
        item = imports.progress(upload_id)
        assert item is not None
        assert item.stage == imports.FAILED
        assert reason in (item.error or "")
        assert reason in admin.get(f"/dashboard/import/{upload_id}").text
        assert not imports.request_run(upload_id)


def test_names_and_values_from_a_file_are_text_on_every_page(admin: FlaskClient) -> None:
    text = (
        'email,first_name\n"ann@example.org","<script>alert(1)</script>\r\nBcc: x"\n'
        '"<img src=x onerror=alert(2)>",x\n'
    )
    upload_id = checked(admin, text, source="<b>fair</b>", filename="<i>list</i>.csv")
    for path in (f"/dashboard/import/{upload_id}", "/dashboard/import-export"):
        page = admin.get(path).text
        assert "<script>alert" not in page
        assert "<img src=x" not in page
        assert "<b>fair" not in page
        assert "<i>list" not in page
    page = admin.get(f"/dashboard/import/{upload_id}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Bcc: x" in page
    assert imports.request_run(upload_id)
    imports.import_file(upload_id)
    assert readers_by_email()["ann@example.org"].first_name == "<script>alert(1)</script> Bcc: x"


def test_pending_readers_can_only_be_put_on_what_the_signup_offers(
    admin: FlaskClient, catalog: Catalog
) -> None:
    # Both demo publications are offered; an unknown slug is refused the same way.
    answer = upload(admin, "email\nann@example.org\n", chosen=("no-such-course",))
    assert answer.status_code == 400
    assert all(publication.offer_on_signup for publication in catalog.offered())


def test_the_progress_fragment_polls_only_while_a_task_works(admin: FlaskClient) -> None:
    upload_id = uploaded(upload(admin, "email\nann@example.org\n"))
    waiting = admin.get(f"/dashboard/import/{upload_id}/progress")
    assert 'hx-trigger="every 2s"' in waiting.text
    assert "Checking the file" in waiting.text
    imports.check(upload_id)
    assert "hx-trigger" not in admin.get(f"/dashboard/import/{upload_id}/progress").text
    assert admin.get("/dashboard/import/not-an-id").status_code == 404
    assert admin.get(f"/dashboard/import/{'0' * 32}/progress").status_code == 404


def test_a_viewer_sees_an_import_but_cannot_start_or_discard_it(
    admin: FlaskClient, viewer: FlaskClient
) -> None:
    upload_id = checked(admin, "email\nann@example.org\n")
    page = viewer.get(f"/dashboard/import/{upload_id}")
    assert page.status_code == 200
    assert "An admin can start this import." in page.text
    token = form_token(viewer)
    for action in ("run", "discard"):
        answer = viewer.post(f"/dashboard/import/{upload_id}/{action}", data={"csrf_token": token})
        assert answer.status_code == 403
    assert imports.progress(upload_id).stage == imports.CHECKED  # type: ignore[union-attr]


def test_a_checked_file_can_be_discarded(admin: FlaskClient) -> None:
    upload_id = checked(admin, "email\nann@example.org\n")
    answer = admin.post(
        f"/dashboard/import/{upload_id}/discard", data={"csrf_token": form_token(admin)}
    )
    assert answer.status_code == 303
    assert not imports._folder(upload_id).exists()
    assert admin.get(f"/dashboard/import/{upload_id}").status_code == 404


def test_twenty_thousand_rows_import_in_reasonable_time_and_quietly(
    admin: FlaskClient, capfd: pytest.CaptureFixture[str]
) -> None:
    rows = "".join(f"reader{n}@example.org,Reader {n},Europe/Paris\n" for n in range(20_000))
    started = time.monotonic()
    upload_id = checked(admin, "email,first_name,timezone\n" + rows, mode="active")
    assert imports.request_run(upload_id)
    counts = imports.import_file(upload_id)
    seconds = time.monotonic() - started
    assert counts is not None
    assert counts["new"] == 20_000
    assert seconds < 60, f"{seconds:.1f} s"
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Enrollment)) == 20_000
    captured = capfd.readouterr()
    assert (captured.out, captured.err) == ("", "")


@pytest.mark.worker
def test_the_pages_queue_both_steps_for_a_real_worker(admin: FlaskClient) -> None:
    arguments = [*WORKER_OPTIONS, "--pool", "solo", "--hostname", "tend-import@%h"]
    with celery("worker", *arguments) as (process, log):
        wait_for_log(process, log, [b" ready."], 60, "the Celery worker")
        upload_id = uploaded(upload(admin, "email\nann@example.org\nbo@example.org\n"))

        def stage() -> str:
            item = imports.progress(upload_id)
            return item.stage if item else ""

        wait_for(lambda: stage() == imports.CHECKED, 30, "the dry run", message=stage)
        assert "Import 2 readers" in admin.get(f"/dashboard/import/{upload_id}").text
        admin.post(f"/dashboard/import/{upload_id}/run", data={"csrf_token": form_token(admin)})
        wait_for(lambda: stage() == imports.DONE, 30, "the import", message=stage)
    assert set(readers_by_email()) == {"ann@example.org", "bo@example.org"}
    assert "2 new readers added" in admin.get(f"/dashboard/import/{upload_id}").text


def test_uploaded_at_is_recorded_in_utc(admin: FlaskClient) -> None:
    upload_id = uploaded(upload(admin, "email\nann@example.org\n"))
    item = imports.progress(upload_id)
    assert item is not None
    assert datetime.fromisoformat(item.options.uploaded_at).tzinfo == UTC
    assert item.options.uploaded_by == "admin@example.org"

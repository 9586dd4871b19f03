"""Report snapshots: the dashboard's heavy reports computed in the background, reused while
young, recomputed after, refreshed by beat or by an admin's "Refresh now"."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient
from sqlalchemy import select

from core.config import Settings
from core.db import session_scope
from core.models import ReportSnapshot
from courses.model import Catalog
from tasks import jobs, schedule
from tasks.celery_app import celery
from tasks.rate_limit import redis_client
from tasks.reports import forward, funnel, issues, overview, snapshots
from tests.support.operators import form_token
from tests.support.readers import active_reader

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
COURSE = "softening-sessions"
AGE = timedelta(minutes=10)


def enrolled(session: object) -> int:
    counts = funnel.course_counts(session, [COURSE])  # type: ignore[arg-type]
    return counts[COURSE].enrolled


def test_a_snapshot_is_reused_while_young_and_computed_again_after(
    db: None, catalog: Catalog
) -> None:
    active_reader(catalog, NOW, email="ann@example.org")
    calls: list[datetime] = []

    def compute(session: object) -> int:
        calls.append(NOW)
        return enrolled(session)

    with session_scope() as session:
        assert snapshots.read(session, "courses", compute, AGE, NOW) == (1, NOW)
    active_reader(catalog, NOW, email="bo@example.org")
    later = NOW + AGE
    with session_scope() as session:
        assert snapshots.read(session, "courses", compute, AGE, later) == (1, NOW), "reused"
    assert len(calls) == 1
    older = later + timedelta(seconds=1)
    with session_scope() as session:
        assert snapshots.read(session, "courses", compute, AGE, older) == (2, older)
        stored = session.get(ReportSnapshot, "courses")
        assert stored is not None
        assert stored.computed_at == older
        assert stored.seconds >= 0
    assert len(calls) == 2


def test_every_report_reads_back_from_json_as_it_was_computed(db: None, catalog: Catalog) -> None:
    for name in ("ann", "bo"):
        active_reader(catalog, NOW, email=f"{name}@example.org", timezone="Europe/Paris")
    schedule.tick(catalog, NOW)
    with session_scope() as session:
        reports = [
            dataclasses.replace(overview.overview(session, NOW), switch=None),
            forward.forward(session, catalog, NOW),
            funnel.course_counts(session, catalog.courses),
            dataclasses.replace(funnel.funnel(session, catalog[COURSE]), course=None),
            issues.issues(session, 1),
            issues.Totals(written=3, unwritten=2),
        ]
    for report in reports:
        stored = json.loads(json.dumps(snapshots.to_json(report)))
        assert snapshots.from_json(stored) == report


def test_refresh_all_stores_every_heavy_report(db: None, catalog: Catalog) -> None:
    active_reader(catalog, NOW, email="ann@example.org")
    took = snapshots.refresh_all(session_scope, catalog, NOW)
    expected = {"overview", "calendar", "courses", "issues"} | {
        f"funnel:{slug}" for slug in catalog.courses
    }
    assert expected <= set(took)
    with session_scope() as session:
        query = select(ReportSnapshot.name, ReportSnapshot.computed_at)
        stored = dict(session.execute(query).all())
    assert set(stored) == set(took)
    assert set(stored.values()) == {NOW}


def test_beat_refreshes_the_reports_every_period_and_never_two_at_once(
    db: None, settings: Settings
) -> None:
    entry = celery.conf.beat_schedule["refresh-reports"]
    assert entry["task"] == jobs.refresh_reports.name == "tasks.jobs.refresh_reports"
    assert entry["schedule"] == settings.reports_every == 300
    held = redis_client(settings.require_redis_url()).lock(jobs.REFRESH_LOCK, timeout=60)
    assert held.acquire(blocking=False)
    try:
        assert jobs.refresh_reports() == {}, "a refresh still runs: this one steps aside"
    finally:
        held.release()
    assert "overview" in jobs.refresh_reports()


def courses_cells(page: str) -> list[str]:
    row = re.search(r"Softening Sessions</a>.*?</tr>", page, re.S)
    assert row is not None
    return re.findall(r'<td class="num">([\d,]+)</td>', row.group(0))


def test_a_page_shows_its_snapshot_time_and_an_admin_refreshes_it_at_once(
    admin: FlaskClient, catalog: Catalog
) -> None:
    active_reader(catalog, NOW, email="ann@example.org")
    page = admin.get("/dashboard/courses").get_data(as_text=True)
    assert courses_cells(page)[1] == "1"
    assert re.search(r"Figures as of <time datetime=\"[^\"]+\">\d\d:\d\d UTC</time>", page)
    assert "(refreshed every 5 minutes)" in page
    assert "Refresh now" in page
    active_reader(catalog, NOW, email="bo@example.org")
    page = admin.get("/dashboard/courses").get_data(as_text=True)
    assert courses_cells(page)[1] == "1", "the snapshot is still young"
    form = {"csrf_token": form_token(admin), "name": "courses"}
    answer = admin.post("/dashboard/reports/refresh", data=form)
    assert answer.status_code == 302
    assert answer.location.endswith("/dashboard/courses")
    assert courses_cells(admin.get("/dashboard/courses").get_data(as_text=True))[1] == "2"
    form["name"] = "nothing-like-this"
    assert admin.post("/dashboard/reports/refresh", data=form).status_code == 404


def test_a_funnel_page_is_served_from_its_snapshot(admin: FlaskClient, catalog: Catalog) -> None:
    active_reader(catalog, NOW, email="ann@example.org")
    assert admin.get(f"/dashboard/courses/{COURSE}").status_code == 200
    with session_scope() as session:
        stored = session.get(ReportSnapshot, f"funnel:{COURSE}")
        assert stored is not None
    assert "Figures as of" in admin.get(f"/dashboard/courses/{COURSE}").get_data(as_text=True)

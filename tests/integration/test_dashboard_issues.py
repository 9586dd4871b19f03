"""Newsletter issues on the dashboard: progress, and cancel and resume that never send twice."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from flask.testing import FlaskClient
from sqlalchemy import select, update

from core.config import Settings
from core.db import session_scope
from core.models import Broadcast, BroadcastStatus, Delivery, DeliveryStatus
from courses.model import Catalog
from emails.batch import Batch
from emails.transports import OutboxTransport, Outcome, TransportError
from tasks import broadcasts, schedule
from tasks.reports import issues as report
from tasks.sending import Sender
from tests.support import outbox
from tests.support.operators import form_token
from tests.support.readers import active_reader

JOINED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
# 2026-12-01 at 08:00 in Paris and in New York: the two waves of the first issue.
PARIS = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
NEW_YORK = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)
SUBJECT = "Naming the weather"


@dataclass
class RefusingTransport:
    """The outbox, except for the addresses it refuses for good (a provider's 400)."""

    inner: OutboxTransport
    refused: set[str]
    name: str = "refusing"
    batch_size: int = 1000
    calls: list[int] = field(default_factory=list)

    def send(self, batch: Batch) -> list[Outcome]:
        error = TransportError("550 mailbox unavailable", permanent=True)
        kept = [r for r in batch.recipients if r.to not in self.refused]
        outcomes = self.inner.send(dataclasses.replace(batch, recipients=kept)) if kept else []
        return outcomes + [
            Outcome(r.key, error=error) for r in batch.recipients if r.to in self.refused
        ]


def newsletter_only(catalog: Catalog) -> Catalog:
    return Catalog(newsletters=catalog.newsletters)


def readers_in(catalog: Catalog, zone: str, names: list[str]) -> list[int]:
    return [
        active_reader(catalog, JOINED, email=f"{name}@example.org", timezone=zone)[0]
        for name in names
    ]


def tick(catalog: Catalog, now: datetime) -> list[int]:
    """A beat tick at `now`: the issue deliveries it queued to send."""
    batches = schedule.tick(catalog, now).batches
    return sorted(delivery for key, ids in batches.items() if key[0] == "issue" for delivery in ids)


def send(catalog: Catalog, settings: Settings, ids: list[int], now: datetime) -> list[int]:
    """What a worker does with a send task for `ids`: those it sent."""
    return Sender(settings, catalog, OutboxTransport(settings.outbox_dir)).send(ids, now).sent


def the_broadcast() -> int:
    with session_scope() as session:
        return session.scalars(select(Broadcast.id)).one()


def received(settings: Settings) -> Counter[str]:
    """How many copies of the issue each address received."""
    return Counter(str(m["To"]) for m in outbox.with_subject(settings.outbox_dir, SUBJECT))


def test_a_cancelled_issue_stops_and_a_resumed_one_reaches_the_rest_once(
    db: None, catalog: Catalog, settings: Settings
) -> None:
    letters = newsletter_only(catalog)
    readers_in(letters, "Europe/Paris", ["p1", "p2", "p3", "p4"])
    readers_in(letters, "America/New_York", ["n1", "n2"])
    paris = tick(letters, PARIS)
    assert len(paris) == 4
    assert len(send(letters, settings, paris[:2], PARIS)) == 2  # two go out, then...
    issue = the_broadcast()
    assert broadcasts.cancel_issue(issue, PARIS + timedelta(minutes=1)) == 2

    # The worker still holds a task for the other two, and New York's morning comes.
    assert send(letters, settings, paris[2:], PARIS + timedelta(minutes=2)) == []
    assert tick(letters, NEW_YORK) == []
    assert sum(received(settings).values()) == 2
    with session_scope() as session:
        statuses = Counter(session.scalars(select(Delivery.status)))
    assert statuses == {DeliveryStatus.SENT: 2, DeliveryStatus.SKIPPED: 2}, "none for New York"

    later = NEW_YORK + timedelta(hours=1)
    resumed = broadcasts.resume_issue(issue, later)
    assert resumed == paris[2:]
    assert len(send(letters, settings, resumed, later)) == 2
    new_york = tick(letters, later)
    assert len(new_york) == 2, "the New York wave goes on from its checkpoint"
    assert len(send(letters, settings, new_york, later)) == 2
    assert tick(letters, later + timedelta(minutes=1)) == []
    addresses = [f"{name}@example.org" for name in ("p1", "p2", "p3", "p4", "n1", "n2")]
    assert received(settings) == dict.fromkeys(addresses, 1)


def test_a_delivery_queued_as_the_issue_is_cancelled_is_skipped_by_the_sender(
    db: None, catalog: Catalog, settings: Settings
) -> None:
    letters = newsletter_only(catalog)
    readers_in(letters, "Europe/Paris", ["p1", "p2"])
    ids = tick(letters, PARIS)
    issue = the_broadcast()
    broadcasts.cancel_issue(issue, PARIS)
    with session_scope() as session:
        # As a batch that committed just after the cancellation's update would leave it.
        session.execute(update(Delivery).values(status=DeliveryStatus.QUEUED, last_error=None))
    sender = Sender(settings, letters, OutboxTransport(settings.outbox_dir))
    done = sender.send(ids, PARIS)
    assert (done.sent, sorted(done.skipped)) == ([], ids)
    assert received(settings) == {}
    assert broadcasts.resume_issue(issue, PARIS) == ids, "resuming puts these back too"


def test_an_issue_cancelled_while_its_wave_is_written_stops_at_the_next_batch(
    db: None, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    letters = newsletter_only(catalog)
    readers_in(letters, "Europe/Paris", ["p1", "p2", "p3", "p4", "p5"])
    monkeypatch.setattr(broadcasts, "WAVE_BATCH", 2)
    real_batch = broadcasts._next_batch
    batches = []

    def cancelled_after_the_first(*arguments: object) -> list[int] | None:
        written = real_batch(*arguments)  # type: ignore[arg-type]
        batches.append(written)
        if len(batches) == 1:  # an operator presses Cancel while the tick works
            broadcasts.cancel_issue(the_broadcast(), PARIS)
        return written

    monkeypatch.setattr(broadcasts, "_next_batch", cancelled_after_the_first)
    schedule.tick(letters, PARIS)
    assert [len(batch or []) for batch in batches] == [2, 0]
    with session_scope() as session:
        statuses = list(session.scalars(select(Delivery.status)))
    assert statuses == [DeliveryStatus.SKIPPED] * 2


def test_resuming_leaves_alone_what_was_skipped_for_another_reason(
    db: None, catalog: Catalog, settings: Settings
) -> None:
    letters = newsletter_only(catalog)
    readers_in(letters, "Europe/Paris", ["p1", "p2"])
    first, second = tick(letters, PARIS)
    with session_scope() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id == first)
            .values(status=DeliveryStatus.SKIPPED, last_error="reader is unsubscribed")
        )
    issue = the_broadcast()
    broadcasts.cancel_issue(issue, PARIS)
    assert broadcasts.resume_issue(issue, PARIS) == [second]


def test_cancel_and_resume_refuse_what_does_not_apply(db: None, catalog: Catalog) -> None:
    letters = newsletter_only(catalog)
    readers_in(letters, "Europe/Paris", ["p1"])
    tick(letters, PARIS)
    issue = the_broadcast()
    with pytest.raises(broadcasts.IssueStateError, match="not cancelled"):
        broadcasts.resume_issue(issue, PARIS)
    broadcasts.cancel_issue(issue, PARIS)
    with pytest.raises(broadcasts.IssueStateError, match="cancelled already"):
        broadcasts.cancel_issue(issue, PARIS)
    with pytest.raises(LookupError):
        broadcasts.cancel_issue(issue + 1, PARIS)


def test_progress_counts_the_readers_still_to_write_the_rate_the_eta_and_failures(
    db: None, catalog: Catalog, settings: Settings
) -> None:
    letters = newsletter_only(catalog)
    readers_in(letters, "Europe/Paris", ["p1", "p2", "p3", "p4", "p5"])
    readers_in(letters, "America/New_York", ["n1", "n2", "n3"])
    ids = tick(letters, PARIS)
    transport = RefusingTransport(OutboxTransport(settings.outbox_dir), {"p3@example.org"})
    Sender(settings, letters, transport).send(ids[:3], PARIS)
    now = PARIS + timedelta(minutes=5)
    with session_scope() as session:
        progress = report.progress(session, the_broadcast(), now)
    assert progress is not None
    assert progress.status == "sending"
    assert (progress.counts.sent, progress.counts.failed, progress.counts.waiting) == (2, 1, 2)
    assert progress.unwritten == 3, "New York's readers, whose wave has not come"
    assert progress.total == 8
    assert progress.rate == 2 / 10
    assert progress.next_wave == NEW_YORK
    # 5 left at 0.2 a minute is 25 minutes: New York's morning is later still.
    assert progress.eta == NEW_YORK
    (failure,) = progress.failures
    assert (failure.email, failure.status) == ("p3@example.org", DeliveryStatus.FAILED)
    assert failure.last_error == "550 mailbox unavailable"
    assert progress.share_done == 3 / 8


def test_the_issue_page_shows_progress_polls_while_sending_and_stops_when_sent(
    admin: FlaskClient, catalog: Catalog, settings: Settings
) -> None:
    letters = newsletter_only(catalog)
    readers_in(letters, "Europe/Paris", ["p1", "p2", "p3"])
    ids = tick(letters, PARIS)
    send(letters, settings, ids[:1], PARIS)
    issue = the_broadcast()
    with time_machine.travel(PARIS + timedelta(minutes=1), tick=False):
        page = admin.get(f"/dashboard/issues/{issue}")
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert "style=" not in text
        assert "<script>" not in text
        assert "1 sent of 3" in text
        assert 'hx-trigger="every 3s"' in text
        assert f'hx-get="/dashboard/issues/{issue}/progress"' in text
        assert "Cancel this issue" in text
        send(letters, settings, ids[1:], PARIS + timedelta(minutes=1))
        fragment = admin.get(f"/dashboard/issues/{issue}/progress").get_data(as_text=True)
    assert fragment.lstrip().startswith("<section")
    assert "3 sent of 3" in fragment
    assert "hx-trigger" not in fragment, "a sent issue stops polling"
    assert re.search(r'class="done"', fragment)


def test_the_issues_page_lists_issues_newest_first_with_their_counts(
    viewer: FlaskClient, catalog: Catalog, settings: Settings
) -> None:
    letters = newsletter_only(catalog)
    readers_in(letters, "Europe/Paris", ["p1", "p2"])
    first = tick(letters, PARIS)
    send(letters, settings, first, PARIS)
    tick(letters, PARIS + timedelta(days=14))  # the second issue, not sent yet
    text = viewer.get("/dashboard/issues").get_data(as_text=True)
    subjects = re.findall(r'<a href="/dashboard/issues/\d+">([^<]+)</a>', text)
    assert subjects == ["The longer table", SUBJECT]
    rows = re.findall(r'<tr id="issue-\d+">.*?</tr>', text, re.S)
    assert re.findall(r'<span class="status (\w+)">', rows[0] + rows[1]) == ["sending", "sent"]
    assert re.findall(r'<td class="num">(\d+)</td>', rows[1])[:2] == ["2", "0"]  # sent, waiting


def test_an_empty_issues_page_says_so(viewer: FlaskClient) -> None:
    text = viewer.get("/dashboard/issues").get_data(as_text=True)
    assert "No issue has gone out yet." in text


def test_an_admin_cancels_and_resumes_from_the_page_and_a_viewer_cannot(
    admin: FlaskClient, viewer: FlaskClient, catalog: Catalog, settings: Settings
) -> None:
    letters = newsletter_only(catalog)
    readers_in(letters, "Europe/Paris", ["p1", "p2"])
    tick(letters, PARIS)
    issue = the_broadcast()
    cancel = f"/dashboard/issues/{issue}/cancel"
    assert viewer.post(cancel, data={"csrf_token": form_token(viewer)}).status_code == 403
    assert "Cancel this issue" not in viewer.get(f"/dashboard/issues/{issue}").get_data(
        as_text=True
    )
    token = form_token(admin)
    answer = admin.post(cancel, data={"csrf_token": token}, follow_redirects=True)
    text = answer.get_data(as_text=True)
    assert "The issue is cancelled. 2 queued deliveries will not go out" in text
    assert "Resume this issue" in text
    with session_scope() as session:
        assert session.get(Broadcast, issue).status is BroadcastStatus.CANCELLED  # type: ignore[union-attr]
    again = admin.post(cancel, data={"csrf_token": token}, follow_redirects=True)
    assert "Nothing changed: the issue is cancelled already." in again.get_data(as_text=True)
    resume = admin.post(
        f"/dashboard/issues/{issue}/resume", data={"csrf_token": token}, follow_redirects=True
    )
    assert "The issue goes on from where it stopped." in resume.get_data(as_text=True)
    with session_scope() as session:
        assert session.get(Broadcast, issue).status is BroadcastStatus.SENDING  # type: ignore[union-attr]
        assert set(session.scalars(select(Delivery.status))) == {DeliveryStatus.QUEUED}
    assert admin.post("/dashboard/issues/999/cancel", data={"csrf_token": token}).status_code == 404

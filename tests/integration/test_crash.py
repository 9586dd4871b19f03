"""A worker killed with SIGKILL in the middle of a 5,000-reader send, then restarted:
every reader gets exactly one email at the SendGrid stand-in.

Real parts throughout: a Celery worker process, the broker, the database, the stand-in
(which posts signed `processed` events for what it accepted, as SendGrid does), and
Tend's web app serving the event webhook on loopback.
"""

from __future__ import annotations

import signal
from datetime import timedelta

import pytest

from core.clock import utcnow
from core.config import Settings
from core.models import DeliveryStatus
from courses.model import Catalog
from tasks import jobs, schedule
from tests.support.deliveries import expire_leases, statuses
from tests.support.processes import wait_for
from tests.support.readers import many_due
from tests.support.sendgrid_standin import SendGridStandIn
from tests.support.webhook import webhook_server
from tests.support.worker import running_worker

pytestmark = pytest.mark.worker

READERS = 5000
KEY = "SG.crash"


def all_sent() -> bool:
    return statuses() == {DeliveryStatus.SENT: READERS}


@pytest.mark.parametrize("moment", ["awaiting the answer", "awaiting its turn"])
def test_a_worker_killed_mid_send_and_restarted_sends_each_reader_exactly_once(
    db: None, settings: Settings, catalog: Catalog, moment: str
) -> None:
    ids = many_due(READERS, catalog["softening-sessions"].lessons[0].slug, utcnow())
    with (
        SendGridStandIn(api_key=KEY) as sendgrid,
        webhook_server(settings, sendgrid.public_key) as hook,
    ):
        env = {
            "TEND_TRANSPORT": "sendgrid",
            "SENDGRID_API_KEY": KEY,
            "SENDGRID_API_HOST": sendgrid.url,
            # 2,000 a second: each batch of 1,000 waits half a second for its turn.
            "TEND_SEND_RATE": "2000",
        }
        with running_worker("crash", env=env) as (worker, _log):
            jobs.queue_batches([ids])
            wait_for(lambda: len(sendgrid.accepted) >= 1, 60, "the first batch")
            if moment == "awaiting the answer":
                # The next request is taken, and its answer never comes.
                sendgrid.inject("hang_after", seconds=120)
                sendgrid.wait_for_hang(timeout=60)
            else:
                wait_for(
                    lambda: statuses().get(DeliveryStatus.SENDING, 0) > 0,
                    60,
                    "a claimed batch waiting for its turn",
                )
            worker.send_signal(signal.SIGKILL)
            worker.wait(30)
        sendgrid.release()
        mid_crash = statuses()
        assert mid_crash.get(DeliveryStatus.SENT, 0) < READERS, "the kill came mid-send"
        held = (
            DeliveryStatus.IN_FLIGHT if moment == "awaiting the answer" else DeliveryStatus.SENDING
        )
        assert mid_crash.get(held, 0) > 0, mid_crash
        in_doubt = mid_crash.get(DeliveryStatus.IN_FLIGHT, 0)

        # A lease's length later, the tick finds what the dead worker held: claims never
        # sent are queued again; requests whose answer never came are in doubt.
        expire_leases()
        recovered = schedule.tick(catalog, utcnow())
        assert recovered.in_doubt == in_doubt
        with running_worker("crash-restarted", env=env):
            jobs.queue_batches(recovered.batches.values())
            settled = {DeliveryStatus.SENT: READERS - in_doubt, DeliveryStatus.UNKNOWN: in_doubt}
            expected = {status: count for status, count in settled.items() if count}
            wait_for(lambda: statuses() == expected, 120, f"{expected}", message=statuses)
            # SendGrid's events, minutes later, say what became of the doubtful ones.
            assert sendgrid.post_events(hook, sendgrid.events("processed")) == 200
            wait_for(all_sent, 120, "every delivery sent", message=statuses)

        counts = sendgrid.count_by_address()
    assert len(counts) == READERS
    assert set(counts.values()) == {1}, "no reader got the lesson twice"
    # Nothing is left in doubt for a later tick to send again.
    final = schedule.tick(catalog, utcnow() + timedelta(days=2))
    assert (final.in_doubt, final.resent, final.requeued) == (0, 0, 0)

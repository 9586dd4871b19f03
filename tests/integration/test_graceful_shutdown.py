"""A worker asked to stop (SIGTERM, as a deploy or a scale-down does) gives back the part
of its batch it has not handed to the provider and exits within seconds; the next worker
sends it. Every reader gets the lesson exactly once, and no claim waits out its lease.

Real parts: Celery worker processes (the solo pool, and a prefork pool whose main process
alone is signalled, as `docker stop` does), Redis, the database, the SendGrid stand-in.
A send rate makes a claimed batch wait for its turn: the moment a stop usually finds.
"""

from __future__ import annotations

import re
import signal
import time

import pytest

from core.clock import utcnow
from core.models import DeliveryStatus
from courses.model import Catalog
from tasks import jobs
from tests.support.deliveries import statuses
from tests.support.processes import wait_for
from tests.support.readers import many_due
from tests.support.sendgrid_standin import SendGridStandIn
from tests.support.worker import running_worker

pytestmark = pytest.mark.worker

READERS = 3000
BATCH = 1000
KEY = "SG.shutdown"
STOPPED_WITHIN = 15.0  # seconds; a service manager's grace is usually 10 to 30


def environment(sendgrid: SendGridStandIn, rate: int | None) -> dict[str, str]:
    env = {
        "TEND_TRANSPORT": "sendgrid",
        "SENDGRID_API_KEY": KEY,
        "SENDGRID_API_HOST": sendgrid.url,
    }
    if rate:
        env["TEND_SEND_RATE"] = str(rate)
    return env


@pytest.mark.parametrize("pool", ["solo", "prefork"])
def test_a_stopped_worker_gives_back_its_unsent_claims_and_the_next_sends_them_once(
    db: None, catalog: Catalog, pool: str
) -> None:
    ids = many_due(READERS, catalog["softening-sessions"].lessons[0].slug, utcnow())
    options = ["--concurrency", "2"] if pool == "prefork" else []
    with SendGridStandIn(api_key=KEY) as sendgrid:
        # 150 letters a second: after the first batch, each waits seconds for its turn.
        slow = environment(sendgrid, rate=150)
        with running_worker(f"stopping-{pool}", env=slow, pool=pool, options=options) as (
            worker,
            log,
        ):
            jobs.queue_batches([ids[start : start + BATCH] for start in range(0, READERS, BATCH)])
            wait_for(lambda: len(sendgrid.accepted) >= 1, 60, "the first batch to be sent")
            wait_for(
                lambda: statuses().get(DeliveryStatus.SENDING, 0) > 0,
                60,
                "a claimed batch waiting for its turn",
                message=statuses,
            )
            asked = time.monotonic()
            worker.send_signal(signal.SIGTERM)
            worker.wait(STOPPED_WITHIN + 5)
            took = time.monotonic() - asked
            output = log.read_text()
        assert worker.returncode == 0, output
        assert took < STOPPED_WITHIN, f"the worker took {took:.1f} s to stop:\n{output}"
        given_back = sum(int(count) for count in re.findall(r"(\d+) given back", output))
        assert given_back > 0, f"the worker gave nothing back:\n{output}"

        after_stop = statuses()
        # Nothing is left claimed or in flight: what was sent is recorded, the rest queued.
        assert set(after_stop) <= {DeliveryStatus.SENT, DeliveryStatus.QUEUED}, after_stop
        assert after_stop.get(DeliveryStatus.QUEUED, 0) > 0, "the stop came mid-send"

        # The released claims were queued again at once: a new worker sends them, with no
        # tick and no lease to wait out.
        with running_worker(f"next-{pool}", env=environment(sendgrid, rate=None)):
            wait_for(
                lambda: statuses() == {DeliveryStatus.SENT: READERS},
                120,
                "every delivery sent",
                message=statuses,
            )
        counts = sendgrid.count_by_address()
    assert len(counts) == READERS
    assert set(counts.values()) == {1}, "no reader got the lesson twice"

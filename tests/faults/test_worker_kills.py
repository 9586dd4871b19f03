"""Workers killed with SIGKILL mid-send, again and again, then restarted: after the
recovery production runs, every reader has exactly one copy.

Each trial kills a worker once while a batch waits for its turn under the shared send
rate, once while a request is under way to the stand-in, and once wherever the seeded
clock puts it (its answer being recorded, a task just taken from the queue...). Nothing is
cleaned up by hand but time itself: the dead worker's leases are moved into the past, as
ten minutes would.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from core.clock import utcnow
from core.config import Settings
from core.models import DeliveryStatus
from courses.model import Catalog
from tests.faults.checks import Figures, Letter, Tally, assert_clean, tally
from tests.faults.world import (
    COURSE,
    LATE,
    Provider,
    address,
    provider,
    queue_in_batches,
    recover_from_dead_worker,
    settle,
    unsubscribe_waiting,
)
from tests.support.deliveries import statuses
from tests.support.processes import wait_for
from tests.support.readers import many_due
from tests.support.worker import running_worker

pytestmark = pytest.mark.worker

READERS = 2000
BATCH = 100
# 400 letters a second under the shared rate, and a little network time per request: a
# send of 2,000 readers lasts a few seconds, long enough for kills to land in the middle,
# and each batch of 100 waits about as long for its turn (0.25 s) as its request takes.
SEND_RATE = 400
LATENCY = 0.2
# What a killed worker may leave behind: claims never sent, and requests under way.
HELD = (DeliveryStatus.SENDING, DeliveryStatus.IN_FLIGHT)


LEAVING = 20  # readers who unsubscribe between two kills, their letter still waiting
# Where each trial's kills land: a batch waiting its turn, a request under way, anywhere.
MOMENTS = (DeliveryStatus.SENDING, DeliveryStatus.IN_FLIGHT, None)


def kill_at(
    world: Provider, name: str, moment: DeliveryStatus | None, rng: random.Random
) -> Counter[DeliveryStatus]:
    """Start a solo worker and kill it with SIGKILL: as soon as it holds claims in
    `moment` (SENDING: a batch waiting for its turn; IN_FLIGHT: a request under way), or,
    with None, a random moment after it is ready. The claims it left behind, by status."""
    before = held_claims()
    with running_worker(name, env=world.env) as (worker, _log):
        if moment is None:
            time.sleep(rng.uniform(0.1, 1.2))  # the fault's moment, drawn from the seed
        else:
            wait_for(
                lambda: (held_claims() - before)[moment] > 0,
                30,
                f"the worker to hold claims in {moment}",
                interval=0.01,
                message=statuses,
            )
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
    return held_claims() - before


def held_claims() -> Counter[DeliveryStatus]:
    return Counter({status: count for status, count in statuses().items() if status in HELD})


def due_letters(catalog: Catalog, first: int, count: int, left: set[str]) -> set[Letter]:
    subject = catalog[COURSE].lessons[0].subject
    every = {address(n) for n in range(first, first + count)}
    return {(email, subject) for email in every - left}


def test_solo_workers_killed_at_random_again_and_again_send_each_reader_once(
    db: None, settings: Settings, catalog: Catalog, figures: Figures
) -> None:
    trials, kills, rng = 3, len(MOMENTS), random.Random(20261126)
    lesson = catalog[COURSE].lessons[0].slug
    found, held = Tally(0, 0, 0, 0, 0), Counter[DeliveryStatus]()
    for trial in range(trials):
        first = trial * READERS
        with provider(settings, send_rate=SEND_RATE, latency=LATENCY, events=LATE) as world:
            queue_in_batches([many_due(READERS, lesson, utcnow(), first=first)], BATCH)
            left: set[str] = set()
            for kill, moment in enumerate(MOMENTS):
                held += kill_at(world, f"killed-{trial}-{kill}", moment, rng)
                if kill == 1:
                    left |= unsubscribe_waiting(LEAVING, rng)
            with running_worker(f"restarted-{trial}", env=world.env):
                recover_from_dead_worker(catalog, utcnow(), BATCH)
                settle(catalog, world, utcnow(), BATCH)
            found += tally(due_letters(catalog, first, READERS, left), world.received())
    faults = (
        f"SIGKILL x {trials * kills} (leaving {held[DeliveryStatus.SENDING]:,} claimed,"
        f" {held[DeliveryStatus.IN_FLIGHT]:,} in flight); {trials * LEAVING} unsubscribe"
    )
    figures.record("solo worker SIGKILLed mid-send", trials, READERS, faults, found)
    assert held[DeliveryStatus.SENDING], "some kill came while a batch awaited its turn"
    assert held[DeliveryStatus.IN_FLIGHT], "some kill came while a request was under way"
    assert_clean(found)


def pool_children(parent: subprocess.Popen[bytes]) -> list[int]:
    """The pool processes of a prefork worker (Linux: the kernel lists a task's children)."""
    children = Path(f"/proc/{parent.pid}/task/{parent.pid}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


def kill_pool_children(
    worker: subprocess.Popen[bytes], kills: int, rng: random.Random, log: Path
) -> int:
    """SIGKILL one pool process at a random moment, `kills` times (the parent replaces
    each one); how many were killed."""
    killed = 0
    for _ in range(kills):
        time.sleep(rng.uniform(0.2, 0.8))
        children = pool_children(worker)
        assert children, f"the prefork worker has no pool processes (log: {log})"
        pid = rng.choice(children)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:  # it had just ended by itself
            continue
        killed += 1
    return killed


def kill_worker_and_pool(worker: subprocess.Popen[bytes]) -> None:
    """SIGKILL the prefork parent, then each of its pool processes, as a machine lost."""
    children = pool_children(worker)
    worker.send_signal(signal.SIGKILL)
    worker.wait(30)
    for pid in children:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue


def test_a_prefork_worker_losing_pool_processes_and_then_itself_sends_each_reader_once(
    db: None, settings: Settings, catalog: Catalog, figures: Figures
) -> None:
    rng = random.Random(7)
    lesson = catalog[COURSE].lessons[0].slug
    prefork = {"pool": "prefork", "options": ["--concurrency", "2"]}
    with provider(settings, send_rate=SEND_RATE, latency=LATENCY, events=LATE) as world:
        queue_in_batches([many_due(READERS, lesson, utcnow())], BATCH)
        with running_worker("prefork", env=world.env, **prefork) as (worker, log):
            killed = kill_pool_children(worker, 3, rng, log)
            kill_worker_and_pool(worker)
        with running_worker("prefork-restarted", env=world.env, **prefork):
            recover_from_dead_worker(catalog, utcnow(), BATCH)
            settle(catalog, world, utcnow(), BATCH)
        found = tally(due_letters(catalog, 0, READERS, set()), world.received())
    faults = f"SIGKILL pool process x {killed}, parent and pool x 1"
    figures.record("prefork worker SIGKILLed mid-send", 1, READERS, faults, found)
    assert_clean(found)

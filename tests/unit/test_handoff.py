"""The thread that publishes the deliveries web requests hand over (tasks/handoff.py)."""

from __future__ import annotations

import logging
import multiprocessing
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tasks.handoff import Handoff


class Published:
    """A stand-in for the broker: every message published, in order."""

    def __init__(self, fail_first: int = 0) -> None:
        self.messages: list[list[int]] = []
        self.fail_first = fail_first
        self.lock = threading.Lock()

    def __call__(self, ids: list[int]) -> None:
        with self.lock:
            if self.fail_first:
                self.fail_first -= 1
                raise ConnectionError("the broker is down")
            self.messages.append(list(ids))

    @property
    def ids(self) -> list[int]:
        return [delivery_id for message in self.messages for delivery_id in message]


def test_each_id_from_many_threads_is_published_once() -> None:
    published = Published()
    handoff = Handoff(published, linger=0.005, most=7)

    def put_many(first: int) -> None:
        for delivery_id in range(first, first + 500):
            handoff.put(delivery_id)

    threads = [threading.Thread(target=put_many, args=(n * 1000,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert handoff.flush(timeout=10)

    expected = [n * 1000 + k for n in range(8) for k in range(500)]
    assert sorted(published.ids) == expected  # none lost, none twice
    assert max(len(message) for message in published.messages) <= 7


def test_a_burst_shares_messages() -> None:
    published = Published()
    handoff = Handoff(published, linger=0.2)
    for delivery_id in range(50):
        handoff.put(delivery_id)
    assert handoff.flush(timeout=10)
    assert published.ids == list(range(50))
    # One message for all of them, unless the machine stalled between two puts.
    assert len(published.messages) < 10, published.messages


def test_flush_publishes_without_waiting_out_the_linger_and_put_starts_again() -> None:
    published = Published()
    handoff = Handoff(published, linger=60)  # only a flush sends within this test
    handoff.put(1)
    handoff.put(2)
    assert handoff.flush(timeout=10)
    assert published.messages == [[1, 2]]

    handoff.put(3)
    assert handoff.flush(timeout=10)
    assert published.messages == [[1, 2], [3]]
    assert handoff.flush(timeout=10)  # nothing waiting: nothing more
    assert published.messages == [[1, 2], [3]]


def test_a_failed_publish_is_logged_and_later_ids_still_go(
    caplog: pytest.LogCaptureFixture,
) -> None:
    published = Published(fail_first=1)
    handoff = Handoff(published, linger=60)
    handoff.put(1)
    with caplog.at_level(logging.ERROR, logger="tasks.handoff"):
        assert handoff.flush(timeout=10)
    assert published.messages == []
    assert "could not queue 1 deliveries; the tick's sweep will queue them" in caplog.text

    handoff.put(2)
    assert handoff.flush(timeout=10)
    assert published.messages == [[2]]


def test_flush_gives_up_on_a_broker_that_hangs_and_the_thread_goes_on_after() -> None:
    release = threading.Event()
    published = Published()

    def hang_once(ids: list[int]) -> None:
        release.wait(30)
        published(ids)

    handoff = Handoff(hang_once, linger=0)
    handoff.put(1)
    try:
        assert handoff.flush(timeout=0.2) is False
    finally:
        release.set()
    deadline = time.monotonic() + 10
    while published.ids != [1] and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)  # the thread is back to waiting (or, were it stopped, gone)
    handoff.put(2)  # after the broker answers, later ids still go, without a flush
    while published.ids != [1, 2] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert published.ids == [1, 2], "the id put after a timed-out flush never went"


def _in_child(handoff: Handoff, published: Published, answer: multiprocessing.Queue) -> None:
    handoff.put(99)
    handoff.flush(timeout=10)
    answer.put(published.messages)


def test_a_forked_child_publishes_its_own_ids_not_its_parents() -> None:
    published = Published()
    handoff = Handoff(published, linger=60)
    handoff.put(1)  # waiting in the parent when it forks
    fork = multiprocessing.get_context("fork")
    answer = fork.Queue()
    child = fork.Process(target=_in_child, args=(handoff, published, answer))
    child.start()
    try:
        assert answer.get(timeout=30) == [[99]]
    finally:
        child.join(30)
    assert child.exitcode == 0
    assert handoff.flush(timeout=10)
    assert published.messages == [[1]]


def test_a_process_that_exits_publishes_what_it_was_handed(tmp_path: Path) -> None:
    sent = tmp_path / "sent"
    program = f"""
import tasks.handoff as module
module.handoff._publish = lambda ids: open({str(sent)!r}, "a").write(repr(ids) + "\\n")
module.handoff.put(7)
module.handoff.put(8)
"""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert sent.read_text() == "[7, 8]\n"

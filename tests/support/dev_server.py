"""`tend dev` run as a user runs it: a child process in a fresh data folder."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

from tests.support.redis_server import free_port


def dev_environment(data_dir: Path, embedded: bool, **extra: str) -> dict[str, str]:
    """The test run's environment as a fresh shell would have it for `tend dev`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEND_")}
    if embedded:
        # On the embedded default, `tend dev` starts its own Redis and SQLite.
        env.pop("REDIS_URL", None)
        env.pop("DATABASE_URL", None)
    env.update(TEND_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1", **extra)
    return env


def tend_command() -> list[str]:
    tend = shutil.which("tend")
    assert tend, "the tend command is not installed (pip install -e '.[test]')"
    return [tend, "dev"]


@dataclass(frozen=True)
class DevServer:
    base_url: str
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def running_tend_dev(data_dir: Path, embedded: bool, timeout: float = 90.0) -> Iterator[DevServer]:
    """Start `tend dev` on a free port, yield it once it serves, stop it with Ctrl-C."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = Path(tempfile.mkstemp(prefix="tend-dev-", suffix=".log", dir=data_dir.parent)[1])
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*tend_command(), "--port", str(port)],
            env=dev_environment(data_dir, embedded),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=data_dir.parent,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_page(base_url, process, log_path, timeout)
        _wait_for_log(log_path, b"celery@", b" ready.", process, timeout)
        yield DevServer(base_url, process, log_path)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            message = f"tend dev did not stop on Ctrl-C:\n{log_path.read_text()}"
            raise AssertionError(message) from None


def _wait_for_page(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"tend dev exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise AssertionError(f"tend dev served no page within {timeout} s:\n{log.read_text()}")


def _wait_for_log(
    log: Path, first: bytes, second: bytes, process: subprocess.Popen[bytes], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_bytes()
        if first in text and second in text:
            return
        if process.poll() is not None:
            raise AssertionError(f"tend dev exited:\n{log.read_text()}")
        time.sleep(0.2)
    raise AssertionError(f"the worker was not ready within {timeout} s:\n{log.read_text()}")


def stops_serving(url: str, wait: float = 10.0) -> bool:
    """Whether nothing answers at `url` any more, within `wait` seconds."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            with urlopen(url, timeout=1):
                pass
        except (URLError, ConnectionError, TimeoutError):
            return True
        time.sleep(0.1)
    return False

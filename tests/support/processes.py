"""Waiting on and stopping the processes tests start, always within a bound."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    check: Callable[[], T],
    timeout: float,
    what: str,
    interval: float = 0.1,
    message: Callable[[], object] | None = None,
) -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` s
    (and what `message` says of the state of things then)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            state = f" (then: {message()})" if message else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{state}")
        time.sleep(interval)


def wait_for_log(
    process: subprocess.Popen[bytes], log: Path, marks: list[bytes], timeout: float, what: str
) -> None:
    """Wait until every mark is in the process's log; fail at once if the process exits."""

    def logged() -> bool:
        text = log.read_bytes()
        if process.poll() is not None:
            raise AssertionError(f"{what} exited with {process.returncode}:\n{text.decode()}")
        return all(mark in text for mark in marks)

    wait_for(logged, timeout, f"{what} to be ready (log: {log})")


def stop(process: subprocess.Popen[bytes], signum: int = signal.SIGTERM, grace: float = 30) -> bool:
    """Ask the process to stop; kill it if it has not within `grace` s. True if it stopped."""
    if process.poll() is None:
        process.send_signal(signum)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return False
    return True

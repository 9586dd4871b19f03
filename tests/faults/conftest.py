"""The fault suite runs on PostgreSQL and Redis (DATABASE_URL and REDIS_URL set), as a
production deployment does; on the embedded default it is skipped.

Each case records its figures (trials, readers, faults injected, duplicates, lost) with
the `figures` fixture; the run prints them as the table docs/reliability.md holds, and
writes it to the file named by TEND_FAULT_FIGURES when that is set.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.faults.checks import Figures
from tests.support.postgres_server import on_postgresql

_FIGURES = pytest.StashKey[Figures]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if on_postgresql() and "REDIS_URL" in os.environ:
        return
    skip = pytest.mark.skip(reason="the fault suite runs on PostgreSQL and Redis")
    for item in items:
        if item.path.is_relative_to(Path(__file__).parent):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def figures(request: pytest.FixtureRequest) -> Figures:
    return request.config.stash.setdefault(_FIGURES, Figures())


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    recorded = terminalreporter.config.stash.get(_FIGURES, None)
    if recorded is None or not recorded.rows:
        return
    table = recorded.markdown()
    terminalreporter.write_sep("-", "fault suite figures")
    terminalreporter.write_line(table)
    target = os.environ.get("TEND_FAULT_FIGURES")
    if target:
        Path(target).write_text(table + "\n")

"""`tend dev` refuses a broken course, saying where the mistake is, and survives a crash."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from urllib.request import urlopen

from tests.conftest import EMBEDDED
from tests.support.dev_server import (
    dev_environment,
    running_tend_dev,
    stops_serving,
    tend_command,
)

DEMO = Path(__file__).resolve().parents[2] / "courses" / "softening-sessions"


def test_a_lesson_with_broken_front_matter_stops_tend_dev_with_its_file_and_line(
    tmp_path: Path,
) -> None:
    courses = tmp_path / "courses"
    shutil.copytree(DEMO, courses / "softening-sessions")
    broken = courses / "softening-sessions" / "02-not-alone.md"
    lines = broken.read_text().splitlines(keepends=True)
    lines[2] = 'preheader: "an unclosed quote\n'
    broken.write_text("".join(lines))

    env = dev_environment(tmp_path / "var", EMBEDDED, TEND_COURSES_DIR=str(courses))
    result = subprocess.run(
        [*tend_command(), "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert f"{broken}:3: error: this is not valid YAML" in result.stderr
    assert "missing" not in result.stderr, "a broken lesson still counts in the numbering"
    assert "Migrating" not in result.stdout, "it stops before starting anything"


def test_after_tend_dev_is_killed_outright_a_second_run_starts_cleanly(
    tmp_path: Path, db: None
) -> None:
    data_dir = tmp_path / "var"
    with running_tend_dev(data_dir, EMBEDDED) as first:
        first.process.kill()  # no chance to stop its children: the kernel must
        first.process.wait()
        assert stops_serving(first.base_url), "the web process outlived tend dev"
    with running_tend_dev(data_dir, EMBEDDED) as second, urlopen(second.base_url) as page:
        assert page.status == 200
        assert b"Softening Sessions" in page.read()

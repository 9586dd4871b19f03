"""Published course edits reach running processes without a restart."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from courses.model import CourseError
from tasks.catalog import CatalogCache

SHIPPED = Path(__file__).resolve().parents[2] / "courses"


def copy_of_courses(tmp_path: Path) -> Path:
    root = tmp_path / "courses"
    shutil.copytree(SHIPPED, root, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return root


def touch_later(path: Path, text: str) -> None:
    path.write_text(text)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_an_edited_lesson_is_read_again(tmp_path: Path) -> None:
    root = copy_of_courses(tmp_path)
    cache = CatalogCache(root)
    first = cache.get()
    assert cache.get() is first, "nothing changed: nothing is read again"
    lesson = root / "softening-sessions" / "01-acknowledge.md"
    touch_later(lesson, lesson.read_text().replace("The step everyone skips", "The first step"))
    assert cache.get()["softening-sessions"].lessons[1].subject == "The first step"


def test_an_edit_with_a_mistake_keeps_the_last_good_courses(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = copy_of_courses(tmp_path)
    cache = CatalogCache(root)
    good = cache.get()
    touch_later(root / "softening-sessions" / "01-acknowledge.md", "---\nsubject: [\n---\n\nx\n")
    assert cache.get() is good
    assert "the edited courses have mistakes" in caplog.text
    assert "01-acknowledge.md:3: error: this is not valid YAML" in caplog.text


def test_the_folder_is_looked_at_again_only_after_a_while(tmp_path: Path) -> None:
    root = copy_of_courses(tmp_path)
    cache = CatalogCache(root, recheck_every=3600)
    first = cache.get()
    lesson = root / "softening-sessions" / "01-acknowledge.md"
    touch_later(lesson, lesson.read_text().replace("The step everyone skips", "The first step"))
    assert cache.get() is first, "looked at the files again before the hour was up"


def test_mistakes_at_the_first_read_are_raised(tmp_path: Path) -> None:
    root = copy_of_courses(tmp_path)
    (root / "softening-sessions" / "01-acknowledge.md").write_text("no front matter\n")
    with pytest.raises(CourseError):
        CatalogCache(root).get()

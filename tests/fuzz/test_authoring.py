"""Whatever an author writes in a lesson or course.yml, `tend lint` answers with problems
at a file and line (exit 1) or passes (exit 0), never a traceback; and whatever Markdown a
letter holds, the renderer gives HTML and text or Tend's own LetterError, nothing else.

The crashes these found, since fixed, are pinned by their smallest examples at the end.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import shutil
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, example, given
from hypothesis import strategies as st

import courses
from courses.loader import load_course
from courses.model import Course, Lesson, Problem
from emails import render
from emails.render import LetterError, Rendered, render_lesson
from tests.fuzz.authoring_inputs import FRAMES, course_ymls, letter_heads, markdown_bodies
from web.cli import cli

SHIPPED = Path(courses.__file__).resolve().parent / "softening-sessions"
LESSON = "01-acknowledge.md"
GOOD_HEAD = 'subject: "A letter"\npreheader: "A short hello"'
FRAMES_WELL = "---\n{head}\n---\n\n{body}"
BASE = "https://tend.example.org"

FUZZ = hypothesis.settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(autouse=True)
def no_renders_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """Renders are cached on content; a fuzzed letter should not push out others' renders."""
    monkeypatch.setattr(render, "_cache", OrderedDict())


@pytest.fixture
def course_root(tmp_path: Path) -> Iterator[Path]:
    """A courses folder holding a copy of the shipped course, for a test to break."""
    root = tmp_path / "courses"
    yield root
    shutil.rmtree(root, ignore_errors=True)


def fresh_copy(root: Path) -> Path:
    shutil.rmtree(root, ignore_errors=True)
    return Path(shutil.copytree(SHIPPED, root / SHIPPED.name))


def framed(frame: str, head: str, body: str) -> str:
    return frame.replace("{head}", head.rstrip("\n")).replace("{body}", body)


def to_bytes(text: str, broken_at: int | None) -> bytes:
    """The file as saved: UTF-8, or with a byte no UTF-8 decoder takes at `broken_at`."""
    data = text.encode()
    if broken_at is None:
        return data
    at = min(broken_at, len(data))
    return data[:at] + b"\xff" + data[at:]


def lint(root: Path) -> Result:
    return CliRunner().invoke(cli, ["lint", str(root)])


def assert_lint_answered(result: Result, root: Path) -> None:
    """Exit 0 or 1 on its own, and every line printed names a file under root and a line."""
    crash = result.exception if not isinstance(result.exception, SystemExit) else None
    assert crash is None, f"lint crashed: {crash!r}\n{result.output}"
    assert result.exit_code in (0, 1), result.output
    shape = re.compile(rf"^{re.escape(str(root))}/\S+:[1-9]\d*: (error|warning): .+$")
    lines = result.stdout.splitlines()
    assert all(shape.match(line) for line in lines), result.stdout
    errors = [line for line in lines if ": error: " in line]
    assert (result.exit_code == 1) == bool(errors), result.output


# 1. `tend lint` on a lesson of any front matter, and of any body


@hypothesis.settings(FUZZ, max_examples=100)
@given(frame=FRAMES, head=letter_heads, broken_at=st.none() | st.integers(0, 400))
@example(frame="---\n{head}\n---\n\n{body}", head="a: &x [*x]", broken_at=None)
@example(frame="---\n{head}\n\n{body}", head="subject: x", broken_at=None)
def test_lint_answers_any_front_matter_with_problems_at_lines(
    course_root: Path, frame: str, head: str, broken_at: int | None
) -> None:
    folder = fresh_copy(course_root)
    text = framed(frame, head, "Hello, {{ reader.first_name | default('friend') }}.\n")
    (folder / LESSON).write_bytes(to_bytes(text, broken_at))
    result = lint(course_root)
    assert_lint_answered(result, course_root)
    hypothesis.event(f"exit {result.exit_code}")


@hypothesis.settings(FUZZ, max_examples=150)
@given(body=markdown_bodies)
@example(body="{{ 1 / 0 }}\n")
def test_lint_answers_any_lesson_text_with_problems_at_lines(course_root: Path, body: str) -> None:
    folder = fresh_copy(course_root)
    (folder / LESSON).write_text(framed(FRAMES_WELL, GOOD_HEAD, body))
    result = lint(course_root)
    assert_lint_answered(result, course_root)
    hypothesis.event(f"exit {result.exit_code}")


# 2. `tend lint` on a course.yml of any shape


@hypothesis.settings(FUZZ, max_examples=100)
@given(text=course_ymls, broken_at=st.none() | st.integers(0, 200))
def test_lint_answers_any_course_yml_with_problems_at_lines(
    course_root: Path, text: str, broken_at: int | None
) -> None:
    folder = fresh_copy(course_root)
    (folder / "course.yml").write_bytes(to_bytes(text, broken_at))
    assert_lint_answered(lint(course_root), course_root)


# 3. The renderer on a letter of any Markdown


@functools.cache
def shipped_course() -> Course:
    problems: list[Problem] = []
    course = load_course(SHIPPED, problems)
    assert course is not None, problems
    return course


one_line = st.text(st.characters(exclude_characters="\r\n"), max_size=80)


def with_letter(course: Course, body: str, subject: str, preheader: str, note: str) -> Course:
    """The course with its second lesson's text and front matter replaced."""
    lessons = list(course.lessons)
    lessons[1] = dataclasses.replace(
        lessons[1], body=body, subject=subject or "x", preheader=preheader, content_note=note,
        source_hash=f"{body}{subject}{preheader}{note}",
    )  # fmt: skip
    return dataclasses.replace(course, lessons=tuple(lessons))


@hypothesis.settings(FUZZ, max_examples=150)
@given(body=markdown_bodies, subject=one_line, preheader=one_line, note=one_line)
@example(body="{{ 1 / 0 }}\n", subject="x", preheader="", note="")
@example(body="{% for i in 5 %}{% endfor %}\n", subject="x", preheader="", note="")
def test_the_renderer_gives_html_and_text_or_a_letter_error(
    body: str, subject: str, preheader: str, note: str
) -> None:
    course = with_letter(shipped_course(), body, subject, preheader, note)
    # The letter itself, and the one after it, which shows its subject as a link back.
    for lesson in course.lessons[1:3]:
        outcome = render_or_error(course, lesson)
        if isinstance(outcome, LetterError):
            assert outcome.path == course.lessons[1].path
            assert outcome.line >= 1
        else:
            assert_rendered(outcome)


def render_or_error(course: Course, lesson: Lesson) -> Rendered | LetterError:
    """What the renderer gave: anything it raises but a LetterError fails the test."""
    try:
        return render_lesson(course, lesson, BASE)
    except LetterError as error:
        return error


def assert_rendered(rendered: Rendered) -> None:
    assert rendered.html.rstrip().endswith("</html>")
    assert "%%unsubscribe_url%%" in rendered.html
    assert "%%unsubscribe_url%%" in rendered.text
    html, text = rendered.for_reader({"first_name": "Sam", "unsubscribe_url": BASE + "/u/x"})
    assert "%%unsubscribe_url%%" not in html + text
    assert text.strip()


# What the properties above found, each by its smallest example (fixed in courses/yamlfile.py,
# courses/loader.py and emails/templating.py).

PINNED_LESSONS = {
    # ReaderError carries no mark: it escaped the parser's MarkedYAMLError handler.
    "control character": (b'---\nsubject: "a\x01b"\n---\n\nHi\n', 2, "not valid YAML"),
    # An alias inside its own anchor made the line collector recurse without end.
    "recursive alias": (b"---\nsubject: x\nbutton: &a [*a]\n---\n\nHi\n", 3, "button"),
    # read_text raised UnicodeDecodeError.
    "not UTF-8": (b"---\nsubject: x\n\xff\n---\n\nHi\n", 3, "not UTF-8"),
    # frontmatter's split raised ValueError on a single boundary.
    "no closing ---": (b"---\nsubject: x\n\nHi\n", 1, "front matter"),
    # int() refuses more than 4,300 digits: a ValueError out of the YAML constructor.
    "huge number": (b"---\nsubject: x\ndue: 1" + b"0" * 5000 + b"\n---\n\nHi\n", 3, "digits"),
    # Errors of the template's own expressions are not jinja2.TemplateError.
    "division by zero": (b"---\nsubject: x\n---\n\n{{ 1 / 0 }}\n", 5, "division by zero"),
    "not iterable": (b"---\nsubject: x\n---\n\n{% for i in 5 %}{% endfor %}\n", 5, "iterable"),
    "deep expression": (b"---\nsubject: x\n---\n\n{{ " + b"(" * 500 + b"1" + b")" * 500
                        + b" }}\n", 4, "recursion"),
}  # fmt: skip


@pytest.mark.parametrize(("text", "line", "words"), PINNED_LESSONS.values(), ids=PINNED_LESSONS)
def test_a_lesson_that_crashed_lint_is_reported_at_its_line(
    course_root: Path, text: bytes, line: int, words: str
) -> None:
    folder = fresh_copy(course_root)
    (folder / LESSON).write_bytes(text)
    result = lint(course_root)
    assert_lint_answered(result, course_root)
    expected = f"{folder / LESSON}:{line}: error: "
    assert any(row.startswith(expected) and words in row for row in result.stdout.splitlines()), (
        result.stdout
    )


@pytest.mark.parametrize("key", ["a\\nb", "a\\u2028b", "a\\rb"])
def test_a_problem_quoting_a_line_break_stays_on_one_line(course_root: Path, key: str) -> None:
    # An unknown key is quoted in its problem: a line break in it split the problem over
    # lines that named no file.
    folder = fresh_copy(course_root)
    with (folder / "course.yml").open("a") as course_yml:
        course_yml.write(f'"{key}": 1\n')
    result = lint(course_root)
    assert_lint_answered(result, course_root)
    assert "unknown key `a b`" in result.stdout

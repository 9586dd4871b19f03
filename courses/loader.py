"""Load and check `courses/<slug>/course.yml` and its lessons `NN-slug.md`.

Every mistake is collected with its file and line, so an author sees all of them at once.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import frontmatter
from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from courses import yamlfile
from courses.cadence import Due, following_due, parse_due, parse_send_time
from courses.model import Catalog, Course, CourseError, Lesson, Problem

COURSE_FILE = "course.yml"
LESSON_NAME = re.compile(r"^(\d{2,3})-([a-z0-9]+(?:-[a-z0-9]+)*)\.md$")
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def _one_line(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError("must be a single line")
    return value.strip()


def _address(value: str) -> str:
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise ValueError(f"is not an email address: {error}") from None


class CadenceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    every_days: int = Field(default=14, ge=1, le=365)
    send_at: str = "08:00"

    @field_validator("send_at", mode="before")
    @classmethod
    def _check_send_at(cls, value: Any) -> str:
        parse_send_time(str(value))
        return str(value)


class CourseConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=200)
    description: str = ""
    from_name: str = Field(min_length=1, max_length=100)
    from_email: str
    reply_to: str | None = None
    postal_address: str = Field(min_length=1)
    lang: str = Field(default="en", pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
    offer_on_signup: bool = True
    cadence: CadenceConfig = CadenceConfig()

    _one_line = field_validator("title", "from_name")(_one_line)
    _addresses = field_validator("from_email", "reply_to")(
        lambda v: None if v is None else _address(v)
    )


class LessonMeta(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    subject: str = Field(min_length=1, max_length=200)
    preheader: str = Field(default="", max_length=250)
    due: Due | None = None

    _one_line = field_validator("subject", "preheader")(_one_line)

    @field_validator("due", mode="before")
    @classmethod
    def _parse_due(cls, value: Any) -> Due | None:
        return None if value is None else parse_due(str(value))


def load_catalog(root: Path) -> Catalog:
    """Every course under `root` (one folder each); raise CourseError listing every mistake."""
    problems: list[Problem] = []
    courses: dict[str, Course] = {}
    if not root.is_dir():
        raise CourseError([Problem(root, 1, "the courses folder does not exist")])
    for folder in sorted(p for p in root.iterdir() if (p / COURSE_FILE).is_file()):
        course = load_course(folder, problems)
        if course is not None:
            courses[course.slug] = course
    if problems:
        raise CourseError(problems)
    return Catalog(courses)


def load_course(folder: Path, problems: list[Problem]) -> Course | None:
    """One course, adding what is wrong with it to `problems` (None if it cannot be used)."""
    before = len(problems)
    if not SLUG.match(folder.name):
        problems.append(Problem(folder, 1, "a course folder's name must be a-z, 0-9 and dashes"))
    config = _read_config(folder / COURSE_FILE, problems)
    lessons = _read_lessons(folder, problems)
    if config is not None:
        lessons = _schedule(lessons, config.cadence.every_days, problems)
    if config is None or len(problems) > before:
        return None
    return Course(
        slug=folder.name,
        title=config.title,
        description=config.description,
        from_name=config.from_name,
        from_email=config.from_email,
        reply_to=config.reply_to,
        postal_address=config.postal_address,
        lang=config.lang,
        offer_on_signup=config.offer_on_signup,
        send_at=parse_send_time(config.cadence.send_at),
        every_days=config.cadence.every_days,
        lessons=tuple(lessons),
        path=folder,
    )


def _read_config(path: Path, problems: list[Problem]) -> CourseConfig | None:
    try:
        data, lines = yamlfile.parse(path.read_text(encoding="utf-8"))
    except yamlfile.YamlError as error:
        problems.append(Problem(path, error.line, error.message))
        return None
    return _validate(CourseConfig, data, lines, path, problems)


def _validate(
    model: type[BaseModel],
    data: Any,
    lines: dict[yamlfile.KeyPath, int],
    path: Path,
    problems: list[Problem],
) -> Any:
    if not isinstance(data, dict):
        problems.append(Problem(path, 1, "expected a set of `key: value` lines"))
        return None
    try:
        return model.model_validate(data)
    except ValidationError as error:
        for issue in error.errors():
            where = yamlfile.line_of(lines, tuple(issue["loc"]))
            problems.append(Problem(path, where, _explain(issue, model)))
        return None


def _explain(issue: Any, model: type[BaseModel]) -> str:
    key = ".".join(str(part) for part in issue["loc"]) or "file"
    if issue["type"] == "extra_forbidden":
        known = list(model.model_fields)
        close = difflib.get_close_matches(str(issue["loc"][-1]), known, n=1)
        hint = f" (did you mean `{close[0]}`?)" if close else f" (known: {', '.join(known)})"
        return f"unknown key `{key}`{hint}"
    if issue["type"] == "missing":
        return f"`{key}` is required"
    message = issue["msg"].removeprefix("Value error, ")
    return f"`{key}` {message}" if message[:1].islower() else f"`{key}`: {message}"


def _read_lessons(folder: Path, problems: list[Problem]) -> list[Lesson]:
    lessons: list[Lesson] = []
    for path in sorted(folder.glob("*.md")):
        match = LESSON_NAME.match(path.name)
        if match is None:
            problems.append(Problem(path, 1, "a lesson's file name must look like 01-slug.md"))
            continue
        lesson = _read_lesson(path, int(match.group(1)), match.group(2), problems)
        if lesson is not None:
            lessons.append(lesson)
    _check_unique(lessons, problems)
    if not lessons and not problems:
        problems.append(Problem(folder / COURSE_FILE, 1, "this course has no lessons yet"))
    return sorted(lessons, key=lambda lesson: lesson.number)


def _read_lesson(path: Path, number: int, slug: str, problems: list[Problem]) -> Lesson | None:
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---"):
        problems.append(Problem(path, 1, "a lesson starts with front matter between --- lines"))
        return None
    head, body = frontmatter.YAMLHandler().split(text)
    try:
        # The split leaves the rest of the opening "---" line at the top of `head`.
        data, lines = yamlfile.parse(head, first_line=1)
    except yamlfile.YamlError as error:
        problems.append(Problem(path, error.line, error.message))
        return None
    meta = _validate(LessonMeta, data, lines, path, problems)
    if meta is None:
        return None
    if not body.strip():
        problems.append(Problem(path, head.count("\n") + 2, "the lesson has no text"))
        return None
    body_line = text[: len(text) - len(body)].count("\n") + 1
    due_line = yamlfile.line_of(lines, ("due",))
    return Lesson(
        number, slug, meta.subject, meta.preheader, meta.due, body, path, body_line, due_line
    )


def _check_unique(lessons: list[Lesson], problems: list[Problem]) -> None:
    keys: dict[str, Callable[[Lesson], str]] = {
        "number": lambda lesson: f"{lesson.number:02d}",
        "name": lambda lesson: lesson.slug,
    }
    for label, key in keys.items():
        seen: dict[str, Path] = {}
        for lesson in lessons:
            value = key(lesson)
            if value in seen:
                message = f"the lesson {label} {value} is also used by {seen[value].name}"
                problems.append(Problem(lesson.path, 1, message))
            seen[value] = lesson.path


def _schedule(lessons: list[Lesson], every_days: int, problems: list[Problem]) -> list[Lesson]:
    """Give each lesson its due time and check that they come in order."""
    scheduled: list[Lesson] = []
    previous: Due | None = None
    for lesson in lessons:
        due = lesson.due or following_due(previous, every_days)
        if due.on_confirmation and previous is not None:
            message = "only the first lesson can be due on confirmation"
            problems.append(Problem(lesson.path, lesson.due_line, message))
        elif previous is not None and (due.day or 0) <= (previous.day or 0):
            message = f"`due: {due}` is not after the lesson before it ({previous})"
            problems.append(Problem(lesson.path, lesson.due_line, message))
        previous = due
        scheduled.append(dataclasses.replace(lesson, due=due))
    return scheduled

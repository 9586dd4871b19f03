"""Load and check the curriculum: courses (`course.yml` and lessons `NN-slug.md`) and
newsletters (`newsletter.yml` and dated issues `issues/YYYY-MM-DD-slug.md`).

Every mistake is collected with its file and line, so an author sees all of them at once.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

import frontmatter
from pydantic import BaseModel, ValidationError

from courses import schema, yamlfile
from courses.cadence import Cadence, CadenceError, lesson_dates, parse_send_time, parse_weekday
from courses.model import (
    Button,
    Catalog,
    Course,
    CourseError,
    Issue,
    Lesson,
    Letter,
    Newsletter,
    Problem,
    Theme,
)

COURSE_FILE = "course.yml"
NEWSLETTER_FILE = "newsletter.yml"
ISSUES = "issues"
LESSON_NAME = re.compile(r"^(\d{2,3})-([a-z0-9]+(?:-[a-z0-9]+)*)\.md$")
ISSUE_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2})-([a-z0-9]+(?:-[a-z0-9]+)*)\.md$")
# Readers who join on these days cover month ends, a leap day and DST changes: a cadence
# that gives every lesson a date for all of them is taken as satisfiable.
SAMPLE_STARTS = [date(2027, 1, 1) + timedelta(days=step * 37) for step in range(12)]

M = TypeVar("M", bound=BaseModel)


class Source:
    """One YAML text (a config file or a front matter) with the lines of its keys."""

    def __init__(self, path: Path, data: Any, lines: dict[yamlfile.KeyPath, int]) -> None:
        self.path, self.data, self.lines = path, data, lines

    def line(self, *keys: str | int) -> int:
        return yamlfile.line_of(self.lines, keys)

    def problem(self, message: str, *keys: str | int, level: str = "error") -> Problem:
        return Problem(self.path, self.line(*keys), message, level)


def load_catalog(root: Path) -> Catalog:
    """Everything under `root`; raise CourseError listing every error (warnings are kept
    in `Catalog.warnings`)."""
    problems: list[Problem] = []
    catalog = read_catalog(root, problems)
    errors = [problem for problem in problems if problem.level == "error"]
    if errors:
        raise CourseError(errors)
    return catalog


def read_catalog(root: Path, problems: list[Problem]) -> Catalog:
    """Everything under `root` that could be read; what is wrong goes to `problems`."""
    if not root.is_dir():
        problems.append(Problem(root, 1, "the courses folder does not exist"))
        return Catalog()
    courses: dict[str, Course] = {}
    newsletters: dict[str, Newsletter] = {}
    for folder in sorted(path for path in root.iterdir() if path.is_dir()):
        is_course, is_newsletter = (
            (folder / COURSE_FILE).is_file(),
            (folder / NEWSLETTER_FILE).is_file(),
        )
        if is_course and is_newsletter:
            message = f"a folder holds a course or a newsletter, not both: remove {NEWSLETTER_FILE}"
            problems.append(Problem(folder / NEWSLETTER_FILE, 1, message))
        elif is_course and (course := load_course(folder, problems)):
            courses[course.slug] = course
        elif is_newsletter and (newsletter := load_newsletter(folder, problems)):
            newsletters[newsletter.slug] = newsletter
    warnings = tuple(problem for problem in problems if problem.level == "warning")
    return Catalog(courses, newsletters, warnings)


def load_course(folder: Path, problems: list[Problem]) -> Course | None:
    """One course, adding what is wrong with it to `problems` (None if it cannot be used)."""
    errors_before = _errors(problems)
    _check_slug(folder, problems)
    source = _read_yaml(folder / COURSE_FILE, problems)
    config = source and _validate(schema.CourseConfig, source, problems)
    lessons = _read_lessons(folder, problems)
    if config is None or source is None:
        return None
    shared = _publication(folder, config, source, lessons, problems)
    cadence = _cadence(config.cadence)
    _check_dues(cadence, lessons, problems)
    if _errors(problems) == errors_before:
        _check_satisfiable(cadence, lessons, source, problems)
    if _errors(problems) > errors_before:
        return None
    return Course(
        **shared,
        offer_on_signup=config.offer_on_signup,
        cadence=cadence,
        lessons=tuple(lessons),
    )


def load_newsletter(folder: Path, problems: list[Problem]) -> Newsletter | None:
    errors_before = _errors(problems)
    _check_slug(folder, problems)
    source = _read_yaml(folder / NEWSLETTER_FILE, problems)
    config = source and _validate(schema.NewsletterConfig, source, problems)
    issues = _read_issues(folder / ISSUES, problems)
    if config is None or source is None:
        return None
    shared = _publication(folder, config, source, issues, problems)
    if _errors(problems) > errors_before:
        return None
    return Newsletter(
        **shared,
        offer_on_signup=config.offer_on_signup,
        issues=tuple(issues),
        send_at=parse_send_time(config.send_at),
    )


def _errors(problems: list[Problem]) -> int:
    return sum(problem.level == "error" for problem in problems)


def _check_slug(folder: Path, problems: list[Problem]) -> None:
    if not schema.SLUG.match(folder.name):
        message = "a course or newsletter folder's name must be a-z, 0-9 and dashes"
        problems.append(Problem(folder, 1, message))


def _publication(
    folder: Path,
    config: schema.PublicationConfig,
    source: Source,
    letters: Sequence[Letter],
    problems: list[Problem],
) -> dict[str, Any]:
    theme = _theme(folder, config.theme, source, problems)
    # Renders are cached on this: it changes with any file a letter's rendering reads
    # (another lesson's subject, the number of lessons, the layout).
    parts = [source.path.read_bytes(), *(letter.source_hash.encode() for letter in letters)]
    if theme.layout is not None and theme.layout.is_file():
        parts.append(theme.layout.read_bytes())
    return {
        "slug": folder.name,
        "title": config.title,
        "description": config.description,
        "from_name": config.from_name,
        "from_email": config.from_email,
        "reply_to": config.reply_to,
        "postal_address": config.postal_address,
        "lang": config.lang,
        "list": config.list or folder.name,
        "theme": theme,
        "path": folder,
        "source_hash": _digest(b"\0".join(parts)),
    }


def _theme(
    folder: Path, config: schema.ThemeConfig, source: Source, problems: list[Problem]
) -> Theme:
    layout = folder / config.layout if config.layout else None
    if layout is not None and not layout.is_file():
        problems.append(source.problem(f"no layout file {config.layout} in {folder.name}/",
                                       "theme", "layout"))  # fmt: skip
    values = config.model_dump(exclude={"layout"})
    return Theme(**values, layout=layout)


def _cadence(config: schema.CadenceConfig) -> Cadence:
    return Cadence(
        every_days=config.every_days,
        days_of_month=tuple(config.days_of_month),
        weekdays=tuple(sorted({parse_weekday(day) for day in config.weekdays})),
        first_on_confirmation=config.first == "on confirmation",
        send_at=parse_send_time(config.send_at),
        send_until=parse_send_time(config.send_until) if config.send_until else None,
        skip_weekends=config.skip_weekends,
        quiet_dates=frozenset(config.quiet_dates),
    )


def _check_dues(cadence: Cadence, lessons: list[Lesson], problems: list[Problem]) -> None:
    """A rhythm decides every lesson's day; without one, each lesson says its own."""
    rhythm = cadence.every_days or cadence.is_calendar
    previous: int | None = None
    for index, lesson in enumerate(lessons):
        due = lesson.due
        at_once = due.on_confirmation if due is not None else cadence.first_on_confirmation
        if index == 0 and at_once:
            previous = 0
            continue
        if rhythm and due is not None:
            message = (f"`due` is decided by the course's cadence ({cadence.kind}); remove it, "
                       "or remove the rhythm from course.yml")  # fmt: skip
            problems.append(Problem(lesson.path, lesson.due_line, message))
        elif not rhythm and index > 0 and due is None:
            message = (
                "this course has no rhythm in course.yml: "
                "say when the lesson is due, like `due: day 7`"
            )
            problems.append(Problem(lesson.path, 1, message))
        elif due is not None and due.on_confirmation:
            message = "only the first lesson can be due on confirmation"
            problems.append(Problem(lesson.path, lesson.due_line, message))
        elif due is not None and previous is not None and (due.day or 0) <= previous:
            message = f"`due: {due}` is not after the lesson before it (day {previous})"
            problems.append(Problem(lesson.path, lesson.due_line, message))
        if due is not None:
            previous = due.day or 0


def _check_satisfiable(
    cadence: Cadence, lessons: list[Lesson], source: Source, problems: list[Problem]
) -> None:
    dues = [lesson.due for lesson in lessons]
    try:
        for start in SAMPLE_STARTS:
            lesson_dates(cadence, dues, start)
    except CadenceError as error:
        problems.append(source.problem(f"this cadence cannot be kept: {error}", "cadence"))


def _read_text(path: Path, problems: list[Problem]) -> str | None:
    """The file's text, or None (and a problem at the line of the first bad byte)."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        problems.append(Problem(path, line, "this file is not UTF-8 text: save it as UTF-8"))
        return None


def _read_yaml(path: Path, problems: list[Problem]) -> Source | None:
    text = _read_text(path, problems)
    if text is None:
        return None
    try:
        data, lines = yamlfile.parse(text)
    except yamlfile.YamlError as error:
        problems.append(Problem(path, error.line, error.message))
        return None
    return Source(path, data, lines)


def _validate(model: type[M], source: Source, problems: list[Problem]) -> M | None:
    if not isinstance(source.data, dict):
        problems.append(Problem(source.path, 1, "expected a set of `key: value` lines"))
        return None
    try:
        return model.model_validate(source.data)
    except ValidationError as error:
        for issue in error.errors():
            keys = [str(part) for part in issue["loc"]]
            problems.append(source.problem(_explain(issue, model), *keys))
        return None


def _explain(issue: Any, model: type[BaseModel]) -> str:
    key = ".".join(str(part) for part in issue["loc"]) or "file"
    if issue["type"] == "extra_forbidden":
        known = _known_keys(model, issue["loc"][:-1])
        close = difflib.get_close_matches(str(issue["loc"][-1]), known, n=1)
        hint = f" (did you mean `{close[0]}`?)" if close else f" (known: {', '.join(known)})"
        return f"unknown key `{key}`{hint}"
    if issue["type"] == "missing":
        return f"`{key}` is required"
    message = issue["msg"].removeprefix("Value error, ")
    return f"`{key}` {message}" if message[:1].islower() else f"`{key}`: {message}"


def _known_keys(model: type[BaseModel], parents: Iterable[Any]) -> list[str]:
    for parent in parents:
        annotation = (
            model.model_fields[str(parent)].annotation
            if str(parent) in model.model_fields
            else None
        )
        nested = next((arg for arg in getattr(annotation, "__args__", (annotation,))
                       if isinstance(arg, type) and issubclass(arg, BaseModel)), None)  # fmt: skip
        if nested is None:
            return []
        model = nested
    return list(model.model_fields)


def _read_lessons(folder: Path, problems: list[Problem]) -> list[Lesson]:
    named: list[tuple[int, str, Path]] = []
    for path in sorted(folder.glob("*.md")):
        match = LESSON_NAME.match(path.name)
        if match is None:
            problems.append(Problem(path, 1, "a lesson's file name must look like 01-slug.md"))
        else:
            named.append((int(match.group(1)), match.group(2), path))
    named.sort()
    _check_numbering(named, problems)
    lessons: list[Lesson] = []
    for number, slug, path in named:
        read = _read_letter(path, schema.LessonMeta, problems)
        if read is not None:
            letter, meta, source = read
            lessons.append(Lesson(**letter, number=number, slug=slug, due=meta.due,
                                  due_line=source.line("due")))  # fmt: skip
    if not named and not any(problem.path.parent == folder for problem in problems):
        problems.append(Problem(folder / COURSE_FILE, 1, "this course has no lessons yet"))
    return lessons


def _read_issues(folder: Path, problems: list[Problem]) -> list[Issue]:
    issues: list[Issue] = []
    for path in sorted(folder.glob("*.md")) if folder.is_dir() else []:
        match = ISSUE_NAME.match(path.name)
        day = _date(match.group(1)) if match else None
        if match is None or day is None:
            message = "an issue's file name must look like 2026-12-01-slug.md, with a real date"
            problems.append(Problem(path, 1, message))
            continue
        read = _read_letter(path, schema.IssueMeta, problems)
        if read is not None:
            letter, meta, _ = read
            issues.append(Issue(**letter, slug=match.group(2), date=day,
                                send_at_utc=meta.send_at_utc))  # fmt: skip
    _check_unique_issues(issues, problems)
    return sorted(issues, key=lambda issue: issue.date)


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _read_letter(
    path: Path, model: type[M], problems: list[Problem]
) -> tuple[dict[str, Any], M, Source] | None:
    """The parts every letter has, its checked front matter, and that front matter's lines."""
    text = _read_text(path, problems)
    if text is None:
        return None
    handler = frontmatter.YAMLHandler()
    if not text.startswith("---") or len(handler.FM_BOUNDARY.findall(text)) < 2:
        problems.append(Problem(path, 1, "a letter starts with front matter between --- lines"))
        return None
    head, body = handler.split(text)
    opening = handler.FM_BOUNDARY.search(text)
    # The opening boundary may swallow blank lines after it: count from where head starts.
    head_line = text[: opening.end() if opening else 0].count("\n") + 1
    try:
        data, lines = yamlfile.parse(head, first_line=head_line)
    except yamlfile.YamlError as error:
        problems.append(Problem(path, error.line, error.message))
        return None
    source = Source(path, data if data is not None else {}, lines)
    meta = _validate(model, source, problems)
    if meta is None:
        return None
    body_line = text[: len(text) - len(body)].count("\n") + 1
    if not body.strip():
        last_line = text.count("\n") + (0 if text.endswith("\n") else 1)
        problems.append(Problem(path, min(body_line, last_line), "the letter has no text"))
        return None
    _warn_about_subject(meta, source, problems)
    letter = {
        "subject": meta.subject,
        "preheader": meta.preheader,
        "body": body,
        "path": path,
        "body_line": body_line,
        "source_hash": _digest(text.encode()),
        "content_note": meta.content_note,
        "button": Button(meta.button.label, meta.button.url) if meta.button else None,
    }
    return letter, meta, source


def _warn_about_subject(meta: schema.LetterMeta, source: Source, problems: list[Problem]) -> None:
    if len(meta.subject) > schema.SUBJECT_LIMIT:
        message = (
            f"the subject has {len(meta.subject)} characters; "
            f"inboxes cut it after about {schema.SUBJECT_LIMIT}"
        )
        problems.append(source.problem(message, "subject", level="warning"))
    if not meta.preheader:
        message = "no `preheader`: inboxes will show the first words of the letter instead"
        problems.append(Problem(source.path, 1, message, "warning"))


def _check_numbering(named: list[tuple[int, str, Path]], problems: list[Problem]) -> None:
    """Lesson numbers and names are each used once, and no number is skipped."""
    for label, index in (("number", 0), ("name", 1)):
        seen: dict[object, Path] = {}
        for entry in named:
            value = entry[index]
            shown = f"{value:02d}" if isinstance(value, int) else value
            if value in seen:
                message = f"the lesson {label} {shown} is also used by {seen[value].name}"
                problems.append(Problem(entry[2], 1, message))
            seen[value] = entry[2]
    numbers = sorted({number for number, _, _ in named})
    for number in sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers)) if numbers else []:
        after = next(path for taken, _, path in named if taken > number)
        problems.append(Problem(after, 1, f"lesson {number:02d} is missing before this one"))


def _check_unique_issues(issues: list[Issue], problems: list[Problem]) -> None:
    seen: dict[str, Path] = {}
    for issue in issues:
        if issue.slug in seen:
            message = f"the name {issue.slug} is also used by {seen[issue.slug].name}"
            problems.append(Problem(issue.path, 1, message))
        seen[issue.slug] = issue.path


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

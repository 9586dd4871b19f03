"""What a loaded course is: plain, immutable data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from pathlib import Path

from courses.cadence import Due


@dataclass(frozen=True)
class Lesson:
    number: int  # from the file name; orders the course
    slug: str  # from the file name; a reader's deliveries are keyed on it
    subject: str
    preheader: str
    due: Due | None  # None only while loading, before the course's rhythm fills it in
    body: str  # Markdown
    path: Path
    body_line: int  # lines in the file, for error messages
    due_line: int


@dataclass(frozen=True)
class Course:
    slug: str
    title: str
    description: str
    from_name: str
    from_email: str
    reply_to: str | None
    postal_address: str
    lang: str
    offer_on_signup: bool
    send_at: time
    every_days: int
    lessons: tuple[Lesson, ...]
    path: Path

    def lesson_at(self, position: int) -> Lesson | None:
        return self.lessons[position] if 0 <= position < len(self.lessons) else None

    def lesson(self, slug: str) -> Lesson | None:
        return next((lesson for lesson in self.lessons if lesson.slug == slug), None)


@dataclass(frozen=True)
class Catalog:
    courses: dict[str, Course] = field(default_factory=dict)

    def __getitem__(self, slug: str) -> Course:
        return self.courses[slug]

    def get(self, slug: str) -> Course | None:
        return self.courses.get(slug)

    def offered_on_signup(self) -> list[Course]:
        return [course for course in self.courses.values() if course.offer_on_signup]


@dataclass(frozen=True)
class Problem:
    """One mistake in a course, where an author can find it."""

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class CourseError(Exception):
    """The courses have mistakes; each is a Problem with its file and line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))

"""What a loaded course or newsletter is: plain, immutable data."""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

from courses.cadence import Cadence, Due


@dataclass(frozen=True)
class Button:
    """A call to action under a letter's text."""

    label: str
    url: str


@dataclass(frozen=True)
class Theme:
    """What a course may change of the layout's look."""

    accent: str = "#5b6f5a"
    background: str = "#f6f2ec"
    paper: str = "#fffdf9"
    text: str = "#2d2a26"
    logo: str | None = None  # an https address
    footer: str = ""  # a line of the author's own above the legal footer
    progress: str = "Letter {number} of {total}"
    layout: Path | None = None  # an MJML layout of the course's own, replacing Tend's


@dataclass(frozen=True)
class Letter:
    """What lessons and newsletter issues share: one Markdown file with front matter."""

    slug: str
    subject: str
    preheader: str
    body: str  # Markdown, with template variables
    path: Path
    body_line: int  # the file's line where the body starts, for error messages
    source_hash: str  # of the whole file: renders are cached on it
    content_note: str = ""
    button: Button | None = None


@dataclass(frozen=True)
class Lesson(Letter):
    number: int = 0  # from the file name; orders the course
    due: Due | None = None  # what the front matter says; None: the course's rhythm decides
    due_line: int = 1


@dataclass(frozen=True)
class Issue(Letter):
    """A dated newsletter issue, sent to every active reader of the list on its day."""

    date: date = date.min
    # Send at one instant for everyone instead of at each reader's local send time.
    send_at_utc: datetime | None = None


@dataclass(frozen=True)
class Publication:
    """What a course and a newsletter share: who sends it, to which list, how it looks."""

    slug: str
    title: str
    description: str
    from_name: str
    from_email: str
    reply_to: str | None
    postal_address: str
    lang: str
    list: str
    theme: Theme
    path: Path
    source_hash: str  # changes whenever any file of it does
    offer_on_signup: bool = True  # new readers are enrolled, or join its list


@dataclass(frozen=True)
class Course(Publication):
    cadence: Cadence = field(default_factory=Cadence)
    lessons: tuple[Lesson, ...] = ()

    def lesson_at(self, position: int) -> Lesson | None:
        return self.lessons[position] if 0 <= position < len(self.lessons) else None

    def lesson(self, slug: str) -> Lesson | None:
        return next((lesson for lesson in self.lessons if lesson.slug == slug), None)

    @property
    def dues(self) -> list[Due | None]:
        return [lesson.due for lesson in self.lessons]

    @property
    def version(self) -> str:
        """Names the order of the lessons: it changes when lessons are added, removed or
        moved, not when their text is edited."""
        order = ",".join(lesson.slug for lesson in self.lessons)
        return hashlib.sha256(order.encode()).hexdigest()[:12]

    def next_lesson(self, had: Collection[str]) -> Lesson | None:
        """The lesson for a reader who has had the lessons named `had`: the first one after
        the furthest of those in today's order that they have not had. So a lesson added
        before where a reader is never reaches them, and a removed one is skipped."""
        furthest = max(
            (index for index, lesson in enumerate(self.lessons) if lesson.slug in had),
            default=-1,
        )
        later = self.lessons[furthest + 1 :]
        return next((lesson for lesson in later if lesson.slug not in had), None)


@dataclass(frozen=True)
class Newsletter(Publication):
    issues: tuple[Issue, ...] = ()
    send_at: time = time(8, 0)  # each reader's local time, unless an issue says otherwise

    def issue(self, slug: str) -> Issue | None:
        return next((issue for issue in self.issues if issue.slug == slug), None)


@dataclass(frozen=True)
class Catalog:
    courses: dict[str, Course] = field(default_factory=dict)
    newsletters: dict[str, Newsletter] = field(default_factory=dict)
    warnings: tuple[Problem, ...] = ()

    def __getitem__(self, slug: str) -> Course:
        return self.courses[slug]

    def get(self, slug: str) -> Course | None:
        return self.courses.get(slug)

    def offered_on_signup(self) -> list[Course]:
        return [course for course in self.courses.values() if course.offer_on_signup]

    def letter(self, reference: str) -> tuple[Course | Newsletter, Letter]:
        """`course/lesson` or `newsletter/issue`; a lesson may also be named by its number.
        LookupError says what there is instead."""
        slug, _, name = reference.strip("/").partition("/")
        publication = self.publication(slug)
        if publication is None:
            known = ", ".join([*self.courses, *self.newsletters])
            raise LookupError(f"no course or newsletter {slug!r} (there is {known})")
        letters: tuple[Letter, ...] = (
            publication.lessons if isinstance(publication, Course) else publication.issues
        )
        for letter in letters:
            number = f"{letter.number:02}" if isinstance(letter, Lesson) else None
            if name in (letter.slug, number, letter.path.stem):
                return publication, letter
        names = ", ".join(letter.slug for letter in letters)
        raise LookupError(f"{slug} has no letter {name!r} (there is {names})")

    def offered(self) -> list[Course | Newsletter]:
        """What a new reader may choose at signup: the courses and newsletters offered."""
        newsletters = [n for n in self.newsletters.values() if n.offer_on_signup]
        return [*self.offered_on_signup(), *newsletters]

    def lists_on_signup(self, chosen: Collection[str] | None = None) -> list[str]:
        """The lists a new reader joins: those of the courses and newsletters offered (of
        those they chose, when they chose)."""
        return sorted({p.list for p in self.offered() if chosen is None or p.slug in chosen})

    def publication(self, slug: str) -> Course | Newsletter | None:
        return self.courses.get(slug) or self.newsletters.get(slug)


@dataclass(frozen=True)
class Problem:
    """One mistake in a course, where an author can find it."""

    path: Path
    line: int
    message: str
    level: str = "error"  # or "warning": worth fixing, but nothing breaks

    def __str__(self) -> str:
        # One problem, one line: a message may quote the author's text (an unknown key),
        # which may hold a line break of any kind.
        message = " ".join(self.message.splitlines())
        return f"{self.path}:{self.line}: {self.level}: {message}"


class CourseError(Exception):
    """The courses have mistakes; each is a Problem with its file and line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))

"""What the reader's page shows: each course and newsletter in words, with the buttons
that apply to it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from core.models import Enrollment, EnrollmentState, Subscriber
from courses.model import Catalog, Course
from emails.render import long_date
from tasks import enrollments, preferences
from tasks.zones import zone_of


@dataclass(frozen=True)
class Button:
    action: str
    label: str
    weeks: str = ""


@dataclass(frozen=True)
class CourseRow:
    slug: str
    title: str
    state: str
    progress: str | None  # "3 of 5 letters"; None for a course not started
    buttons: tuple[Button, ...]
    description: str = ""


@dataclass(frozen=True)
class ListRow:
    name: str
    title: str
    on: bool


PAUSES = (
    Button("pause", "Pause for 2 weeks", "2"),
    Button("pause", "Pause for 4 weeks", "4"),
    Button("pause", "Pause until I resume"),
)
RESTART = Button("restart", "Restart from the first letter")
PACES = {1: "its usual pace", 2: "half its usual pace", 3: "a third of its usual pace"}


def course_rows(session: Session, reader: Subscriber, catalog: Catalog) -> list[CourseRow]:
    """The reader's courses, then those offered that they have not started."""
    enrolled = preferences.enrollments_of(session, reader)
    rows = [
        _enrolled_row(session, reader, course, enrollment)
        for enrollment in enrolled
        if (course := catalog.get(enrollment.course))  # a course since removed is not shown
    ]
    taken = {enrollment.course for enrollment in enrolled}
    offered = [course for course in catalog.offered_on_signup() if course.slug not in taken]
    start = (Button("start", "Start this course"),)
    rows += [CourseRow(c.slug, c.title, "Not started", None, start, c.description) for c in offered]
    return rows


def _enrolled_row(
    session: Session, reader: Subscriber, course: Course, enrollment: Enrollment
) -> CourseRow:
    # Counted by slug against the course as it is now, so an edited course still adds up.
    had = enrollments.lessons_had(session, enrollment) & {lesson.slug for lesson in course.lessons}
    progress = f"{len(had)} of {len(course.lessons)} letters"
    state = _state(enrollment, reader.timezone)
    return CourseRow(course.slug, course.title, state, progress, _buttons(enrollment))


def _state(enrollment: Enrollment, timezone: str) -> str:
    if enrollment.state is EnrollmentState.ACTIVE:
        return f"Going on at {PACES.get(enrollment.pace, 'a quarter of its usual pace')}"
    if enrollment.state is EnrollmentState.PAUSED:
        until = enrollment.paused_until
        return (
            f"Paused until {long_local_date(until, timezone)}"
            if until
            else "Paused until you resume it"
        )
    return "Finished" if enrollment.state is EnrollmentState.COMPLETED else "Stopped"


def _buttons(enrollment: Enrollment) -> tuple[Button, ...]:
    pace = (
        Button("slow-down", "Slow down to half as often")
        if enrollment.pace == 1
        else Button("usual-pace", "Back to the usual pace")
    )
    if enrollment.state is EnrollmentState.ACTIVE:
        return (*PAUSES, pace, RESTART)
    if enrollment.state is EnrollmentState.PAUSED:
        return (Button("resume", "Resume where I left off"), pace, RESTART)
    if enrollment.state is EnrollmentState.CANCELLED:
        return (Button("start", "Start again where I left off"), RESTART)
    return (RESTART,)


def newsletter_lists(catalog: Catalog) -> dict[str, str]:
    """Each list a newsletter is sent to, with the newsletters' titles. A course's list
    alone sends nothing, so it is not offered as something to turn off."""
    titles: dict[str, list[str]] = {}
    for newsletter in catalog.newsletters.values():
        titles.setdefault(newsletter.list, []).append(newsletter.title)
    return {name: " and ".join(names) for name, names in sorted(titles.items())}


def list_rows(session: Session, reader: Subscriber, catalog: Catalog) -> list[ListRow]:
    joined = preferences.lists_of(session, reader)
    lists = newsletter_lists(catalog)
    return [ListRow(name, title, name in joined) for name, title in lists.items()]


def long_local_date(moment: datetime, timezone: str) -> str:
    return long_date(moment.astimezone(zone_of(timezone)).date())

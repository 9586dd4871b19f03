"""courses/loader.py, courses/schema.py, courses/yamlfile.py and courses/model.py: a course
on disk, checked, with each mistake reported on the file and line where it was made."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import courses
from courses import yamlfile
from courses.cadence import Cadence, Due
from courses.calendar import calendar
from courses.loader import load_catalog, read_catalog
from courses.model import Button, CourseError, Problem, Theme

SHIPPED = Path(courses.__file__).resolve().parent
DEMO_SLUG = "softening-sessions"

COURSE_YML = """\
title: Demo Course
from_name: Demo Letters
from_email: letters@example.org
postal_address: 1 Example Lane, Springfield
"""
# Line 5 is `cadence:` and line 6 its first key.
WEEKLY = COURSE_YML + "cadence:\n  every_days: 7\n"


def lesson(subject: str = "Hello", due: str | None = None, preheader: str = "Soon.") -> str:
    """A lesson file: subject on line 2, preheader on line 3, `due` (if any) on line 4."""
    preheader_line = f"preheader: {preheader}\n" if preheader else ""
    due_line = f"due: {due}\n" if due else ""
    return f"---\nsubject: {subject}\n{preheader_line}{due_line}---\n\nSome text.\n"


def make_course(
    root: Path, lessons: dict[str, str], course_yml: str = COURSE_YML, slug: str = "demo"
) -> Path:
    folder = root / slug
    folder.mkdir()
    (folder / "course.yml").write_text(course_yml, encoding="utf-8")
    for name, text in lessons.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def problems_in(root: Path) -> list[Problem]:
    with pytest.raises(CourseError) as caught:
        load_catalog(root)
    return caught.value.problems


def messages_in(root: Path) -> list[tuple[str, str]]:
    return [(problem.path.name, problem.message) for problem in problems_in(root)]


def places_in(root: Path) -> list[tuple[str, int, str]]:
    return [(problem.path.name, problem.line, problem.message) for problem in problems_in(root)]


# The shipped demo course


def test_the_shipped_demo_course_loads_with_its_five_lessons_in_order() -> None:
    course = load_catalog(SHIPPED)[DEMO_SLUG]

    assert course.slug == DEMO_SLUG
    assert course.path == SHIPPED / DEMO_SLUG
    assert [lesson.slug for lesson in course.lessons] == [
        "welcome",
        "acknowledge",
        "not-alone",
        "kindness",
        "closing",
    ]
    assert [lesson.number for lesson in course.lessons] == [0, 1, 2, 3, 4]


def test_the_shipped_demo_course_sends_its_welcome_at_once_then_every_fourteen_days() -> None:
    course = load_catalog(SHIPPED)[DEMO_SLUG]

    assert course.cadence == Cadence(every_days=14, send_at=time(8, 0))
    assert course.dues == [Due(None), None, None, None, None]


def test_the_shipped_demo_course_counts_its_letters_as_sessions() -> None:
    course = load_catalog(SHIPPED)[DEMO_SLUG]

    assert course.theme == Theme(progress="Session {number} of {total}")


def test_the_shipped_demo_course_carries_its_sender_list_and_language() -> None:
    course = load_catalog(SHIPPED)[DEMO_SLUG]

    assert course.title == "Softening Sessions"
    assert course.from_name == "Softening Sessions"
    assert course.from_email == "letters@tend.example.org"
    assert course.reply_to == "hello@tend.example.org"
    assert course.postal_address == "Tend Demo Practice, 1 Example Lane, Springfield, USA"
    assert course.lang == "en"
    assert course.list == DEMO_SLUG
    assert course.offer_on_signup is True
    assert course.description.startswith("Short, gentle tools")
    assert "\n" not in course.description


def test_the_shipped_curriculum_has_no_warnings() -> None:
    assert load_catalog(SHIPPED).warnings == ()


def test_a_demo_lesson_has_its_subject_preheader_and_markdown_body() -> None:
    first = load_catalog(SHIPPED)[DEMO_SLUG].lessons[0]

    assert first.subject == "Welcome to Softening Sessions"
    assert first.preheader == (
        "Short, gentle tools for steadiness and self-trust, one breath at a time."
    )
    assert first.body.lstrip().startswith("I'm so glad you're here.")
    assert "## Why self-compassion" in first.body
    assert "subject:" not in first.body
    assert first.path == SHIPPED / DEMO_SLUG / "00-welcome.md"
    assert first.body_line == 6
    assert first.content_note == ""
    assert first.button is None


def test_a_demo_lesson_knows_the_line_of_its_due_key() -> None:
    welcome = load_catalog(SHIPPED)[DEMO_SLUG].lessons[0]

    assert welcome.due_line == 4
    assert (SHIPPED / DEMO_SLUG / "00-welcome.md").read_text().splitlines()[3] == (
        "due: on confirmation"
    )


def test_a_course_finds_its_lessons_by_position_and_by_slug() -> None:
    course = load_catalog(SHIPPED)[DEMO_SLUG]

    assert course.lesson_at(0) is course.lessons[0]
    assert course.lesson_at(4) is course.lessons[4]
    assert course.lesson_at(5) is None
    assert course.lesson_at(-1) is None
    assert course.lesson("kindness") is course.lessons[3]
    assert course.lesson("no-such-lesson") is None


def test_the_demo_calendar_gives_each_session_its_local_and_utc_time() -> None:
    course = load_catalog(SHIPPED)[DEMO_SLUG]
    new_york = ZoneInfo("America/New_York")
    started = datetime(2025, 3, 1, 15, 0, tzinfo=UTC)  # 10:00 EST

    entries = calendar(course, started, new_york)

    assert [(entry.number, entry.lesson.slug) for entry in entries] == [
        (1, "welcome"),
        (2, "acknowledge"),
        (3, "not-alone"),
        (4, "kindness"),
        (5, "closing"),
    ]
    assert [entry.local.replace(tzinfo=None) for entry in entries] == [
        datetime(2025, 3, 1, 10, 0),
        datetime(2025, 3, 15, 8, 0),
        datetime(2025, 3, 29, 8, 0),
        datetime(2025, 4, 12, 8, 0),
        datetime(2025, 4, 26, 8, 0),
    ]
    assert [entry.utc for entry in entries[:2]] == [started, datetime(2025, 3, 15, 12, tzinfo=UTC)]
    assert all(entry.local == entry.utc for entry in entries)


# The catalog


def test_the_catalog_lists_courses_offered_on_signup(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-one.md": lesson()}, slug="offered")
    make_course(
        tmp_path, {"01-one.md": lesson()}, COURSE_YML + "offer_on_signup: false\n", slug="hidden"
    )

    catalog = load_catalog(tmp_path)

    assert sorted(catalog.courses) == ["hidden", "offered"]
    assert [course.slug for course in catalog.offered_on_signup()] == ["offered"]
    assert catalog.get("hidden") is catalog["hidden"]
    assert catalog.get("missing") is None
    assert catalog.publication("offered") is catalog["offered"]
    assert catalog.publication("missing") is None


def test_folders_without_a_course_yml_are_not_courses(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": lesson()})
    (tmp_path / "drafts").mkdir()
    (tmp_path / "drafts" / "notes.md").write_text("not a lesson", encoding="utf-8")

    assert list(load_catalog(tmp_path).courses) == ["demo"]


def test_a_folder_cannot_be_both_a_course_and_a_newsletter(tmp_path: Path) -> None:
    folder = make_course(tmp_path, {"01-a.md": lesson()})
    (folder / "newsletter.yml").write_text(COURSE_YML, encoding="utf-8")

    assert problems_in(tmp_path) == [
        Problem(
            folder / "newsletter.yml",
            1,
            "a folder holds a course or a newsletter, not both: remove newsletter.yml",
        )
    ]


def test_a_course_defaults_to_english_with_each_lesson_on_its_own_day_at_eight(
    tmp_path: Path,
) -> None:
    make_course(tmp_path, {"01-a.md": lesson()})

    course = load_catalog(tmp_path)["demo"]

    assert course.lang == "en"
    assert course.cadence == Cadence()
    assert course.cadence.send_at == time(8, 0)
    assert course.theme == Theme()
    assert course.list == "demo"
    assert course.reply_to is None
    assert course.offer_on_signup is True


def test_a_course_may_send_to_a_list_of_another_name(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": lesson()}, COURSE_YML + "list: friends\n")

    assert load_catalog(tmp_path)["demo"].list == "friends"


def test_a_list_name_must_be_a_slug(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": lesson()}, COURSE_YML + "list: Friends List\n")

    assert places_in(tmp_path) == [
        ("course.yml", 5, "`list`: String should match pattern '^[a-z0-9]+(?:-[a-z0-9]+)*$'")
    ]


# The cadence block


def test_lessons_without_a_due_time_follow_the_course_rhythm(tmp_path: Path) -> None:
    yml = COURSE_YML + 'cadence:\n  every_days: 7\n  send_at: "18:30"\n'
    make_course(tmp_path, {"01-a.md": lesson(), "02-b.md": lesson(), "03-c.md": lesson()}, yml)

    course = load_catalog(tmp_path)["demo"]

    assert course.dues == [None, None, None]
    assert course.cadence == Cadence(every_days=7, send_at=time(18, 30))


def test_an_unquoted_send_time_is_read_as_a_time_not_a_base_60_number(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": lesson()}, COURSE_YML + "cadence:\n  send_at: 18:30\n")

    assert load_catalog(tmp_path)["demo"].cadence.send_at == time(18, 30)


def test_a_cadence_block_reads_every_setting(tmp_path: Path) -> None:
    yml = COURSE_YML + (
        "cadence:\n"
        "  weekdays: [thursday, Mon, thu]\n"
        "  first: next day\n"
        '  send_at: "07:15"\n'
        "  skip_weekends: true\n"
        "  quiet_dates: [2025-12-25, 2026-01-01]\n"
    )
    make_course(tmp_path, {"01-a.md": lesson()}, yml)

    assert load_catalog(tmp_path)["demo"].cadence == Cadence(
        weekdays=(0, 3),
        first_on_confirmation=False,
        send_at=time(7, 15),
        skip_weekends=True,
        quiet_dates=frozenset([date(2025, 12, 25), date(2026, 1, 1)]),
    )


def test_days_of_the_month_are_read_in_order_once_each(tmp_path: Path) -> None:
    yml = COURSE_YML + "cadence:\n  days_of_month: [15, 1, 15]\n"
    make_course(tmp_path, {"01-a.md": lesson()}, yml)

    assert load_catalog(tmp_path)["demo"].cadence.days_of_month == (1, 15)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        pytest.param(
            "every_days: 0",
            "`cadence.every_days`: Input should be greater than or equal to 1",
            id="every-0-days",
        ),
        pytest.param(
            "days_of_month: [0, 32]",
            "`cadence.days_of_month` days of the month run from 1 to 31",
            id="day-32",
        ),
        pytest.param(
            "weekdays: [funday]",
            '`cadence.weekdays`: "funday" is not a weekday: write monday, tuesday, ... '
            "or mon, tue, ...",
            id="funday",
        ),
        pytest.param(
            "first: sometime",
            '`cadence.first` must be "on confirmation" or "next day"',
            id="first-sometime",
        ),
        pytest.param(
            "send_at: 8",
            '`cadence.send_at`: "8" is not a time of day: write it as HH:MM, like "08:00"',
            id="send-at-8",
        ),
        pytest.param(
            "skip_weekends: maybe",
            "`cadence.skip_weekends`: Input should be a valid boolean, unable to interpret input",
            id="skip-maybe",
        ),
    ],
)
def test_it_reports_a_bad_cadence_setting_on_its_line(
    tmp_path: Path, setting: str, message: str
) -> None:
    make_course(tmp_path, {"01-a.md": lesson()}, COURSE_YML + f"cadence:\n  {setting}\n")

    assert places_in(tmp_path) == [("course.yml", 6, message)]


def test_it_reports_two_rhythms_at_once_on_the_cadence_line(tmp_path: Path) -> None:
    yml = COURSE_YML + "cadence:\n  every_days: 7\n  weekdays: [mon]\n"
    make_course(tmp_path, {"01-a.md": lesson()}, yml)

    assert places_in(tmp_path) == [
        ("course.yml", 5, "`cadence` choose one of every_days, days_of_month and weekdays")
    ]


def test_it_reports_a_cadence_that_cannot_be_kept_on_the_cadence_line(tmp_path: Path) -> None:
    yml = COURSE_YML + "cadence:\n  weekdays: [saturday, sunday]\n  skip_weekends: true\n"
    make_course(tmp_path, {"01-a.md": lesson(), "02-b.md": lesson()}, yml)

    assert places_in(tmp_path) == [
        (
            "course.yml",
            5,
            "this cadence cannot be kept: it sends only on weekends, and skips weekends",
        )
    ]


def test_a_course_without_a_rhythm_cannot_send_its_first_lesson_next_day(tmp_path: Path) -> None:
    yml = COURSE_YML + "cadence:\n  first: next day\n"
    make_course(tmp_path, {"01-a.md": lesson(), "02-b.md": lesson(due="day 2")}, yml)

    assert places_in(tmp_path) == [
        (
            "course.yml",
            5,
            "`cadence`: `first` belongs to a rhythm; without one, the first lesson's `due` says "
            "when",
        )
    ]


def test_it_reports_an_impossible_quiet_date_on_its_line(tmp_path: Path) -> None:
    yml = COURSE_YML + "cadence:\n  quiet_dates: [2025-02-30]\n"
    make_course(tmp_path, {"01-a.md": lesson()}, yml)

    assert [(p.path.name, p.line) for p in problems_in(tmp_path)] == [("course.yml", 6)]


# When lessons are due


@pytest.mark.parametrize(
    ("rhythm", "kind"),
    [
        ("every_days: 7", "every 7 days"),
        ("days_of_month: [1, 15]", "on days 1, 15 of the month"),
        ("weekdays: [mon, thursday]", "on Monday, Thursday"),
    ],
)
def test_with_a_rhythm_a_later_lesson_may_not_say_when_it_is_due(
    tmp_path: Path, rhythm: str, kind: str
) -> None:
    yml = COURSE_YML + f"cadence:\n  {rhythm}\n"
    lessons = {"01-a.md": lesson(due="on confirmation"), "02-b.md": lesson(due="day 3")}
    make_course(tmp_path, lessons, yml)

    assert places_in(tmp_path) == [
        (
            "02-b.md",
            4,
            f"`due` is decided by the course's cadence ({kind}); remove it, "
            "or remove the rhythm from course.yml",
        )
    ]


def test_with_a_rhythm_only_the_first_lesson_may_be_due_on_confirmation(tmp_path: Path) -> None:
    make_course(
        tmp_path,
        {
            "01-a.md": lesson(due="on confirmation"),
            "02-b.md": lesson(),
            "03-c.md": lesson(due="on confirmation"),
        },
        WEEKLY,
    )

    assert [(p.path.name, p.line) for p in problems_in(tmp_path)] == [("03-c.md", 4)]


def test_with_a_rhythm_the_first_lesson_may_not_name_a_day(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": lesson(due="day 3"), "02-b.md": lesson()}, WEEKLY)

    assert places_in(tmp_path) == [
        (
            "01-a.md",
            4,
            "`due` is decided by the course's cadence (every 7 days); remove it, "
            "or remove the rhythm from course.yml",
        )
    ]


def test_with_a_rhythm_the_first_lesson_may_say_it_goes_on_confirmation(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": lesson(due="on confirmation"), "02-b.md": lesson()}, WEEKLY)

    assert load_catalog(tmp_path)["demo"].dues == [Due(None), None]


def test_without_a_rhythm_each_lesson_after_the_first_says_its_day(tmp_path: Path) -> None:
    make_course(
        tmp_path, {"01-a.md": lesson(), "02-b.md": lesson(due="day 3"), "03-c.md": lesson()}
    )

    assert places_in(tmp_path) == [
        (
            "03-c.md",
            1,
            "this course has no rhythm in course.yml: "
            "say when the lesson is due, like `due: day 7`",
        )
    ]


def test_without_a_rhythm_lessons_keep_the_days_they_name(tmp_path: Path) -> None:
    make_course(
        tmp_path,
        {"01-a.md": lesson(), "02-b.md": lesson(due="day 3"), "03-c.md": lesson(due="day 10")},
    )

    assert load_catalog(tmp_path)["demo"].dues == [None, Due(3), Due(10)]


@pytest.mark.parametrize(("second", "third"), [("day 14", "day 7"), ("day 14", "day 14")])
def test_it_reports_due_days_that_do_not_increase(tmp_path: Path, second: str, third: str) -> None:
    make_course(
        tmp_path,
        {
            "01-a.md": lesson(due="on confirmation"),
            "02-b.md": lesson(due=second),
            "03-c.md": lesson(due=third),
        },
    )

    assert places_in(tmp_path) == [
        ("03-c.md", 4, f"`due: {third}` is not after the lesson before it ({second})")
    ]


def test_it_reports_a_second_lesson_due_on_confirmation(tmp_path: Path) -> None:
    make_course(
        tmp_path,
        {"01-a.md": lesson(due="on confirmation"), "02-b.md": lesson(due="on confirmation")},
    )

    assert places_in(tmp_path) == [
        ("02-b.md", 4, "only the first lesson can be due on confirmation")
    ]


def test_the_first_lesson_may_wait_some_days(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": lesson(due="day 3"), "02-b.md": lesson(due="day 10")})

    assert load_catalog(tmp_path)["demo"].dues == [Due(3), Due(10)]


def test_the_first_lesson_may_be_due_on_day_0(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": lesson(due="day 0"), "02-b.md": lesson(due="day 1")})

    assert load_catalog(tmp_path)["demo"].dues == [Due(0), Due(1)]


def test_a_lesson_cannot_be_due_on_day_0_after_a_welcome_on_confirmation(tmp_path: Path) -> None:
    make_course(
        tmp_path, {"01-a.md": lesson(due="on confirmation"), "02-b.md": lesson(due="day 0")}
    )

    assert places_in(tmp_path) == [
        ("02-b.md", 4, "`due: day 0` is not after the lesson before it (day 0)")
    ]


def test_a_lesson_cannot_be_due_on_day_0_after_a_welcome_sent_at_once_by_default(
    tmp_path: Path,
) -> None:
    make_course(tmp_path, {"01-a.md": lesson(), "02-b.md": lesson(due="day 0")})

    assert places_in(tmp_path) == [
        ("02-b.md", 4, "`due: day 0` is not after the lesson before it (day 0)")
    ]


def test_a_bad_due_time_is_reported_with_what_is_accepted(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": lesson(due="in two weeks")})

    assert places_in(tmp_path) == [
        (
            "01-a.md",
            4,
            '`due`: "in two weeks" is not a due time: write "on confirmation" or "day N"',
        )
    ]


# Lesson files: names and numbers


def test_lessons_are_ordered_by_the_number_in_their_file_name_not_its_spelling(
    tmp_path: Path,
) -> None:
    make_course(tmp_path, {"010-last.md": lesson(), "09-first.md": lesson()}, WEEKLY)

    course = load_catalog(tmp_path)["demo"]

    assert [(lesson.number, lesson.slug) for lesson in course.lessons] == [
        (9, "first"),
        (10, "last"),
    ]


@pytest.mark.parametrize("name", ["intro.md", "1-intro.md", "01-Intro.md", "01_intro.md", "01-.md"])
def test_it_reports_a_lesson_file_name_that_is_not_nn_slug(tmp_path: Path, name: str) -> None:
    make_course(tmp_path, {"01-fine.md": lesson(), name: lesson()})

    assert places_in(tmp_path) == [(name, 1, "a lesson's file name must look like 01-slug.md")]


def test_it_reports_two_lessons_with_the_same_number_on_the_second(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": lesson(), "01-b.md": lesson()}, WEEKLY)

    assert places_in(tmp_path) == [("01-b.md", 1, "the lesson number 01 is also used by 01-a.md")]


def test_it_reports_two_lessons_with_the_same_name_on_the_second(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-same.md": lesson(), "02-same.md": lesson()}, WEEKLY)

    assert places_in(tmp_path) == [
        ("02-same.md", 1, "the lesson name same is also used by 01-same.md")
    ]


def test_it_reports_a_missing_lesson_number_on_the_lesson_after_the_gap(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": lesson(), "02-b.md": lesson(), "04-d.md": lesson()}, WEEKLY)

    assert places_in(tmp_path) == [("04-d.md", 1, "lesson 03 is missing before this one")]


def test_it_reports_each_missing_lesson_number_of_a_wider_gap(tmp_path: Path) -> None:
    folder = make_course(tmp_path, {"01-a.md": lesson(), "04-d.md": lesson()}, WEEKLY)

    assert problems_in(tmp_path) == [
        Problem(folder / "04-d.md", 1, "lesson 02 is missing before this one"),
        Problem(folder / "04-d.md", 1, "lesson 03 is missing before this one"),
    ]


@pytest.mark.parametrize("first", ["00", "01", "05"])
def test_a_course_may_start_counting_its_lessons_anywhere(tmp_path: Path, first: str) -> None:
    second = f"{int(first) + 1:02d}"
    make_course(tmp_path, {f"{first}-a.md": lesson(), f"{second}-b.md": lesson()}, WEEKLY)

    assert [lesson.number for lesson in load_catalog(tmp_path)["demo"].lessons] == [
        int(first),
        int(first) + 1,
    ]


def test_it_reports_a_course_with_no_lessons(tmp_path: Path) -> None:
    folder = make_course(tmp_path, {})

    assert problems_in(tmp_path) == [
        Problem(folder / "course.yml", 1, "this course has no lessons yet")
    ]


# Front matter


def test_a_lesson_may_carry_a_content_note_and_a_button(tmp_path: Path) -> None:
    text = (
        "---\nsubject: Hello\npreheader: Soon.\ncontent_note: this one talks about loss\n"
        "button:\n  label: Try the exercise\n  url: https://example.org/try\n---\n\nText.\n"
    )
    make_course(tmp_path, {"01-a.md": text})

    [first] = load_catalog(tmp_path)["demo"].lessons

    assert first.content_note == "this one talks about loss"
    assert first.button == Button("Try the exercise", "https://example.org/try")


def test_it_reports_a_button_without_an_address_on_its_line(tmp_path: Path) -> None:
    text = "---\nsubject: Hello\npreheader: Soon.\nbutton:\n  label: Go\n---\n\nText.\n"
    make_course(tmp_path, {"01-a.md": text})

    assert places_in(tmp_path) == [("01-a.md", 4, "`button.url` is required")]


def test_it_reports_invalid_yaml_in_front_matter(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": "---\nsubject: Hello\npreheader: a: b\n---\n\nText.\n"})

    assert messages_in(tmp_path) == [
        ("01-a.md", "this is not valid YAML: mapping values are not allowed here")
    ]


def test_it_reports_an_unknown_front_matter_key_with_a_did_you_mean(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": "---\nsubject: Hello\npreheder: Soon\n---\n\nText.\n"})

    assert messages_in(tmp_path) == [
        ("01-a.md", "unknown key `preheder` (did you mean `preheader`?)")
    ]


def test_an_unknown_key_like_no_other_lists_the_known_keys(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": "---\nsubject: Hello\ncolour: blue\n---\n\nText.\n"})

    assert messages_in(tmp_path) == [
        ("01-a.md", "unknown key `colour` (known: subject, preheader, content_note, button, due)")
    ]


def test_it_reports_a_missing_subject(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": "---\npreheader: Soon\n---\n\nText.\n"})

    assert messages_in(tmp_path) == [("01-a.md", "`subject` is required")]


def test_it_reports_an_empty_front_matter_as_a_missing_subject(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": "---\n---\n\nText.\n"})

    assert places_in(tmp_path) == [("01-a.md", 1, "`subject` is required")]


def test_a_misspelt_subject_is_both_missing_and_unknown(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": "---\nsubjct: Hello\n---\n\nText.\n"})

    assert messages_in(tmp_path) == [
        ("01-a.md", "`subject` is required"),
        ("01-a.md", "unknown key `subjct` (did you mean `subject`?)"),
    ]


def test_a_subject_must_be_a_single_line(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": '---\nsubject: "Hello\\nBcc: x@example.org"\n---\n\nT.\n'})

    assert places_in(tmp_path) == [("01-a.md", 2, "`subject` must be a single line")]


def test_it_reports_a_lesson_without_front_matter(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": "subject: Hello\n\nText.\n"})

    assert places_in(tmp_path) == [
        ("01-a.md", 1, "a letter starts with front matter between --- lines")
    ]


def test_it_reports_a_lesson_without_text(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": "---\nsubject: Hello\n---\n\n  \n"})

    assert messages_in(tmp_path) == [("01-a.md", "the letter has no text")]


def test_it_reports_a_lesson_without_text_on_the_line_after_its_front_matter(
    tmp_path: Path,
) -> None:
    make_course(tmp_path, {"01-a.md": "---\nsubject: Hello\n---\n\n"})

    assert [(p.path.name, p.line) for p in problems_in(tmp_path)] == [("01-a.md", 4)]


@pytest.mark.parametrize(
    ("files", "bad_file", "line"),
    [
        pytest.param(
            {"01-a.md": "---\nsubject: Hello\npreheader: a: b\n---\n\nText.\n"},
            "01-a.md",
            3,
            id="invalid-yaml",
        ),
        pytest.param(
            {"01-a.md": '---\nsubject: "Hello\npreheader: Soon\n---\n\nText.\n'},
            "01-a.md",
            2,
            id="unclosed-quote-at-its-opening",
        ),
        pytest.param(
            {"01-a.md": "---\nsubject: Hello\npreheder: Soon\n---\n\nText.\n"},
            "01-a.md",
            3,
            id="unknown-key",
        ),
        pytest.param(
            {"01-a.md": "---\npreheader: Soon\n---\n\nText.\n"},
            "01-a.md",
            2,
            id="missing-subject",
        ),
        pytest.param(
            {"01-a.md": lesson(), "02-b.md": lesson(due="day 14"), "03-c.md": lesson(due="day 7")},
            "03-c.md",
            4,
            id="due-not-increasing",
        ),
        pytest.param(
            {"01-a.md": lesson(), "02-b.md": lesson(due="on confirmation")},
            "02-b.md",
            4,
            id="second-on-confirmation",
        ),
    ],
)
def test_it_reports_the_line_of_a_front_matter_mistake_as_it_is_in_the_file(
    tmp_path: Path, files: dict[str, str], bad_file: str, line: int
) -> None:
    make_course(tmp_path, files)

    assert [(p.path.name, p.line) for p in problems_in(tmp_path)] == [(bad_file, line)]


@pytest.mark.parametrize("blank_lines", [1, 2])
def test_a_front_matter_mistake_below_blank_lines_is_reported_on_its_own_line(
    tmp_path: Path, blank_lines: int
) -> None:
    text = "---\n" + "\n" * blank_lines + "subject: Hello\npreheder: Soon\n---\n\nText.\n"
    make_course(tmp_path, {"01-a.md": text})

    assert text.splitlines()[blank_lines + 2] == "preheder: Soon"
    assert places_in(tmp_path) == [
        ("01-a.md", blank_lines + 3, "unknown key `preheder` (did you mean `preheader`?)")
    ]


# Warnings: worth fixing, but nothing breaks


def test_a_subject_longer_than_78_characters_is_a_warning_on_its_line(tmp_path: Path) -> None:
    folder = make_course(tmp_path, {"01-a.md": lesson(subject="x" * 79)})

    catalog = load_catalog(tmp_path)

    assert catalog.warnings == (
        Problem(
            folder / "01-a.md",
            2,
            "the subject has 79 characters; inboxes cut it after about 78",
            "warning",
        ),
    )
    assert catalog["demo"].lessons[0].subject == "x" * 79


def test_a_subject_of_78_characters_is_fine(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": lesson(subject="x" * 78)})

    assert load_catalog(tmp_path).warnings == ()


def test_a_lesson_without_a_preheader_is_a_warning(tmp_path: Path) -> None:
    folder = make_course(tmp_path, {"01-a.md": lesson(preheader="")})

    assert load_catalog(tmp_path).warnings == (
        Problem(
            folder / "01-a.md",
            1,
            "no `preheader`: inboxes will show the first words of the letter instead",
            "warning",
        ),
    )


def test_a_course_error_lists_the_errors_and_leaves_out_the_warnings(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": lesson(preheader=""), "Intro.md": lesson()})

    assert [(p.path.name, p.level) for p in problems_in(tmp_path)] == [("Intro.md", "error")]


def test_read_catalog_collects_errors_and_warnings_and_keeps_what_it_could_read(
    tmp_path: Path,
) -> None:
    make_course(tmp_path, {"01-a.md": lesson(preheader="")}, slug="fine")
    make_course(tmp_path, {"01-a.md": lesson(), "Intro.md": lesson()}, slug="broken")
    problems: list[Problem] = []

    catalog = read_catalog(tmp_path, problems)

    assert list(catalog.courses) == ["fine"]
    assert [(p.path.relative_to(tmp_path).as_posix(), p.level) for p in problems] == [
        ("broken/Intro.md", "error"),
        ("fine/01-a.md", "warning"),
    ]
    assert catalog.warnings == (problems[1],)


# The theme


def test_a_theme_sets_colours_logo_footer_progress_and_layout(tmp_path: Path) -> None:
    yml = COURSE_YML + (
        "theme:\n"
        '  accent: "#112233"\n'
        '  background: "#AABBCC"\n'
        '  paper: "#ffffff"\n'
        '  text: "#000000"\n'
        "  logo: https://example.org/logo.png\n"
        "  footer: Written with care in Springfield.\n"
        '  progress: "Session {number} of {total}"\n'
        "  layout: mine.mjml\n"
    )
    folder = make_course(tmp_path, {"01-a.md": lesson()}, yml)
    (folder / "mine.mjml").write_text("<mjml></mjml>", encoding="utf-8")

    assert load_catalog(tmp_path)["demo"].theme == Theme(
        accent="#112233",
        background="#AABBCC",
        paper="#ffffff",
        text="#000000",
        logo="https://example.org/logo.png",
        footer="Written with care in Springfield.",
        progress="Session {number} of {total}",
        layout=folder / "mine.mjml",
    )


@pytest.mark.parametrize("key", ["accent", "background", "paper", "text"])
@pytest.mark.parametrize("colour", ["red", "#abc", "#GGGGGG", "112233", "#1122334"])
def test_it_reports_a_colour_that_is_not_six_hex_digits(
    tmp_path: Path, key: str, colour: str
) -> None:
    make_course(tmp_path, {"01-a.md": lesson()}, COURSE_YML + f'theme:\n  {key}: "{colour}"\n')

    assert places_in(tmp_path) == [
        ("course.yml", 6, f"`theme.{key}`: String should match pattern '^#[0-9a-fA-F]{{6}}$'")
    ]


@pytest.mark.parametrize(
    "logo",
    [
        "http://example.org/logo.png",
        "//example.org/logo.png",
        "logo.png",
        "https://",
        "https://example.org/my logo.png",
    ],
)
def test_it_reports_a_logo_that_is_not_an_https_address(tmp_path: Path, logo: str) -> None:
    make_course(tmp_path, {"01-a.md": lesson()}, COURSE_YML + f'theme:\n  logo: "{logo}"\n')

    assert places_in(tmp_path) == [
        ("course.yml", 6, "`theme.logo`: String should match pattern '^https://\\S+$'")
    ]


@pytest.mark.parametrize(
    "progress", ["Session {number} of {course}", "{title}", "Part {0}", "Letter {number"]
)
def test_it_reports_a_progress_line_with_an_unknown_field(tmp_path: Path, progress: str) -> None:
    make_course(tmp_path, {"01-a.md": lesson()}, COURSE_YML + f'theme:\n  progress: "{progress}"\n')

    assert places_in(tmp_path) == [
        ("course.yml", 6, "`theme.progress` may use only {number} and {total}")
    ]


@pytest.mark.parametrize("progress", ["{number}/{total}", "Part {number}", "A letter for you"])
def test_a_progress_line_may_use_number_and_total_or_neither(tmp_path: Path, progress: str) -> None:
    make_course(tmp_path, {"01-a.md": lesson()}, COURSE_YML + f'theme:\n  progress: "{progress}"\n')

    assert load_catalog(tmp_path)["demo"].theme.progress == progress


def test_it_reports_an_unknown_theme_key_with_a_did_you_mean(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": lesson()}, COURSE_YML + 'theme:\n  acent: "#112233"\n')

    assert places_in(tmp_path) == [
        ("course.yml", 6, "unknown key `theme.acent` (did you mean `accent`?)")
    ]


def test_it_reports_a_missing_layout_file_on_its_line(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": lesson()}, COURSE_YML + "theme:\n  layout: mine.mjml\n")

    assert places_in(tmp_path) == [("course.yml", 6, "no layout file mine.mjml in demo/")]


def test_a_course_whose_layout_file_is_missing_is_left_out_of_the_catalog(
    tmp_path: Path,
) -> None:
    make_course(tmp_path, {"01-a.md": lesson()}, COURSE_YML + "theme:\n  layout: mine.mjml\n")
    problems: list[Problem] = []

    catalog = read_catalog(tmp_path, problems)

    assert [p.message for p in problems] == ["no layout file mine.mjml in demo/"]
    assert catalog.courses == {}


# Mistakes in course.yml and in the folder


def test_it_reports_a_bad_from_email_on_its_line(tmp_path: Path) -> None:
    yml = COURSE_YML.replace("letters@example.org", "letters-at-example.org")
    make_course(tmp_path, {"01-a.md": lesson()}, yml)

    [problem] = problems_in(tmp_path)

    assert problem.path == tmp_path / "demo" / "course.yml"
    assert problem.line == 3
    assert problem.message.startswith("`from_email` is not an email address: ")
    assert "@-sign" in problem.message


def test_it_reports_a_bad_send_time_on_the_line_of_the_nested_key(tmp_path: Path) -> None:
    yml = COURSE_YML + 'cadence:\n  every_days: 14\n  send_at: "25:00"\n'
    make_course(tmp_path, {"01-a.md": lesson()}, yml)

    assert places_in(tmp_path) == [
        (
            "course.yml",
            7,
            '`cadence.send_at`: "25:00" is not a time of day: write it as HH:MM, like "08:00"',
        )
    ]


def test_it_reports_a_missing_course_setting_at_the_top_of_the_file(tmp_path: Path) -> None:
    yml = COURSE_YML.replace("title: Demo Course\n", "")
    make_course(tmp_path, {"01-a.md": lesson()}, yml)

    assert places_in(tmp_path) == [("course.yml", 1, "`title` is required")]


def test_it_reports_an_unknown_course_setting_with_a_did_you_mean(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": lesson()}, COURSE_YML + "reply_too: a@example.org\n")

    assert places_in(tmp_path) == [
        ("course.yml", 5, "unknown key `reply_too` (did you mean `reply_to`?)")
    ]


def test_it_reports_invalid_yaml_in_course_yml_on_its_line(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": lesson()}, COURSE_YML + "lang: [en\n")

    assert places_in(tmp_path) == [
        (
            "course.yml",
            5,  # where the unclosed list began, not the end of the file where YAML gave up
            "this is not valid YAML: expected ',' or ']', but got '<stream end>' "
            "while parsing a flow sequence",
        )
    ]


def test_it_reports_a_course_yml_that_is_not_a_set_of_keys(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": lesson()}, "- title\n- from_name\n")

    assert places_in(tmp_path) == [("course.yml", 1, "expected a set of `key: value` lines")]


def test_it_reports_a_course_folder_name_that_is_not_a_slug(tmp_path: Path) -> None:
    folder = make_course(tmp_path, {"01-a.md": lesson()}, slug="My_Course")

    assert problems_in(tmp_path) == [
        Problem(folder, 1, "a course or newsletter folder's name must be a-z, 0-9 and dashes")
    ]


def test_it_reports_a_missing_courses_folder(tmp_path: Path) -> None:
    assert problems_in(tmp_path / "nowhere") == [
        Problem(tmp_path / "nowhere", 1, "the courses folder does not exist")
    ]


def test_it_reports_every_mistake_of_every_course_at_once(tmp_path: Path) -> None:
    yml = COURSE_YML.replace("letters@example.org", "nobody")
    make_course(tmp_path, {"01-a.md": lesson(), "Intro.md": lesson()}, yml, slug="first")
    make_course(
        tmp_path,
        {"01-a.md": "---\npreheader: Soon\n---\n\nText.\n", "02-b.md": lesson(due="day -1")},
        slug="second",
    )

    found = problems_in(tmp_path)

    assert [(p.path.relative_to(tmp_path).as_posix(), p.message[:30]) for p in found] == [
        ("first/course.yml", "`from_email` is not an email a"),
        ("first/Intro.md", "a lesson's file name must look"),
        ("second/01-a.md", "`subject` is required"),
        ("second/02-b.md", '`due`: "day -1" is not a due t'),
    ]
    assert [p.line for p in found] == [3, 1, 2, 4]


def test_a_course_error_prints_one_problem_per_line_as_path_line_level_message(
    tmp_path: Path,
) -> None:
    make_course(tmp_path, {"01-a.md": lesson(), "Intro.md": lesson(), "notes.md": lesson()})

    with pytest.raises(CourseError) as caught:
        load_catalog(tmp_path)

    folder = tmp_path / "demo"
    message = "a lesson's file name must look like 01-slug.md"
    assert str(caught.value) == (
        f"{folder / 'Intro.md'}:1: error: {message}\n{folder / 'notes.md'}:1: error: {message}"
    )


def test_a_problem_prints_as_path_line_level_message() -> None:
    error = Problem(Path("courses/demo/01-a.md"), 3, "`subject` is required")
    warning = Problem(Path("courses/demo/01-a.md"), 1, "no `preheader`", "warning")

    assert str(error) == "courses/demo/01-a.md:3: error: `subject` is required"
    assert str(warning) == "courses/demo/01-a.md:1: warning: no `preheader`"


# yamlfile


def test_yamlfile_maps_each_key_to_its_line() -> None:
    data, lines = yamlfile.parse("title: A\ncadence:\n  every_days: 7\nitems:\n  - x\n  - y\n")

    assert data == {"title": "A", "cadence": {"every_days": 7}, "items": ["x", "y"]}
    assert lines == {
        (): 1,
        ("title",): 1,
        ("cadence",): 2,
        ("cadence", "every_days"): 3,
        ("items",): 4,
        ("items", 0): 5,
        ("items", 1): 6,
    }


def test_yamlfile_counts_lines_from_the_line_it_is_told() -> None:
    _, lines = yamlfile.parse("a: 1\nb: 2\n", first_line=10)

    assert lines[("a",)] == 10
    assert lines[("b",)] == 11


def test_yamlfile_finds_a_missing_key_at_its_parent() -> None:
    _, lines = yamlfile.parse("title: A\ncadence:\n  every_days: 7\n")

    assert yamlfile.line_of(lines, ("cadence", "send_at")) == 2
    assert yamlfile.line_of(lines, ("nothing", "here")) == 1


def test_yamlfile_reports_an_unclosed_quote_where_it_opened() -> None:
    with pytest.raises(yamlfile.YamlError) as caught:
        yamlfile.parse('a: 1\nb: "open\nc: 3\nd: 4\n')

    assert caught.value.line == 2
    assert caught.value.message == (
        "this is not valid YAML: found unexpected end of stream while scanning a quoted scalar"
    )


def test_yamlfile_reports_the_line_of_invalid_yaml() -> None:
    with pytest.raises(yamlfile.YamlError) as caught:
        yamlfile.parse("a: 1\nb: c: d\n", first_line=5)

    assert caught.value.line == 6
    assert caught.value.message == "this is not valid YAML: mapping values are not allowed here"


def test_yamlfile_reads_an_empty_document_as_nothing() -> None:
    assert yamlfile.parse("") == (None, {})


@pytest.mark.parametrize(("text", "value"), [("18:30", "18:30"), ("1:30:00", "1:30:00")])
def test_yamlfile_reads_sexagesimal_looking_numbers_as_text(text: str, value: str) -> None:
    data, _ = yamlfile.parse(f"send_at: {text}\n")

    assert data == {"send_at": value}

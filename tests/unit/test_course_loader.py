"""courses/loader.py, courses/yamlfile.py and courses/model.py: a course on disk, checked."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

import courses
from courses import yamlfile
from courses.cadence import Due
from courses.loader import load_catalog
from courses.model import CourseError, Problem

SHIPPED = Path(courses.__file__).resolve().parent
DEMO_SLUG = "softening-sessions"

COURSE_YML = """\
title: Demo Course
from_name: Demo Letters
from_email: letters@example.org
postal_address: 1 Example Lane, Springfield
"""


def lesson(subject: str = "Hello", due: str | None = None) -> str:
    due_line = f"due: {due}\n" if due else ""
    return f"---\nsubject: {subject}\n{due_line}---\n\nSome text.\n"


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
    assert [lesson.due for lesson in course.lessons] == [
        Due(None),
        Due(14),
        Due(28),
        Due(42),
        Due(56),
    ]
    assert course.send_at == time(8, 0)
    assert course.every_days == 14


def test_the_shipped_demo_course_carries_its_sender_and_language() -> None:
    course = load_catalog(SHIPPED)[DEMO_SLUG]

    assert course.title == "Softening Sessions"
    assert course.from_name == "Softening Sessions"
    assert course.from_email == "letters@tend.example.org"
    assert course.reply_to == "hello@tend.example.org"
    assert course.postal_address == "Tend Demo Practice, 1 Example Lane, Springfield, USA"
    assert course.lang == "en"
    assert course.offer_on_signup is True
    assert course.description.startswith("Short, gentle tools")
    assert "\n" not in course.description


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


def test_a_demo_lesson_knows_the_line_of_its_due_key() -> None:
    course = load_catalog(SHIPPED)[DEMO_SLUG]

    assert [lesson.due_line for lesson in course.lessons] == [4, 4, 4, 4, 4]


def test_a_course_finds_its_lessons_by_position_and_by_slug() -> None:
    course = load_catalog(SHIPPED)[DEMO_SLUG]

    assert course.lesson_at(0) is course.lessons[0]
    assert course.lesson_at(4) is course.lessons[4]
    assert course.lesson_at(5) is None
    assert course.lesson_at(-1) is None
    assert course.lesson("kindness") is course.lessons[3]
    assert course.lesson("no-such-lesson") is None


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


# Rhythm


def test_lessons_without_a_due_time_follow_the_course_rhythm(tmp_path: Path) -> None:
    yml = COURSE_YML + 'cadence:\n  every_days: 7\n  send_at: "18:30"\n'
    make_course(tmp_path, {"01-a.md": lesson(), "02-b.md": lesson(), "03-c.md": lesson()}, yml)

    course = load_catalog(tmp_path)["demo"]

    assert [lesson.due for lesson in course.lessons] == [Due(None), Due(7), Due(14)]
    assert course.send_at == time(18, 30)
    assert course.every_days == 7


def test_lessons_are_ordered_by_the_number_in_their_file_name(tmp_path: Path) -> None:
    make_course(tmp_path, {"10-last.md": lesson(), "02-first.md": lesson(), "05-mid.md": lesson()})

    course = load_catalog(tmp_path)["demo"]

    assert [(lesson.number, lesson.slug) for lesson in course.lessons] == [
        (2, "first"),
        (5, "mid"),
        (10, "last"),
    ]


def test_a_course_defaults_to_english_every_fourteen_days_at_eight(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": lesson()})

    course = load_catalog(tmp_path)["demo"]

    assert (course.lang, course.every_days, course.send_at) == ("en", 14, time(8, 0))
    assert course.reply_to is None
    assert course.offer_on_signup is True


# Mistakes in lessons


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
        ("01-a.md", "unknown key `colour` (known: subject, preheader, due)")
    ]


def test_it_reports_a_missing_subject(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": "---\npreheader: Soon\n---\n\nText.\n"})

    assert messages_in(tmp_path) == [("01-a.md", "`subject` is required")]


def test_a_misspelt_subject_is_both_missing_and_unknown(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": "---\nsubjct: Hello\n---\n\nText.\n"})

    assert messages_in(tmp_path) == [
        ("01-a.md", "`subject` is required"),
        ("01-a.md", "unknown key `subjct` (did you mean `subject`?)"),
    ]


def test_a_subject_must_be_a_single_line(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": '---\nsubject: "Hello\\nBcc: x@example.org"\n---\n\nT.\n'})

    assert messages_in(tmp_path) == [("01-a.md", "`subject` must be a single line")]


def test_a_bad_due_time_is_reported_with_what_is_accepted(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": lesson(due="in two weeks")})

    assert messages_in(tmp_path) == [
        (
            "01-a.md",
            '`due`: "in two weeks" is not a due time: write "on confirmation" or "day N" (N >= 1)',
        )
    ]


@pytest.mark.parametrize("name", ["intro.md", "1-intro.md", "01-Intro.md", "01_intro.md", "01-.md"])
def test_it_reports_a_lesson_file_name_that_is_not_nn_slug(tmp_path: Path, name: str) -> None:
    make_course(tmp_path, {"01-fine.md": lesson(), name: lesson()})

    assert [(p.path.name, p.line, p.message) for p in problems_in(tmp_path)] == [
        (name, 1, "a lesson's file name must look like 01-slug.md")
    ]


def test_it_reports_a_lesson_without_front_matter(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": "subject: Hello\n\nText.\n"})

    assert [(p.path.name, p.line, p.message) for p in problems_in(tmp_path)] == [
        ("01-a.md", 1, "a lesson starts with front matter between --- lines")
    ]


def test_it_reports_a_lesson_without_text(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": "---\nsubject: Hello\n---\n\n  \n"})

    assert messages_in(tmp_path) == [("01-a.md", "the lesson has no text")]


def test_it_reports_a_lesson_without_text_on_the_line_after_its_front_matter(
    tmp_path: Path,
) -> None:
    make_course(tmp_path, {"01-a.md": "---\nsubject: Hello\n---\n\n"})

    assert [(p.path.name, p.line) for p in problems_in(tmp_path)] == [("01-a.md", 4)]


def test_it_reports_two_lessons_with_the_same_number(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": lesson(), "01-b.md": lesson()})

    assert [(p.path.name, p.line, p.message) for p in problems_in(tmp_path)] == [
        ("01-b.md", 1, "the lesson number 01 is also used by 01-a.md")
    ]


def test_it_reports_two_lessons_with_the_same_slug(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-same.md": lesson(), "02-same.md": lesson()})

    assert messages_in(tmp_path) == [
        ("02-same.md", "the lesson name same is also used by 01-same.md")
    ]


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

    assert messages_in(tmp_path) == [
        ("03-c.md", f"`due: {third}` is not after the lesson before it ({second})")
    ]


def test_a_lesson_left_to_the_rhythm_comes_every_days_after_the_one_before(tmp_path: Path) -> None:
    make_course(
        tmp_path, {"01-a.md": lesson(), "02-b.md": lesson(due="day 30"), "03-c.md": lesson()}
    )

    lessons = load_catalog(tmp_path)["demo"].lessons
    assert [str(lesson.due) for lesson in lessons] == ["on confirmation", "day 30", "day 44"]


def test_it_reports_a_second_lesson_due_on_confirmation(tmp_path: Path) -> None:
    make_course(
        tmp_path,
        {"01-a.md": lesson(due="on confirmation"), "02-b.md": lesson(due="on confirmation")},
    )

    assert messages_in(tmp_path) == [
        ("02-b.md", "only the first lesson can be due on confirmation")
    ]


def test_the_first_lesson_may_wait_some_days(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": lesson(due="day 3"), "02-b.md": lesson(due="day 10")})

    course = load_catalog(tmp_path)["demo"]

    assert [lesson.due for lesson in course.lessons] == [Due(3), Due(10)]


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
            3,
            id="due-not-increasing",
        ),
        pytest.param(
            {"01-a.md": lesson(), "02-b.md": lesson(due="on confirmation")},
            "02-b.md",
            3,
            id="second-on-confirmation",
        ),
    ],
)
def test_it_reports_the_line_of_a_front_matter_mistake_as_it_is_in_the_file(
    tmp_path: Path, files: dict[str, str], bad_file: str, line: int
) -> None:
    make_course(tmp_path, files)

    assert [(p.path.name, p.line) for p in problems_in(tmp_path)] == [(bad_file, line)]


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

    assert [(p.path.name, p.line, p.message) for p in problems_in(tmp_path)] == [
        (
            "course.yml",
            7,
            '`cadence.send_at`: "25:00" is not a time of day: write it as HH:MM, like "08:00"',
        )
    ]


def test_it_reports_a_missing_course_setting_at_the_top_of_the_file(tmp_path: Path) -> None:
    yml = COURSE_YML.replace("title: Demo Course\n", "")
    make_course(tmp_path, {"01-a.md": lesson()}, yml)

    assert [(p.path.name, p.line, p.message) for p in problems_in(tmp_path)] == [
        ("course.yml", 1, "`title` is required")
    ]


def test_it_reports_an_unknown_course_setting_with_a_did_you_mean(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": lesson()}, COURSE_YML + "reply_too: a@example.org\n")

    assert [(p.path.name, p.line, p.message) for p in problems_in(tmp_path)] == [
        ("course.yml", 5, "unknown key `reply_too` (did you mean `reply_to`?)")
    ]


def test_it_reports_invalid_yaml_in_course_yml_on_its_line(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": lesson()}, COURSE_YML + "lang: [en\n")

    assert [(p.path.name, p.line, p.message) for p in problems_in(tmp_path)] == [
        (
            "course.yml",
            5,  # where the unclosed list began, not the end of the file where YAML gave up
            "this is not valid YAML: expected ',' or ']', but got '<stream end>' "
            "while parsing a flow sequence",
        )
    ]


def test_it_reports_a_course_yml_that_is_not_a_set_of_keys(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": lesson()}, "- title\n- from_name\n")

    assert [(p.path.name, p.line, p.message) for p in problems_in(tmp_path)] == [
        ("course.yml", 1, "expected a set of `key: value` lines")
    ]


def test_it_reports_a_course_with_no_lessons(tmp_path: Path) -> None:
    folder = make_course(tmp_path, {})

    assert problems_in(tmp_path) == [
        Problem(folder / "course.yml", 1, "this course has no lessons yet")
    ]


def test_it_reports_a_course_folder_name_that_is_not_a_slug(tmp_path: Path) -> None:
    folder = make_course(tmp_path, {"01-a.md": lesson()}, slug="My_Course")

    assert problems_in(tmp_path) == [
        Problem(folder, 1, "a course folder's name must be a-z, 0-9 and dashes")
    ]


def test_it_reports_a_missing_courses_folder(tmp_path: Path) -> None:
    assert problems_in(tmp_path / "nowhere") == [
        Problem(tmp_path / "nowhere", 1, "the courses folder does not exist")
    ]


def test_folders_without_a_course_yml_are_not_courses(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": lesson()})
    (tmp_path / "drafts").mkdir()
    (tmp_path / "drafts" / "notes.md").write_text("not a lesson", encoding="utf-8")

    assert list(load_catalog(tmp_path).courses) == ["demo"]


def test_it_reports_every_mistake_of_every_course_at_once(tmp_path: Path) -> None:
    yml = COURSE_YML.replace("letters@example.org", "nobody")
    make_course(tmp_path, {"01-a.md": lesson(), "Intro.md": lesson()}, yml, slug="first")
    make_course(
        tmp_path,
        {"01-a.md": "---\npreheader: Soon\n---\n\nText.\n", "02-b.md": lesson(due="day 0")},
        slug="second",
    )

    found = problems_in(tmp_path)

    assert [(p.path.relative_to(tmp_path).as_posix(), p.message[:30]) for p in found] == [
        ("first/course.yml", "`from_email` is not an email a"),
        ("first/Intro.md", "a lesson's file name must look"),
        ("second/01-a.md", "`subject` is required"),
        ("second/02-b.md", '`due`: "day 0" is not a due ti'),
    ]
    assert [p.line for p in found[:2]] == [3, 1]


def test_a_course_error_prints_one_problem_per_line_as_path_line_message(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-a.md": lesson(), "Intro.md": lesson(), "notes.md": lesson()})

    with pytest.raises(CourseError) as caught:
        load_catalog(tmp_path)

    folder = tmp_path / "demo"
    message = "a lesson's file name must look like 01-slug.md"
    assert (
        str(caught.value)
        == f"{folder / 'Intro.md'}:1: {message}\n{folder / 'notes.md'}:1: {message}"
    )


def test_a_problem_prints_as_path_line_message() -> None:
    problem = Problem(Path("courses/demo/01-a.md"), 3, "`subject` is required")

    assert str(problem) == "courses/demo/01-a.md:3: `subject` is required"


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


def test_an_unquoted_send_time_is_read_as_a_time_not_a_base_60_number(tmp_path: Path) -> None:
    make_course(
        tmp_path,
        {"01-a.md": lesson()},
        course_yml=COURSE_YML + "cadence:\n  send_at: 18:30\n",
    )

    assert load_catalog(tmp_path)["demo"].send_at == time(18, 30)

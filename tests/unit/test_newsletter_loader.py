"""courses/loader.py for newsletters: `newsletter.yml` and dated issues in `issues/`."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest

import courses
from courses.loader import load_catalog
from courses.model import Button, CourseError, Problem, Theme

SHIPPED = Path(courses.__file__).resolve().parent
DEMO_SLUG = "remember-and-reclaim"

NEWSLETTER_YML = """\
title: Demo News
from_name: Demo Letters
from_email: letters@example.org
postal_address: 1 Example Lane, Springfield
"""


def issue(subject: str = "Hello", extra: str = "", preheader: str = "Soon.") -> str:
    """An issue file: subject on line 2, preheader on line 3, `extra` from line 4."""
    preheader_line = f"preheader: {preheader}\n" if preheader else ""
    return f"---\nsubject: {subject}\n{preheader_line}{extra}---\n\nSome news.\n"


def make_newsletter(
    root: Path,
    issues: dict[str, str],
    newsletter_yml: str = NEWSLETTER_YML,
    slug: str = "news",
) -> Path:
    folder = root / slug
    (folder / "issues").mkdir(parents=True)
    (folder / "newsletter.yml").write_text(newsletter_yml, encoding="utf-8")
    for name, text in issues.items():
        (folder / "issues" / name).write_text(text, encoding="utf-8")
    return folder


def places_in(root: Path) -> list[tuple[str, int, str]]:
    with pytest.raises(CourseError) as caught:
        load_catalog(root)
    return [(p.path.name, p.line, p.message) for p in caught.value.problems]


# The shipped newsletter


def test_the_shipped_newsletter_loads_with_its_issues_in_date_order() -> None:
    newsletter = load_catalog(SHIPPED).newsletters[DEMO_SLUG]

    assert newsletter.title == "Remember and Reclaim"
    assert newsletter.path == SHIPPED / DEMO_SLUG
    assert newsletter.list == DEMO_SLUG
    assert newsletter.send_at == time(8, 0)
    assert newsletter.theme == Theme()
    assert [(issue.date, issue.slug) for issue in newsletter.issues] == [
        (date(2026, 12, 1), "naming-the-weather"),
        (date(2026, 12, 15), "the-longer-table"),
        (date(2027, 1, 1), "a-kinder-resolution"),
    ]
    assert [issue.send_at_utc for issue in newsletter.issues] == [None, None, None]


def test_a_shipped_issue_has_its_subject_preheader_and_body() -> None:
    newsletter = load_catalog(SHIPPED).newsletters[DEMO_SLUG]

    first = newsletter.issue("naming-the-weather")

    assert first is newsletter.issues[0]
    assert first.subject == "Naming the weather"
    assert first.preheader == (
        "Feelings move through us like weather. Naming them can help you stay steady."
    )
    assert first.body.lstrip().startswith('Dear {{ reader.first_name | default("friend") }},')
    assert first.body_line == 5
    assert first.path == SHIPPED / DEMO_SLUG / "issues" / "2026-12-01-naming-the-weather.md"
    assert newsletter.issue("no-such-issue") is None


def test_a_newsletter_is_a_publication_of_the_catalog_but_not_a_course() -> None:
    catalog = load_catalog(SHIPPED)

    assert catalog.publication(DEMO_SLUG) is catalog.newsletters[DEMO_SLUG]
    assert catalog.get(DEMO_SLUG) is None
    assert DEMO_SLUG not in catalog.courses


# Loading a newsletter


def test_a_newsletter_reads_its_send_time_list_and_theme(tmp_path: Path) -> None:
    yml = NEWSLETTER_YML + 'send_at: 18:30\nlist: friends\ntheme:\n  accent: "#112233"\n'
    make_newsletter(tmp_path, {"2026-12-01-first.md": issue()}, yml)

    newsletter = load_catalog(tmp_path).newsletters["news"]

    assert newsletter.send_at == time(18, 30)
    assert newsletter.list == "friends"
    assert newsletter.theme == Theme(accent="#112233")


def test_issues_are_ordered_by_their_date(tmp_path: Path) -> None:
    make_newsletter(
        tmp_path,
        {
            "2027-01-01-new-year.md": issue(),
            "2026-02-28-winter.md": issue(),
            "2026-12-15-holidays.md": issue(),
        },
    )

    newsletter = load_catalog(tmp_path).newsletters["news"]

    assert [(issue.date, issue.slug) for issue in newsletter.issues] == [
        (date(2026, 2, 28), "winter"),
        (date(2026, 12, 15), "holidays"),
        (date(2027, 1, 1), "new-year"),
    ]


def test_a_leap_day_is_a_real_issue_date(tmp_path: Path) -> None:
    make_newsletter(tmp_path, {"2028-02-29-leap.md": issue()})

    [only] = load_catalog(tmp_path).newsletters["news"].issues

    assert only.date == date(2028, 2, 29)


def test_a_newsletter_without_issues_yet_loads_empty(tmp_path: Path) -> None:
    folder = tmp_path / "news"
    folder.mkdir()
    (folder / "newsletter.yml").write_text(NEWSLETTER_YML, encoding="utf-8")

    assert load_catalog(tmp_path).newsletters["news"].issues == ()


def test_an_issue_may_carry_a_content_note_and_a_button(tmp_path: Path) -> None:
    extra = "content_note: grief\nbutton:\n  label: Reply\n  url: mailto:me@example.org\n"
    make_newsletter(tmp_path, {"2026-12-01-first.md": issue(extra=extra)})

    [first] = load_catalog(tmp_path).newsletters["news"].issues

    assert first.content_note == "grief"
    assert first.button == Button("Reply", "mailto:me@example.org")


@pytest.mark.parametrize(
    ("written", "instant"),
    [
        ("2026-12-01T09:00:00Z", datetime(2026, 12, 1, 9, 0, tzinfo=UTC)),
        ('"2026-12-01T09:00:00Z"', datetime(2026, 12, 1, 9, 0, tzinfo=UTC)),
        ('"2026-12-01T11:00:00+02:00"', datetime(2026, 12, 1, 9, 0, tzinfo=UTC)),
    ],
)
def test_an_issue_may_go_to_everyone_at_one_instant(
    tmp_path: Path, written: str, instant: datetime
) -> None:
    make_newsletter(tmp_path, {"2026-12-01-first.md": issue(extra=f"send_at_utc: {written}\n")})

    [first] = load_catalog(tmp_path).newsletters["news"].issues

    assert first.send_at_utc == instant
    assert first.send_at_utc is not None
    assert first.send_at_utc.utcoffset() is not None


@pytest.mark.parametrize("written", ["2026-12-01 09:00:00", '"2026-12-01T09:00:00"'])
def test_an_issue_send_time_without_a_zone_is_reported_on_its_line(
    tmp_path: Path, written: str
) -> None:
    make_newsletter(tmp_path, {"2026-12-01-first.md": issue(extra=f"send_at_utc: {written}\n")})

    assert places_in(tmp_path) == [
        (
            "2026-12-01-first.md",
            4,
            '`send_at_utc` needs a time zone, like "2026-12-01T09:00:00Z"',
        )
    ]


def test_an_impossible_issue_send_time_is_reported_on_its_line(tmp_path: Path) -> None:
    make_newsletter(
        tmp_path, {"2026-12-01-first.md": issue(extra="send_at_utc: 2026-02-30T09:00:00Z\n")}
    )

    assert [(name, line) for name, line, _ in places_in(tmp_path)] == [("2026-12-01-first.md", 4)]


# Mistakes


@pytest.mark.parametrize(
    "name",
    [
        "first.md",
        "2026-12-1-first.md",
        "2026-02-30-first.md",
        "2026-13-01-first.md",
        "2026-12-01_first.md",
        "2026-12-01-First.md",
        "2026-12-01.md",
        "01-first.md",
    ],
)
def test_it_reports_an_issue_file_name_that_is_not_a_real_date_and_slug(
    tmp_path: Path, name: str
) -> None:
    make_newsletter(tmp_path, {"2026-12-01-fine.md": issue(), name: issue()})

    assert places_in(tmp_path) == [
        (name, 1, "an issue's file name must look like 2026-12-01-slug.md, with a real date")
    ]


def test_it_reports_two_issues_with_the_same_name_on_the_later_file(tmp_path: Path) -> None:
    make_newsletter(tmp_path, {"2026-10-01-first.md": issue(), "2026-12-01-first.md": issue()})

    assert places_in(tmp_path) == [
        ("2026-12-01-first.md", 1, "the name first is also used by 2026-10-01-first.md")
    ]


def test_an_issue_cannot_say_when_it_is_due(tmp_path: Path) -> None:
    make_newsletter(tmp_path, {"2026-12-01-first.md": issue(extra="due: day 3\n")})

    assert places_in(tmp_path) == [
        (
            "2026-12-01-first.md",
            4,
            "unknown key `due` (known: subject, preheader, content_note, button, send_at_utc)",
        )
    ]


def test_a_newsletter_has_no_cadence(tmp_path: Path) -> None:
    yml = NEWSLETTER_YML + "cadence:\n  every_days: 14\n"
    make_newsletter(tmp_path, {"2026-12-01-first.md": issue()}, yml)

    assert places_in(tmp_path) == [
        (
            "newsletter.yml",
            5,
            "unknown key `cadence` (known: title, description, from_name, from_email, reply_to, "
            "postal_address, lang, list, theme, offer_on_signup, send_at)",
        )
    ]


def test_it_reports_a_bad_newsletter_send_time_on_its_line(tmp_path: Path) -> None:
    make_newsletter(tmp_path, {"2026-12-01-first.md": issue()}, NEWSLETTER_YML + "send_at: 8am\n")

    assert places_in(tmp_path) == [
        (
            "newsletter.yml",
            5,
            '`send_at`: "8am" is not a time of day: write it as HH:MM, like "08:00"',
        )
    ]


def test_it_reports_a_bad_theme_of_a_newsletter(tmp_path: Path) -> None:
    yml = NEWSLETTER_YML + 'theme:\n  logo: "http://example.org/logo.png"\n'
    make_newsletter(tmp_path, {"2026-12-01-first.md": issue()}, yml)

    assert places_in(tmp_path) == [
        ("newsletter.yml", 6, "`theme.logo`: String should match pattern '^https://\\S+$'")
    ]


def test_it_reports_an_issue_without_text(tmp_path: Path) -> None:
    make_newsletter(tmp_path, {"2026-12-01-first.md": "---\nsubject: Hello\n---\n\n"})

    assert places_in(tmp_path) == [("2026-12-01-first.md", 4, "the letter has no text")]


def test_a_newsletter_folder_name_must_be_a_slug(tmp_path: Path) -> None:
    folder = make_newsletter(tmp_path, {"2026-12-01-first.md": issue()}, slug="Our_News")

    with pytest.raises(CourseError) as caught:
        load_catalog(tmp_path)

    assert caught.value.problems == [
        Problem(folder, 1, "a course or newsletter folder's name must be a-z, 0-9 and dashes")
    ]


def test_issue_subjects_and_preheaders_give_warnings_like_lessons(tmp_path: Path) -> None:
    folder = make_newsletter(
        tmp_path, {"2026-12-01-first.md": issue(subject="y" * 80, preheader="")}
    )

    catalog = load_catalog(tmp_path)

    path = folder / "issues" / "2026-12-01-first.md"
    assert catalog.warnings == (
        Problem(path, 2, "the subject has 80 characters; inboxes cut it after about 78", "warning"),
        Problem(
            path,
            1,
            "no `preheader`: inboxes will show the first words of the letter instead",
            "warning",
        ),
    )
    assert list(catalog.newsletters) == ["news"]

"""`tend lint`: each rule on a small broken course, each problem at its file and line."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from web.cli import cli

ROOT = Path(__file__).resolve().parents[2]
COURSE_YML = """\
title: Small Steps
from_name: Small Steps
from_email: letters@example.org
postal_address: 1 Example Lane, Springfield
cadence:
  every_days: 7
"""


def lesson(body: str = "Hello.\n", subject: str = "Hello", extra: str = "") -> str:
    return f'---\nsubject: "{subject}"\npreheader: "A short hello"\n{extra}---\n\n{body}'


def make_course(root: Path, lessons: dict[str, str], course_yml: str = COURSE_YML) -> Path:
    folder = root / "small-steps"
    folder.mkdir(parents=True)
    (folder / "course.yml").write_text(course_yml)
    for name, text in lessons.items():
        (folder / name).write_text(text)
    return folder


def lint(path: Path) -> tuple[int, list[str]]:
    result = CliRunner().invoke(cli, ["lint", str(path)])
    lines = [line for line in result.stdout.splitlines() if line.startswith(str(path))]
    return result.exit_code, [line.removeprefix(f"{path}/") for line in lines]


def test_the_shipped_course_and_newsletter_pass_with_no_warning() -> None:
    result = CliRunner().invoke(cli, ["lint", str(ROOT / "courses")])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "1 courses, 1 newsletters, 8 letters: 0 errors, 0 warnings" in result.stderr


def test_a_clean_course_passes(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-hello.md": lesson(), "02-again.md": lesson()})
    assert lint(tmp_path) == (0, [])


def test_broken_front_matter_is_reported_at_its_line(tmp_path: Path) -> None:
    make_course(tmp_path, {"01-hello.md": '---\nsubject: "Hi\npreheader: x\n---\n\nBody\n'})
    code, lines = lint(tmp_path)
    assert code == 1
    assert lines == ["small-steps/01-hello.md:2: error: this is not valid YAML: "
                     "found unexpected end of stream while scanning a quoted scalar"]  # fmt: skip


def test_unknown_and_missing_fields_are_errors(tmp_path: Path) -> None:
    make_course(
        tmp_path,
        {"01-hello.md": '---\nsubjet: "Hi"\npreheader: "x"\n---\n\nBody\n'},
    )
    _, lines = lint(tmp_path)
    assert lines == [
        "small-steps/01-hello.md:2: error: `subject` is required",
        "small-steps/01-hello.md:2: error: unknown key `subjet` (did you mean `subject`?)",
    ]


def test_duplicate_and_missing_lesson_numbers_are_errors(tmp_path: Path) -> None:
    make_course(
        tmp_path,
        {"01-a.md": lesson(), "01-b.md": lesson(), "03-c.md": lesson()},
    )
    code, lines = lint(tmp_path)
    assert code == 1
    assert lines == [
        "small-steps/01-b.md:1: error: the lesson number 01 is also used by 01-a.md",
        "small-steps/03-c.md:1: error: lesson 02 is missing before this one",
    ]


def test_a_cadence_that_cannot_be_kept_is_an_error_on_its_line(tmp_path: Path) -> None:
    weekend_only = COURSE_YML.replace(
        "  every_days: 7\n", "  weekdays: [saturday, sunday]\n  skip_weekends: true\n"
    )
    make_course(tmp_path, {"01-a.md": lesson(), "02-b.md": lesson()}, weekend_only)
    code, lines = lint(tmp_path)
    assert code == 1
    assert len(lines) == 1
    assert lines[0].startswith("small-steps/course.yml:5: error: this cadence cannot be kept")


def test_an_undefined_template_variable_is_reported_at_its_line(tmp_path: Path) -> None:
    body = "Hello {{ reader.first_name | default('friend') }},\n\nSee {{ lesson.nmber }}.\n"
    make_course(tmp_path, {"01-a.md": lesson(body)})
    _, lines = lint(tmp_path)
    # The front matter takes lines 1-4, a blank line follows, the body starts on line 6.
    assert len(lines) == 1
    assert lines[0].startswith("small-steps/01-a.md:8: error: undefined template variable")
    assert "nmber" in lines[0]


def test_a_long_subject_and_a_missing_preheader_are_warnings(tmp_path: Path) -> None:
    long = "A subject that goes on and on, well past what any inbox will show of it, surely"
    make_course(
        tmp_path,
        {"01-a.md": lesson(subject=long), "02-b.md": '---\nsubject: "Fine"\n---\n\nBody\n'},
    )
    code, lines = lint(tmp_path)
    assert code == 0
    assert lines == [
        f"small-steps/01-a.md:2: warning: the subject has {len(long)} characters; "
        "inboxes cut it after about 78",
        "small-steps/02-b.md:1: warning: no `preheader`: inboxes will show the first words "
        "of the letter instead",
    ]


def test_images_need_alt_text_and_https(tmp_path: Path) -> None:
    body = "Intro.\n\n![](https://example.org/a.png)\n\n![A calm lake](lake.png)\n"
    make_course(tmp_path, {"01-a.md": lesson(body)})
    _, lines = lint(tmp_path)
    assert lines == [
        "small-steps/01-a.md:8: error: an image without alt text: say what it shows, "
        "in the [brackets]",
        "small-steps/01-a.md:10: error: image lake.png must be an https:// address: "
        "mail has no files",
    ]


def test_links_must_be_https_or_lead_to_another_letter(tmp_path: Path) -> None:
    body = (
        "See [the site](http://example.org).\n\n"
        "Or [last time](01-a.md) and [nothing](03-missing.md).\n"
    )
    make_course(tmp_path, {"01-a.md": lesson(), "02-b.md": lesson(body)})
    _, lines = lint(tmp_path)
    assert lines == [
        "small-steps/02-b.md:6: error: link http://example.org is not https",
        "small-steps/02-b.md:8: error: link 03-missing.md leads nowhere: a relative link "
        "must name a lesson or issue file",
    ]


def test_a_letter_over_gmails_clipping_size_is_an_error(tmp_path: Path) -> None:
    body = "\n\n".join(["A paragraph that repeats to make the letter long. " * 4] * 600)
    make_course(tmp_path, {"01-a.md": lesson(body)})
    _, lines = lint(tmp_path)
    assert len(lines) == 1
    assert lines[0].startswith("small-steps/01-a.md:1: error: the HTML is ")
    assert lines[0].endswith("KB; Gmail clips letters over 102 KB")


def test_a_layout_that_mjml_rejects_is_an_error(tmp_path: Path) -> None:
    folder = make_course(
        tmp_path,
        {"01-a.md": lesson()},
        COURSE_YML + "theme:\n  layout: broken.mjml\n",
    )
    (folder / "broken.mjml").write_text("<mjml><mj-body><mj-section></mj-body></mjml>")
    _, lines = lint(tmp_path)
    assert len(lines) == 1
    assert lines[0].startswith("small-steps/broken.mjml:1: error: MJML rejected the letter")


def test_a_layout_without_an_unsubscribe_link_is_an_error(tmp_path: Path) -> None:
    folder = make_course(
        tmp_path,
        {"01-a.md": lesson()},
        COURSE_YML + "theme:\n  layout: plain.mjml\n",
    )
    (folder / "plain.mjml").write_text(
        "<mjml><mj-body><mj-section><mj-column><mj-text>{{ body_html | safe }}"
        "</mj-text></mj-column></mj-section></mj-body></mjml>"
    )
    _, lines = lint(tmp_path)
    assert lines == ["small-steps/plain.mjml:1: error: the footer has no unsubscribe link"]


def test_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["lint", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert result.stdout == f"{tmp_path / 'nowhere'}:1: error: the courses folder does not exist\n"

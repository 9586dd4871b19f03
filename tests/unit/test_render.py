"""emails/render.py, emails/markdown.py and emails/plaintext.py: a letter as HTML and text,
rendered once, with each reader's values filled in afterwards."""

from __future__ import annotations

import functools
import html
import re
from collections import OrderedDict
from datetime import date
from pathlib import Path

import pytest

import courses
from courses.loader import load_catalog
from courses.model import Button, Course, Letter, Newsletter, Theme
from emails import render
from emails.markdown import to_html, to_text
from emails.render import (
    PREFERENCES_URL,
    UNSUBSCRIBE_URL,
    LetterError,
    Rendered,
    long_date,
    read_url,
    render_confirmation,
    render_issue,
    render_lesson,
    render_letter,
    site,
)

SHIPPED = Path(courses.__file__).resolve().parent
BASE = "https://tend.example.org"
UNSUBSCRIBE_TAG = f"%%{UNSUBSCRIBE_URL}%%"
PREFERENCES_TAG = f"%%{PREFERENCES_URL}%%"
READER_LINK = "https://tend.example.org/leave?t=abc.def&step=1"
PREFERENCES_LINK = "https://tend.example.org/p/abc.def"
CONFIRM_LINK = "https://tend.example.org/confirm?t=xyz.123&course=softening-sessions"
HOSTILE_NAME = '<script>alert(1)</script> & "Bob"'

COURSE_YML = """\
title: Demo Course
from_name: Demo Letters
from_email: letters@example.org
postal_address: 1 Example Lane, Springfield
cadence:
  every_days: 7
"""
NEWSLETTER_YML = COURSE_YML.replace("cadence:\n  every_days: 7\n", "")


@pytest.fixture(autouse=True)
def no_renders_from_other_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Renders are cached on content, and tests build courses with the same content."""
    monkeypatch.setattr(render, "_cache", OrderedDict())


@functools.cache
def demo() -> Course:
    return load_catalog(SHIPPED)["softening-sessions"]


@functools.cache
def demo_news() -> Newsletter:
    return load_catalog(SHIPPED).newsletters["remember-and-reclaim"]


@functools.cache
def lesson_letter(position: int) -> Rendered:
    course = demo()
    return render_lesson(course, course.lessons[position], BASE)


@functools.cache
def weather_issue() -> Rendered:
    news = demo_news()
    return render_issue(news, news.issues[0], BASE)


def title_of(page: str) -> str:
    [title] = re.findall(r"<title>(.*?)</title>", page, re.S)
    return title


def reader(**values: str | None) -> dict[str, str | None]:
    return {UNSUBSCRIBE_URL: READER_LINK, PREFERENCES_URL: PREFERENCES_LINK, **values}


def lesson_text(subject: str = "Hello", body: str = "Some text.\n", extra: str = "") -> str:
    """A lesson or issue file with a preheader (and no warning)."""
    return f"---\nsubject: {subject}\npreheader: Soon.\n{extra}---\n{body}"


def make_course(
    root: Path, lessons: dict[str, str], course_yml: str = COURSE_YML, slug: str = "demo"
) -> Course:
    folder = root / slug
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "course.yml").write_text(course_yml, encoding="utf-8")
    for name, text in lessons.items():
        (folder / name).write_text(text, encoding="utf-8")
    return load_catalog(root)[slug]


def make_news(root: Path, issues: dict[str, str], slug: str = "news") -> Newsletter:
    folder = root / slug
    (folder / "issues").mkdir(parents=True)
    (folder / "newsletter.yml").write_text(NEWSLETTER_YML, encoding="utf-8")
    for name, text in issues.items():
        (folder / "issues" / name).write_text(text, encoding="utf-8")
    return load_catalog(root).newsletters[slug]


# render_lesson


def test_a_lesson_renders_as_html_in_the_course_language_with_its_subject_as_title() -> None:
    letter = lesson_letter(1)

    assert letter.subject == "The step everyone skips"
    assert letter.html.startswith("<!doctype html>")
    assert '<html lang="en"' in letter.html
    assert title_of(letter.html) == "The step everyone skips"


def test_a_lesson_carries_its_preheader_in_the_html_only() -> None:
    letter = lesson_letter(1)

    assert "Before you fix the feeling, try naming it. It changes more than you&#39;d think." in (
        letter.html
    )
    assert "Before you fix the feeling" not in letter.text


def test_a_lesson_shows_where_it_falls_in_the_course_in_the_courses_words() -> None:
    letter = lesson_letter(1)

    assert letter.text.startswith("Softening Sessions · Session 2 of 5\n\n")
    assert "Softening Sessions · Session 2 of 5" in letter.html
    assert lesson_letter(4).text.startswith("Softening Sessions · Session 5 of 5\n\n")
    assert "Letter " not in letter.text


def test_a_lesson_says_why_the_reader_gets_it_and_where_the_sender_is() -> None:
    letter = lesson_letter(1)

    footer = letter.text.split("\n-- \n", 1)[1]
    assert footer == (
        "You get this because you signed up for Softening Sessions at tend.example.org.\n"
        "Tend Demo Practice, 1 Example Lane, Springfield, USA\n"
        f"Your preferences: {PREFERENCES_TAG}\n"
        f"Unsubscribe: {UNSUBSCRIBE_TAG}\n"
    )
    assert "You get this because you signed up for Softening Sessions at tend.example.org." in (
        letter.html
    )
    assert "Tend Demo Practice, 1 Example Lane, Springfield, USA" in letter.html


def test_a_lesson_holds_one_unsubscribe_and_one_preferences_tag_in_each_part() -> None:
    letter = lesson_letter(1)

    assert letter.html.count(UNSUBSCRIBE_TAG) == 1
    assert letter.text.count(UNSUBSCRIBE_TAG) == 1
    assert letter.html.count(PREFERENCES_TAG) == 1
    assert letter.text.count(PREFERENCES_TAG) == 1
    assert (
        f'<a href="{PREFERENCES_TAG}">Your preferences</a> · '
        f'<a href="{UNSUBSCRIBE_TAG}">Unsubscribe</a>'
    ) in letter.html


def test_for_reader_puts_the_reader_links_in_escaped_in_html_and_raw_in_text() -> None:
    body_html, body_text = lesson_letter(1).for_reader(reader())

    assert (
        '<a href="https://tend.example.org/leave?t=abc.def&amp;step=1">Unsubscribe</a>' in body_html
    )
    assert f'<a href="{PREFERENCES_LINK}">Your preferences</a>' in body_html
    assert READER_LINK not in body_html
    assert body_text.endswith(f"Your preferences: {PREFERENCES_LINK}\nUnsubscribe: {READER_LINK}\n")
    assert "&amp;" not in body_text
    assert "%%" not in body_html
    assert "%%" not in body_text


def test_for_reader_cannot_break_out_of_the_link_attribute() -> None:
    body_html, _ = lesson_letter(1).for_reader(
        reader(**{UNSUBSCRIBE_URL: 'x"><script>alert(1)</script>'})
    )

    assert "<script>" not in body_html
    assert 'href="x&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in body_html


def test_for_reader_leaves_the_shared_letter_untouched() -> None:
    letter = lesson_letter(1)
    before = letter.content_hash

    letter.for_reader(reader(first_name="Ann"))

    assert letter.content_hash == before
    assert UNSUBSCRIBE_TAG in letter.html


def test_for_reader_without_links_leaves_them_empty() -> None:
    _, body_text = lesson_letter(1).for_reader({})

    assert body_text.endswith("Your preferences: \nUnsubscribe: \n")


def test_a_lesson_never_loads_a_web_font() -> None:
    letter = lesson_letter(1)

    assert "fonts.googleapis" not in letter.html
    assert "@import" not in letter.html
    assert "<link" not in letter.html


def test_the_text_part_has_the_lesson_without_markdown_markers() -> None:
    text = lesson_letter(3).text

    assert "Just recognize it: Ah, there's that voice again. Often it's trying" in text
    assert "Notice the harsh voice\n----------------------\n" in text
    assert "*" not in text
    assert "##" not in text


def test_the_text_part_keeps_numbered_lists_and_quotes() -> None:
    text = lesson_letter(4).text

    assert (
        "1. Acknowledge that this is hard. Pausing to name the pain instead of rushing to fix it.\n"
        '2. Remember you are not alone. Letting "only me" widen into "we".\n3. '
    ) in text
    assert "\n> This is hard. Others feel this too. May I be kind to myself.\n" in text


def test_the_html_part_has_the_lesson_as_markup() -> None:
    page = lesson_letter(4).html

    assert "<strong>Acknowledge that this is hard.</strong>" in page
    assert "<h2>There is no escaping it</h2>" in page
    assert "**" not in page


def test_the_content_hash_is_stable_for_the_same_lesson_and_differs_for_another() -> None:
    course = demo()
    first = render_lesson(course, course.lessons[1], BASE)
    again = render_lesson(course, course.lessons[1], BASE)
    other = render_lesson(course, course.lessons[2], BASE)
    elsewhere = render_lesson(course, course.lessons[1], "https://other.example.org")

    assert re.fullmatch(r"[0-9a-f]{64}", first.content_hash)
    assert first.content_hash == again.content_hash
    assert other.content_hash != first.content_hash
    assert elsewhere.content_hash != first.content_hash


def test_the_text_part_ends_with_a_single_newline() -> None:
    text = lesson_letter(0).text

    assert text.endswith("\n")
    assert not text.endswith("\n\n")


# What a lesson's template can say


def test_a_lesson_template_knows_its_number_its_course_and_the_lesson_before(
    tmp_path: Path,
) -> None:
    body = (
        "\nLetter {{ lesson.number }} of {{ course.lessons }} of {{ course.title }}.\n\n"
        "{% if previous_lesson %}Last time: [{{ previous_lesson.subject }}]"
        "({{ previous_lesson.url }}).{% else %}This is the first.{% endif %}\n"
    )
    course = make_course(
        tmp_path,
        {"01-first.md": lesson_text("Start", body), "02-second.md": lesson_text("Next", body)},
    )

    first = render_lesson(course, course.lessons[0], BASE)
    second = render_lesson(course, course.lessons[1], BASE)

    assert "Letter 1 of 2 of Demo Course.\n\nThis is the first.\n" in first.text
    assert (
        "Letter 2 of 2 of Demo Course.\n\n"
        "Last time: Start (https://tend.example.org/read/demo/first).\n"
    ) in second.text
    assert '<a href="https://tend.example.org/read/demo/first">Start</a>' in second.html


def test_a_relative_link_to_another_lesson_or_issue_file_becomes_its_page(
    tmp_path: Path,
) -> None:
    make_news(tmp_path, {"2026-12-01-weather.md": lesson_text()})
    body = (
        "\nSee [the start](01-start.md#top), [the news](../news/issues/2026-12-01-weather.md), "
        "[nothing](03-nothing.md) and [mail](mailto:me@example.org).\n"
    )
    course = make_course(
        tmp_path, {"01-start.md": lesson_text(), "02-links.md": lesson_text(body=body)}
    )

    letter = render_lesson(course, course.lessons[1], BASE)

    assert (
        "See the start (https://tend.example.org/read/demo/start), "
        "the news (https://tend.example.org/read/news/weather), "
        "nothing (03-nothing.md) and mail (mailto:me@example.org).\n"
    ) in letter.text
    assert '<a href="https://tend.example.org/read/demo/start">the start</a>' in letter.html


# Reader values: escaped in HTML, raw in text, never Markdown


def test_an_issue_greets_the_reader_by_name_in_both_parts() -> None:
    body_html, body_text = weather_issue().for_reader(reader(first_name="Ann"))

    assert "<p>Dear Ann,</p>" in body_html
    assert "\nDear Ann,\n" in body_text


def test_a_hostile_first_name_is_escaped_in_html_and_raw_in_text() -> None:
    body_html, body_text = weather_issue().for_reader(reader(first_name=HOSTILE_NAME))

    assert "<p>Dear &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Bob&quot;,</p>" in body_html
    assert "<script>" not in body_html
    assert "alert(1)</script>" not in body_html
    assert '\nDear <script>alert(1)</script> & "Bob",\n' in body_text


@pytest.mark.parametrize(
    "name",
    ["*Bob*", "**Bob**", "_Bob_", "[Bob](https://evil.example.org)", "`Bob`", "# Bob", "Bob\\"],
)
def test_a_first_name_is_never_read_as_markdown(name: str) -> None:
    letter = weather_issue()
    plain_html, plain_text = letter.for_reader(reader(first_name="Qzx"))

    body_html, body_text = letter.for_reader(reader(first_name=name))

    assert body_text == plain_text.replace("Qzx", name)
    assert body_html == plain_html.replace("Qzx", html.escape(name))
    assert f"\nDear {name},\n" in body_text


def test_a_first_name_in_asterisks_keeps_its_asterisks() -> None:
    body_html, body_text = weather_issue().for_reader(reader(first_name="*Bob*"))

    assert "\nDear *Bob*,\n" in body_text
    assert "<p>Dear *Bob*,</p>" in body_html
    assert "<em>Bob</em>" not in body_html


@pytest.mark.parametrize(
    "values",
    [reader(first_name=None), reader(first_name=""), reader()],
    ids=["none", "empty", "missing"],
)
def test_the_templates_default_stands_in_for_a_missing_name(
    values: dict[str, str | None],
) -> None:
    body_html, body_text = weather_issue().for_reader(values)

    assert "<p>Dear friend,</p>" in body_html
    assert "\nDear friend,\n" in body_text


def test_a_name_without_a_default_in_the_template_is_left_out_when_missing(
    tmp_path: Path,
) -> None:
    course = make_course(tmp_path, {"01-a.md": lesson_text(body="\nHi {{ reader.first_name }}!\n")})
    letter = render_lesson(course, course.lessons[0], BASE)

    _, body_text = letter.for_reader(reader(first_name=None))

    assert "\nHi !\n" in body_text


def test_a_name_that_looks_like_a_tag_is_not_filled_in_again() -> None:
    body_html, body_text = weather_issue().for_reader(reader(first_name=UNSUBSCRIBE_TAG))

    assert f"\nDear {UNSUBSCRIBE_TAG},\n" in body_text
    assert f"<p>Dear {UNSUBSCRIBE_TAG},</p>" in body_html
    assert body_text.endswith(f"Unsubscribe: {READER_LINK}\n")


def test_a_reader_value_in_a_link_address_is_filled_in(tmp_path: Path) -> None:
    body = "\n[Write to me](mailto:me@example.org?subject={{ reader.first_name }})\n"
    course = make_course(tmp_path, {"01-a.md": lesson_text(body=body)})
    letter = render_lesson(course, course.lessons[0], BASE)

    _, body_text = letter.for_reader(reader(first_name="Bob"))

    assert "Write to me (mailto:me@example.org?subject=Bob)" in body_text


# Template mistakes name the line of the file


BAD_LINES = [
    pytest.param(
        "{{ nme }}", "undefined template variable: 'nme' is undefined", id="undefined-variable"
    ),
    pytest.param(
        "Dear {{ reader.last_name }},",
        "undefined template variable: reader.last_name is not a reader variable "
        "(there is reader.first_name)",
        id="unknown-reader-field",
    ),
    pytest.param(
        "{% if reader.first_name %}Dear {{ reader.first_name }},{% endif %}",
        "template error: reader.first_name is filled in for each reader after rendering: print "
        'it with `| default("...")` instead of testing or comparing it',
        id="if-reader-first-name",
    ),
]


@pytest.mark.parametrize(("bad_line", "message"), BAD_LINES)
def test_a_template_mistake_in_a_lesson_is_reported_on_its_line_in_the_file(
    tmp_path: Path, bad_line: str, message: str
) -> None:
    text = (
        "---\nsubject: Hello\npreheader: Soon.\ncontent_note: none\n---\n"
        f"\nFirst line.\n{bad_line}\nLast line.\n"
    )
    course = make_course(tmp_path, {"01-a.md": text})
    [first] = course.lessons
    assert first.body_line == 6
    assert text.splitlines()[7] == bad_line  # the 3rd line of the body is line 8 of the file

    with pytest.raises(LetterError) as caught:
        render_lesson(course, first, BASE)

    assert (caught.value.path, caught.value.line, caught.value.message) == (first.path, 8, message)
    assert str(caught.value) == f"{first.path}:8: {message}"


@pytest.mark.parametrize(("bad_line", "message"), BAD_LINES)
def test_a_template_mistake_in_an_issue_is_reported_on_its_line_in_the_file(
    tmp_path: Path, bad_line: str, message: str
) -> None:
    text = f"---\nsubject: Hello\npreheader: Soon.\n---\nDear all,\n\n{bad_line}\n"
    news = make_news(tmp_path, {"2026-12-01-first.md": text})
    [first] = news.issues
    assert text.splitlines()[6] == bad_line

    with pytest.raises(LetterError) as caught:
        render_issue(news, first, BASE)

    assert (caught.value.path, caught.value.line, caught.value.message) == (first.path, 7, message)


def test_a_layout_that_mjml_rejects_is_a_letter_error_on_the_layout(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "broken.mjml").write_text(
        "<mjml><mj-body><mj-section>{{ body_html | safe }}</mj-body>", encoding="utf-8"
    )
    course = make_course(
        tmp_path, {"01-a.md": lesson_text()}, COURSE_YML + "theme:\n  layout: broken.mjml\n"
    )

    with pytest.raises(LetterError) as caught:
        render_lesson(course, course.lessons[0], BASE)

    # MJML read the layout, so that is where to look.
    assert (caught.value.path, caught.value.line) == (course.theme.layout, 1)
    assert caught.value.message.startswith("MJML rejected the letter: ")


# The theme


def test_a_theme_colours_the_letter_and_adds_logo_footer_and_progress(tmp_path: Path) -> None:
    yml = COURSE_YML + (
        "theme:\n"
        '  accent: "#112233"\n'
        '  background: "#aabbcc"\n'
        '  paper: "#ddeeff"\n'
        '  text: "#445566"\n'
        "  logo: https://example.org/logo.png\n"
        "  footer: Written with care & tea.\n"
        '  progress: "Part {number}/{total}"\n'
    )
    course = make_course(tmp_path, {"01-a.md": lesson_text(body="\nHello.\n")}, yml)

    letter = render_lesson(course, course.lessons[0], BASE)

    page = letter.html
    assert "a { color: #112233; }" in page
    assert 'style="word-spacing:normal;background-color:#aabbcc;"' in page
    assert "background:#ddeeff;background-color:#ddeeff;" in page
    assert 'color:#445566;"><p>Hello.</p>' in page
    assert not {"#5b6f5a", "#f6f2ec", "#fffdf9", "#2d2a26"} & set(re.findall(r"#[0-9a-f]{6}", page))
    assert '<img alt="Demo Course" height="auto" src="https://example.org/logo.png"' in page
    assert "<p>Written with care &amp; tea.</p>" in page
    assert "Demo Course · Part 1/1" in page
    assert letter.text.startswith("Demo Course · Part 1/1\n\nHello.\n")
    assert "\n-- \nWritten with care & tea.\nYou get this because" in letter.text


def test_a_letter_without_a_logo_has_no_image() -> None:
    assert "<img" not in lesson_letter(1).html


def test_a_content_note_and_a_button_appear_in_both_parts(tmp_path: Path) -> None:
    extra = (
        "content_note: this one talks about loss\n"
        "button:\n  label: Try it\n  url: https://example.org/try?a=1&b=2\n"
    )
    course = make_course(tmp_path, {"01-a.md": lesson_text(body="\nHello.\n", extra=extra)})

    letter = render_lesson(course, course.lessons[0], BASE)

    assert (
        "Demo Course · Letter 1 of 1\n\n"
        "A gentle note before you read: this one talks about loss\n\n"
        "Hello.\n\n"
        "Try it:\nhttps://example.org/try?a=1&b=2\n\n-- \n"
    ) in letter.text
    assert "<p><em>A gentle note before you read: this one talks about loss</em></p>" in (
        letter.html
    )
    assert 'href="https://example.org/try?a=1&amp;b=2"' in letter.html
    assert ">Try it</a>" in letter.html


def test_a_course_may_bring_its_own_layout(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "mine.mjml").write_text(
        "<mjml><mj-body><mj-section><mj-column><mj-text>"
        "<p>MINE {{ progress }}</p>{{ body_html | safe }}"
        '<a href="{{ unsubscribe_url }}">Leave</a>'
        "</mj-text></mj-column></mj-section></mj-body></mjml>",
        encoding="utf-8",
    )
    (folder / "course.yml").write_text(COURSE_YML + "theme:\n  layout: mine.mjml\n")
    (folder / "01-a.md").write_text(lesson_text(body="\nHello & welcome.\n"), encoding="utf-8")
    course = load_catalog(tmp_path)["demo"]

    letter = render_lesson(course, course.lessons[0], BASE)

    assert "<p>MINE Letter 1 of 1</p><p>Hello &amp; welcome.</p>" in letter.html
    assert f'<a href="{UNSUBSCRIBE_TAG}">Leave</a>' in letter.html
    assert "You get this because" not in letter.html


# Issues


def test_an_issue_renders_with_its_date_where_a_lesson_has_its_progress() -> None:
    letter = weather_issue()

    assert letter.subject == "Naming the weather"
    assert title_of(letter.html) == "Naming the weather"
    assert letter.text.startswith("Remember and Reclaim · 1 December 2026\n\nDear %%")
    assert "Remember and Reclaim · 1 December 2026" in letter.html
    assert "You get this because you signed up for Remember and Reclaim at tend.example.org." in (
        letter.text
    )
    assert letter.text.endswith(f"Unsubscribe: {UNSUBSCRIBE_TAG}\n")


def test_an_issue_template_knows_its_date_subject_and_newsletter(tmp_path: Path) -> None:
    body = "\n{{ newsletter.title }}: {{ issue.subject }} of {{ issue.date }}.\n"
    news = make_news(tmp_path, {"2026-12-01-first.md": lesson_text("Snow", body)})

    letter = render_issue(news, news.issues[0], BASE)

    assert "\nDemo Course: Snow of 2026-12-01.\n" in letter.text


# The render cache


def test_a_letter_is_rendered_once_and_then_served_from_the_cache(tmp_path: Path) -> None:
    course = make_course(tmp_path, {"01-a.md": lesson_text()})

    first = render_lesson(course, course.lessons[0], BASE)

    assert render_lesson(course, course.lessons[0], BASE) is first
    assert render_lesson(course, course.lessons[0], "https://other.example.org") is not first


def test_a_changed_lesson_file_is_rendered_again(tmp_path: Path) -> None:
    course = make_course(tmp_path, {"01-a.md": lesson_text(body="\nBefore.\n")})
    before = render_lesson(course, course.lessons[0], BASE)
    (tmp_path / "demo" / "01-a.md").write_text(lesson_text(body="\nAfter.\n"), encoding="utf-8")
    course = load_catalog(tmp_path)["demo"]

    after = render_lesson(course, course.lessons[0], BASE)

    assert "\nBefore.\n" in before.text
    assert "\nAfter.\n" in after.text


def test_a_lesson_is_rendered_again_when_the_course_gains_a_lesson(tmp_path: Path) -> None:
    course = make_course(tmp_path, {"01-a.md": lesson_text()})
    render_lesson(course, course.lessons[0], BASE)
    (tmp_path / "demo" / "02-b.md").write_text(lesson_text(), encoding="utf-8")
    course = load_catalog(tmp_path)["demo"]

    letter = render_lesson(course, course.lessons[0], BASE)

    assert letter.text.startswith("Demo Course · Letter 1 of 2\n")


def test_a_lesson_is_rendered_again_when_its_layout_file_changes(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    folder.mkdir()
    layout = "<mjml><mj-body><mj-section><mj-column><mj-text>{}{{{{ body_html | safe }}}}"
    layout += "</mj-text></mj-column></mj-section></mj-body></mjml>"
    (folder / "mine.mjml").write_text(layout.format("<p>OLD</p>"), encoding="utf-8")
    (folder / "course.yml").write_text(COURSE_YML + "theme:\n  layout: mine.mjml\n")
    (folder / "01-a.md").write_text(lesson_text(), encoding="utf-8")
    course = load_catalog(tmp_path)["demo"]
    render_lesson(course, course.lessons[0], BASE)
    (folder / "mine.mjml").write_text(layout.format("<p>NEW</p>"), encoding="utf-8")
    course = load_catalog(tmp_path)["demo"]  # as /author/ does on every page

    letter = render_lesson(course, course.lessons[0], BASE)

    assert "<p>NEW</p>" in letter.html


# Small helpers


def test_a_letter_is_read_on_the_web_under_its_publication_and_slug() -> None:
    course = demo()

    assert read_url(BASE, course, course.lessons[1]) == (
        "https://tend.example.org/read/softening-sessions/acknowledge"
    )


@pytest.mark.parametrize(
    ("base_url", "name"),
    [
        ("https://tend.example.org", "tend.example.org"),
        ("http://127.0.0.1:5000/", "127.0.0.1"),
        ("https://Tend.Example.org/sub", "tend.example.org"),
        ("tend.example.org", "tend.example.org"),
    ],
)
def test_the_site_is_the_host_name_of_the_base_url(base_url: str, name: str) -> None:
    assert site(base_url) == name


@pytest.mark.parametrize(
    ("day", "text"),
    [(date(2026, 12, 1), "1 December 2026"), (date(2028, 2, 29), "29 February 2028")],
)
def test_an_issue_date_is_written_out_in_full(day: date, text: str) -> None:
    assert long_date(day) == text


# render_confirmation


def test_a_confirmation_has_the_confirm_link_in_both_parts() -> None:
    letter = render_confirmation(demo(), BASE, CONFIRM_LINK)

    assert letter.subject == "Please confirm: Softening Sessions"
    assert title_of(letter.html) == "Please confirm: Softening Sessions"
    assert f"Yes, sign me up:\n{CONFIRM_LINK}\n" in letter.text
    escaped = CONFIRM_LINK.replace("&", "&amp;")
    assert f'href="{escaped}"' in letter.html
    assert "Yes, sign me up" in letter.html


def test_a_confirmation_has_no_unsubscribe_or_preferences_link_and_no_progress() -> None:
    letter = render_confirmation(demo(), BASE, CONFIRM_LINK)

    for tag in (UNSUBSCRIBE_TAG, PREFERENCES_TAG, "%%"):
        assert tag not in letter.html
        assert tag not in letter.text
    assert "Unsubscribe" not in letter.text
    assert "Your preferences" not in letter.text
    assert "Session " not in letter.text
    assert letter.fields == {}
    assert letter.text.startswith("Softening Sessions\n\nThank you for signing up for ")


def test_a_confirmation_explains_who_asked_for_it() -> None:
    letter = render_confirmation(demo(), BASE, CONFIRM_LINK)

    assert "Thank you for signing up for Softening Sessions." in letter.text
    assert letter.text.endswith(
        "-- \nSomeone, hopefully you, asked for Softening Sessions at tend.example.org.\n"
    )
    assert "One click and your first letter is on its way." in letter.html
    assert "fonts.googleapis" not in letter.html


# render_letter escaping


def test_render_letter_escapes_what_it_puts_in_html_and_keeps_text_raw(tmp_path: Path) -> None:
    publication = Course(
        slug="m-and-m",
        title="M & M",
        description="",
        from_name="M",
        from_email="m@example.org",
        reply_to=None,
        postal_address="",
        lang="fr",
        list="m-and-m",
        theme=Theme(),
        path=tmp_path,
        source_hash="course",
    )
    letter = Letter(
        slug="tips",
        subject='Tips & "tricks" <b>',
        preheader="Fish & chips",
        body="Hello *there* & you <i>",
        path=tmp_path / "01-tips.md",
        body_line=5,
        source_hash="letter",
        content_note="loss & <grief>",
        button=Button("Go & see", "https://x.example.org/?a=1&b=2"),
    )

    rendered = render_letter(publication, letter, BASE, {}, "Part 1 & 2")

    page = rendered.html
    assert title_of(page) == "Tips &amp; &#34;tricks&#34; &lt;b&gt;"
    assert '<html lang="fr"' in page
    assert "Fish &amp; chips" in page
    assert "M &amp; M · Part 1 &amp; 2" in page
    assert "<p><em>A gentle note before you read: loss &amp; &lt;grief&gt;</em></p>" in page
    assert "<p>Hello <em>there</em> &amp; you &lt;i&gt;</p>" in page
    assert 'href="https://x.example.org/?a=1&amp;b=2"' in page
    assert "<b>" not in page
    assert "<i>" not in page
    assert rendered.text == (
        "M & M · Part 1 & 2\n\n"
        "A gentle note before you read: loss & <grief>\n\n"
        "Hello there & you <i>\n\n"
        "Go & see:\nhttps://x.example.org/?a=1&b=2\n\n"
        "-- \nYou get this because you signed up for M & M at tend.example.org.\n"
        f"Your preferences: {PREFERENCES_TAG}\nUnsubscribe: {UNSUBSCRIBE_TAG}\n"
    )


# Markdown to HTML and text


def test_markdown_html_leaves_raw_html_as_text() -> None:
    assert to_html("A <b>bold</b> move") == "<p>A &lt;b&gt;bold&lt;/b&gt; move</p>\n"


def test_markdown_html_renders_tables() -> None:
    page = to_html("| a | b |\n|---|---|\n| 1 | 2 |\n")

    assert "<table>" in page
    assert "<td>1</td>" in page


@pytest.mark.parametrize(
    ("markdown", "text"),
    [
        pytest.param(
            "See [the guide](https://example.org/guide) now.",
            "See the guide (https://example.org/guide) now.\n",
            id="link",
        ),
        pytest.param(
            "Some *soft*, _quiet_ and **strong** and `code` words.",
            "Some soft, quiet and strong and code words.\n",
            id="emphasis",
        ),
        pytest.param("1. one\n2. two\n3. three\n", "1. one\n2. two\n3. three\n", id="ordered"),
        pytest.param("3. three\n4. four\n", "3. three\n4. four\n", id="ordered-from-three"),
        pytest.param("- a\n- b\n- c\n", "- a\n- b\n- c\n", id="tight-bullets"),
        pytest.param("* a\n* b\n", "- a\n- b\n", id="star-bullets"),
        pytest.param("- a\n\n- b\n\n- c\n", "- a\n\n- b\n\n- c\n", id="loose-bullets"),
        pytest.param(
            "Before:\n\n- a\n- b\n\nAfter.\n", "Before:\n\n- a\n- b\n\nAfter.\n", id="list-in-text"
        ),
        pytest.param(
            "- one\n  second line\n- two\n",
            "- one\n  second line\n- two\n",
            id="item-continues-under-its-marker",
        ),
        pytest.param(
            "> quoted line\n> more\n\nAfter.\n", "> quoted line\n> more\n\nAfter.\n", id="quote"
        ),
        pytest.param("> - a\n> - b\n", "> - a\n> - b\n", id="list-in-quote"),
        pytest.param(
            "# Title\n\n## Sub\n\ntext", "Title\n=====\n\nSub\n---\n\ntext\n", id="headings"
        ),
        pytest.param(
            "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n", "a | b\n1 | 2\n3 | 4\n", id="table"
        ),
        pytest.param(
            "Para one.\n\nPara two.\nsame para.\n",
            "Para one.\n\nPara two.\nsame para.\n",
            id="paragraphs",
        ),
        pytest.param("```\ncode\n  block\n```\n", "code\n  block\n", id="fence"),
        pytest.param("a\n\n---\n\nb", "a\n\n* * *\n\nb\n", id="rule"),
        pytest.param("![a calm lake](lake.png)", "a calm lake\n", id="image"),
        pytest.param("Text with <b>html</b>", "Text with <b>html</b>\n", id="raw-html-as-written"),
    ],
)
def test_markdown_becomes_readable_plain_text(markdown: str, text: str) -> None:
    assert to_text(markdown) == text


def test_a_tight_list_has_no_blank_lines_between_its_items() -> None:
    text = to_text("Steps:\n\n1. Pause.\n2. Notice.\n3. Name it.\n")

    assert "\n\n1." in text
    assert "1. Pause.\n2. Notice.\n3. Name it.\n" in text
    assert "\n\n2." not in text
    assert "\n\n3." not in text


def test_an_empty_document_is_an_empty_line() -> None:
    assert to_text("") == "\n"


def test_an_autolink_is_written_once() -> None:
    assert to_text("Write to <https://example.org/help>.") == "Write to https://example.org/help.\n"


def test_a_nested_tight_list_has_no_blank_lines() -> None:
    text = to_text("- outer\n  - inner\n  - inner two\n- outer two\n")

    assert text == "- outer\n  - inner\n  - inner two\n- outer two\n"

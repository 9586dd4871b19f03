"""emails/render.py, emails/markdown.py and emails/plaintext.py: a lesson as HTML and text."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest

import courses
from courses.loader import load_catalog
from courses.model import Course
from emails.markdown import to_html, to_text
from emails.render import (
    UNSUBSCRIBE_URL,
    Button,
    Rendered,
    render_confirmation,
    render_lesson,
    render_letter,
)

SITE = "tend.example.org"
READER_LINK = "https://tend.example.org/leave?t=abc.def&step=1"
CONFIRM_LINK = "https://tend.example.org/confirm?t=xyz.123&course=softening-sessions"


@functools.cache
def demo() -> Course:
    return load_catalog(Path(courses.__file__).resolve().parent)["softening-sessions"]


@functools.cache
def lesson_letter(position: int) -> Rendered:
    course = demo()
    return render_lesson(course, course.lessons[position], SITE)


def title_of(html: str) -> str:
    [title] = re.findall(r"<title>(.*?)</title>", html, re.S)
    return title


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


def test_a_lesson_shows_where_it_falls_in_the_course() -> None:
    letter = lesson_letter(1)

    assert letter.text.startswith("Softening Sessions · Letter 2 of 5\n\n")
    assert "Letter 2 of 5" in letter.html
    assert "Letter 5 of 5" in lesson_letter(4).text


def test_a_lesson_says_why_the_reader_gets_it_and_where_the_sender_is() -> None:
    letter = lesson_letter(1)

    footer = letter.text.split("\n-- \n", 1)[1]
    assert footer == (
        "You get this because you signed up for Softening Sessions at tend.example.org.\n"
        "Tend Demo Practice, 1 Example Lane, Springfield, USA\n"
        f"Unsubscribe: {UNSUBSCRIBE_URL}\n"
    )
    assert "You get this because you signed up for Softening Sessions at tend.example.org." in (
        letter.html
    )
    assert "Tend Demo Practice, 1 Example Lane, Springfield, USA" in letter.html


def test_a_lesson_holds_one_unsubscribe_tag_in_each_part_until_it_is_filled_in() -> None:
    letter = lesson_letter(1)

    assert letter.html.count(UNSUBSCRIBE_URL) == 1
    assert letter.text.count(UNSUBSCRIBE_URL) == 1
    assert f'<a href="{UNSUBSCRIBE_URL}">Unsubscribe</a>' in letter.html


def test_for_reader_puts_the_reader_link_in_escaped_in_html_and_raw_in_text() -> None:
    body_html, body_text = lesson_letter(1).for_reader({UNSUBSCRIBE_URL: READER_LINK})

    assert (
        '<a href="https://tend.example.org/leave?t=abc.def&amp;step=1">Unsubscribe</a>' in body_html
    )
    assert READER_LINK not in body_html
    assert f"Unsubscribe: {READER_LINK}\n" in body_text
    assert "&amp;" not in body_text
    assert UNSUBSCRIBE_URL not in body_html
    assert UNSUBSCRIBE_URL not in body_text


def test_for_reader_cannot_break_out_of_the_link_attribute() -> None:
    body_html, _ = lesson_letter(1).for_reader({UNSUBSCRIBE_URL: 'x"><script>alert(1)</script>'})

    assert "<script>" not in body_html
    assert 'href="x&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in body_html


def test_for_reader_leaves_the_shared_letter_untouched() -> None:
    letter = lesson_letter(1)
    before = letter.content_hash

    letter.for_reader({UNSUBSCRIBE_URL: READER_LINK})

    assert letter.content_hash == before
    assert UNSUBSCRIBE_URL in letter.html


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
    html = lesson_letter(4).html

    assert "<strong>Acknowledge that this is hard.</strong>" in html
    assert "<h2>There is no escaping it</h2>" in html
    assert "**" not in html


def test_the_content_hash_is_stable_for_the_same_lesson_and_differs_for_another() -> None:
    course = demo()
    first = render_lesson(course, course.lessons[1], SITE)
    again = render_lesson(course, course.lessons[1], SITE)
    other = render_lesson(course, course.lessons[2], SITE)
    elsewhere = render_lesson(course, course.lessons[1], "other.example.org")

    assert re.fullmatch(r"[0-9a-f]{64}", first.content_hash)
    assert first.content_hash == again.content_hash
    assert other.content_hash != first.content_hash
    assert elsewhere.content_hash != first.content_hash


def test_the_text_part_ends_with_a_single_newline() -> None:
    text = lesson_letter(0).text

    assert text.endswith("\n")
    assert not text.endswith("\n\n")


# render_confirmation


def test_a_confirmation_has_the_confirm_link_in_both_parts() -> None:
    letter = render_confirmation(demo(), SITE, CONFIRM_LINK)

    assert letter.subject == "Please confirm: Softening Sessions"
    assert title_of(letter.html) == "Please confirm: Softening Sessions"
    assert f"Yes, sign me up:\n{CONFIRM_LINK}\n" in letter.text
    escaped = CONFIRM_LINK.replace("&", "&amp;")
    assert f'href="{escaped}"' in letter.html
    assert "Yes, sign me up" in letter.html


def test_a_confirmation_has_no_unsubscribe_link_and_no_progress() -> None:
    letter = render_confirmation(demo(), SITE, CONFIRM_LINK)

    assert UNSUBSCRIBE_URL not in letter.html
    assert UNSUBSCRIBE_URL not in letter.text
    assert "Unsubscribe" not in letter.text
    assert "Letter " not in letter.text
    assert letter.text.startswith("Softening Sessions\n\nThank you for signing up for ")


def test_a_confirmation_explains_who_asked_for_it() -> None:
    letter = render_confirmation(demo(), SITE, CONFIRM_LINK)

    assert "Thank you for signing up for Softening Sessions." in letter.text
    assert letter.text.endswith(
        "-- \nSomeone, hopefully you, asked for Softening Sessions at tend.example.org.\n"
    )
    assert "One click and your first letter is on its way." in letter.html
    assert "fonts.googleapis" not in letter.html


# render_letter escaping


def test_render_letter_escapes_what_it_puts_in_html_and_keeps_text_raw() -> None:
    letter = render_letter(
        subject='Tips & "tricks" <b>',
        preheader="Fish & chips",
        body_markdown="Hello *there* & you <i>",
        lang="fr",
        masthead="M & M",
        reason="R & r",
        button=Button("Go & see", "https://x.example.org/?a=1&b=2"),
    )

    assert title_of(letter.html) == "Tips &amp; &#34;tricks&#34; &lt;b&gt;"
    assert '<html lang="fr"' in letter.html
    assert "<p>Hello <em>there</em> &amp; you &lt;i&gt;</p>" in letter.html
    assert 'href="https://x.example.org/?a=1&amp;b=2"' in letter.html
    assert "<b>" not in letter.html
    assert "<i>" not in letter.html
    assert letter.text == (
        "M & M\n\nHello there & you <i>\n\n"
        "Go & see:\nhttps://x.example.org/?a=1&b=2\n\n-- \nR & r\n"
    )


# Markdown to HTML and text


def test_markdown_html_leaves_raw_html_as_text() -> None:
    assert to_html("A <b>bold</b> move") == "<p>A &lt;b&gt;bold&lt;/b&gt; move</p>\n"


def test_markdown_html_renders_tables() -> None:
    html = to_html("| a | b |\n|---|---|\n| 1 | 2 |\n")

    assert "<table>" in html
    assert "<td>1</td>" in html


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

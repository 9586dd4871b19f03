"""emails/templating.py: a letter's body as a sandboxed Jinja2 template, with each reader's
values left as placeholders to fill in after rendering."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from emails.templating import Placeholders, TemplateProblemError, render_body

NAME = Path("courses/demo/01-hello.md")
CONTEXT: dict[str, Any] = {
    "lesson": {"number": 2, "subject": "Hello"},
    "course": {"title": "Tips & <tricks>", "lessons": 5},
    "previous_lesson": None,
}


def render(body: str) -> tuple[str, dict[str, tuple[str, str]]]:
    placeholders = Placeholders()
    text = render_body(body, NAME, CONTEXT, placeholders)
    return text, placeholders.fields


def problem(body: str) -> TemplateProblemError:
    with pytest.raises(TemplateProblemError) as caught:
        render(body)
    assert str(caught.value) == caught.value.message
    return caught.value


# Reader values become placeholders


def test_a_first_name_with_a_default_becomes_a_placeholder_remembering_the_default() -> None:
    text, fields = render('Dear {{ reader.first_name | default("friend") }},\n')

    assert text == "Dear %%f2%%,\n"
    assert fields["f2"] == ("first_name", "friend")


def test_a_first_name_without_a_default_falls_back_to_nothing() -> None:
    text, fields = render("Hello {{ reader.first_name }}.")

    assert text == "Hello %%f1%%."
    assert fields == {"f1": ("first_name", "")}


def test_the_same_default_twice_shares_one_placeholder_and_another_gets_its_own() -> None:
    text, fields = render(
        '{{ reader.first_name | default("friend") }} {{ reader.first_name | d("friend") }} '
        '{{ reader.first_name | default("you") }}'
    )

    assert text == "%%f2%% %%f2%% %%f3%%"
    assert fields == {
        "f1": ("first_name", ""),
        "f2": ("first_name", "friend"),
        "f3": ("first_name", "you"),
    }


def test_a_reader_value_may_be_printed_inside_markdown_emphasis() -> None:
    text, _ = render('*{{ reader.first_name | default("friend") }}*')

    assert text == "*%%f2%%*"


# Other variables


def test_letter_variables_are_filled_in_as_they_are() -> None:
    text, fields = render(
        "Letter {{ lesson.number }} of {{ course.lessons }}: {{ lesson.subject }}"
    )

    assert text == "Letter 2 of 5: Hello"
    assert fields == {}


def test_a_template_does_not_escape_html_because_markdown_does_that_later() -> None:
    text, _ = render("{{ course.title }}")

    assert text == "Tips & <tricks>"


def test_a_missing_previous_lesson_can_be_tested_with_if() -> None:
    text, _ = render("{% if previous_lesson %}Back{% else %}First{% endif %}")

    assert text == "First"


def test_the_default_filter_still_works_on_ordinary_variables() -> None:
    text, _ = render('{{ lesson.missing | default("none") }} {{ "" | default("empty", true) }}')

    assert text == "none empty"


def test_a_body_keeps_its_last_newline() -> None:
    assert render("Hello.\n")[0] == "Hello.\n"


# Mistakes, on the line of the body where they are


def test_an_undefined_variable_is_reported_on_its_line() -> None:
    error = problem("Hello.\n\n{{ nme }}\n")

    assert (error.line, error.message) == (3, "undefined template variable: 'nme' is undefined")


def test_an_undefined_key_of_a_known_variable_is_reported_on_its_line() -> None:
    error = problem("Hello.\n{{ lesson.title }}\n")

    assert (error.line, error.message) == (
        2,
        "undefined template variable: 'dict object' has no attribute 'title'",
    )


def test_an_unknown_reader_field_is_reported_with_the_fields_there_are() -> None:
    error = problem("\n\nDear {{ reader.last_name }},\n")

    assert (error.line, error.message) == (
        3,
        "undefined template variable: reader.last_name is not a reader variable "
        "(there is reader.first_name)",
    )


def test_an_unknown_reader_field_with_a_default_is_still_reported() -> None:
    error = problem('Dear {{ reader.nickname | default("friend") }},')

    assert error.line == 1
    assert error.message.startswith("undefined template variable: reader.nickname is not")


@pytest.mark.parametrize(
    "body",
    [
        "One.\nTwo.\n{% if reader.first_name %}Hi {{ reader.first_name }}{% endif %}\n",
        'One.\nTwo.\nHi {{ reader.first_name or "friend" }}\n',
        "One.\nTwo.\n{% if not reader.first_name %}Hi{% endif %}\n",
    ],
    ids=["if", "or", "if-not"],
)
def test_testing_a_reader_value_is_refused_because_it_is_only_known_later(body: str) -> None:
    error = problem(body)

    assert (error.line, error.message) == (
        3,
        "template error: reader.first_name is filled in for each reader after rendering: print "
        'it with `| default("...")` instead of testing or comparing it',
    )


def test_comparing_a_reader_value_is_refused_because_it_is_only_known_later() -> None:
    error = problem('{% if reader.first_name == "Sam" %}Hi Sam{% endif %}\n')

    assert error.line == 1


def test_a_syntax_error_is_reported_on_its_line() -> None:
    error = problem("One.\n\n{% if %}\n")

    assert (error.line, error.message) == (
        3,
        "template error: Expected an expression, got 'end of statement block'",
    )


def test_an_unclosed_block_is_reported_with_what_would_close_it() -> None:
    error = problem("One.\n{% if lesson %}\nTwo.\n")

    assert (error.line, error.message) == (
        2,
        "template error: Unexpected end of template. Jinja was looking for the following tags: "
        "'elif' or 'else' or 'endif'. The innermost block that needs to be closed is 'if'.",
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "{{ ''.__class__ }}",
            "template error: access to attribute '__class__' of 'str' object is unsafe.",
        ),
        (
            "{{ reader._placeholders }}",
            "template error: access to attribute '_placeholders' of 'ReaderVariables' object "
            "is unsafe.",
        ),
    ],
)
def test_the_sandbox_refuses_to_reach_into_python(body: str, message: str) -> None:
    error = problem(body)

    assert (error.line, error.message) == (1, message)


def test_a_template_cannot_change_its_context() -> None:
    error = problem("{{ lesson.update(number=9) }}")

    assert (error.line, error.message) == (
        1,
        "template error: access to attribute 'update' of 'dict' object is unsafe.",
    )
    assert CONTEXT["lesson"]["number"] == 2

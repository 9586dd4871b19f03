"""Lesson Markdown to HTML and to readable plain text."""

from __future__ import annotations

import functools

from markdown_it import MarkdownIt
from markdown_it.token import Token

from emails.plaintext import TextRenderer


@functools.cache
def _parser() -> MarkdownIt:
    # CommonMark plus tables. Raw HTML stays off: a lesson's look is the layout's job, and
    # mail clients are unforgiving of stray markup.
    return MarkdownIt("commonmark", {"html": False, "typographer": False}).enable("table")


def to_html(markdown: str) -> str:
    return _parser().render(markdown)


def to_text(markdown: str) -> str:
    tokens: list[Token] = _parser().parse(markdown)
    return TextRenderer().render(tokens)

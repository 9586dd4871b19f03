"""Lesson Markdown to HTML and to readable plain text."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

from markdown_it import MarkdownIt
from markdown_it.token import Token

from emails.plaintext import TextRenderer

# Given a link's address, the address to use instead (a relative link to another lesson
# becomes that lesson's page on the web).
LinkResolver = Callable[[str], str]


@functools.cache
def _parser() -> MarkdownIt:
    # CommonMark plus tables. Raw HTML stays off: a lesson's look is the layout's job, and
    # mail clients are unforgiving of stray markup.
    return MarkdownIt("commonmark", {"html": False, "typographer": False}).enable("table")


def parse(markdown: str, resolve: LinkResolver | None = None) -> list[Token]:
    tokens = _parser().parse(markdown)
    if resolve is not None:
        for token in inline_children(tokens):
            if token.type == "link_open":
                token.attrSet("href", resolve(str(token.attrGet("href") or "")))
    return tokens


def inline_children(tokens: list[Token]) -> Iterator[Token]:
    for token in tokens:
        if token.type == "inline":
            yield from token.children or []


def to_html(markdown: str, resolve: LinkResolver | None = None) -> str:
    parser = _parser()
    return parser.renderer.render(parse(markdown, resolve), parser.options, {})


def to_text(markdown: str, resolve: LinkResolver | None = None) -> str:
    return TextRenderer().render(parse(markdown, resolve))

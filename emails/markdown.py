"""Lesson Markdown to HTML and to readable plain text."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator

from markdown_it import MarkdownIt
from markdown_it.token import Token

from emails.plaintext import TextRenderer
from emails.templating import PLACEHOLDER

SHIELDED = re.compile(r"TENDPLACEHOLDER([a-z][a-z0-9_]*)END")

# Given a link's address, the address to use instead (a relative link to another lesson
# becomes that lesson's page on the web).
LinkResolver = Callable[[str], str]


@functools.cache
def _parser() -> MarkdownIt:
    # CommonMark plus tables. Raw HTML stays off: a lesson's look is the layout's job, and
    # mail clients are unforgiving of stray markup.
    parser = MarkdownIt("commonmark", {"html": False, "typographer": False}).enable("table")
    parser.normalizeLink = _keeping_placeholders(parser.normalizeLink)  # type: ignore[method-assign]
    return parser


def _keeping_placeholders(normalize: Callable[[str], str]) -> Callable[[str], str]:
    """Link addresses are percent-encoded, which would turn `%%f1%%` (a reader's value,
    filled in later) into something nothing fills in: shield placeholders from it."""

    def normalized(url: str) -> str:
        shielded = PLACEHOLDER.sub(lambda match: f"TENDPLACEHOLDER{match.group(1)}END", url)
        return SHIELDED.sub(lambda match: f"%%{match.group(1)}%%", normalize(shielded))

    return normalized


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

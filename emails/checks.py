"""The checks of `tend lint` that need a letter rendered: templates, MJML, size, links.

Each problem names the file and line an author must look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from courses.model import Catalog, Letter, Problem, Publication
from emails import markdown
from emails.render import (
    PREFERENCES_URL,
    UNSUBSCRIBE_URL,
    LetterError,
    Rendered,
    linked_letter,
    render,
)

# Gmail shows "[Message clipped]" and hides the rest, unsubscribe link included.
GMAIL_CLIPS_AT = 102 * 1024
SAMPLE_BASE_URL = "https://tend.example.org"
SAMPLE_READER = {
    "first_name": "Sam",
    UNSUBSCRIBE_URL: f"{SAMPLE_BASE_URL}/u/sample",
    PREFERENCES_URL: f"{SAMPLE_BASE_URL}/p/sample",
}


def check_catalog(catalog: Catalog) -> list[Problem]:
    problems: list[Problem] = []
    for publication, letter in letters(catalog):
        problems += check_letter(publication, letter)
    return problems


def letters(catalog: Catalog) -> Iterator[tuple[Publication, Letter]]:
    for course in catalog.courses.values():
        for lesson in course.lessons:
            yield course, lesson
    for newsletter in catalog.newsletters.values():
        for issue in newsletter.issues:
            yield newsletter, issue


def check_letter(publication: Publication, letter: Letter) -> list[Problem]:
    problems = list(_check_links(publication, letter))
    try:
        rendered = render(publication, letter, SAMPLE_BASE_URL)
    except LetterError as error:
        return [*problems, Problem(error.path, error.line, error.message)]
    return problems + _check_rendered(publication, letter, rendered)


def _check_rendered(publication: Publication, letter: Letter, rendered: Rendered) -> list[Problem]:
    problems = []
    size = len(rendered.html.encode())
    if size > GMAIL_CLIPS_AT:
        message = f"the HTML is {size // 1024} KB; Gmail clips letters over 102 KB"
        problems.append(Problem(letter.path, 1, message))
    if f"%%{UNSUBSCRIBE_URL}%%" not in rendered.html:
        layout = publication.theme.layout or letter.path
        problems.append(Problem(layout, 1, "the footer has no unsubscribe link"))
    html, text = rendered.for_reader(SAMPLE_READER)
    if "%%" in html or "%%" in text:
        message = "a reader value was changed by a filter; only `| default(...)` may follow it"
        problems.append(Problem(letter.path, letter.body_line, message))
    return problems


def _check_links(publication: Publication, letter: Letter) -> Iterator[Problem]:
    line = letter.body_line
    for token in markdown.parse(letter.body):
        if token.map:
            line = letter.body_line + token.map[0]
        for child in token.children or []:
            if child.type == "image":
                yield from _check_image(letter.path, line, child.attrGet("src"), child.content)
            elif child.type == "link_open":
                yield from _check_href(publication, letter.path, line, str(child.attrGet("href")))
    if letter.button is not None:
        yield from _check_href(publication, letter.path, 1, letter.button.url)


def _check_image(path: Path, line: int, src: object, alt: str) -> Iterator[Problem]:
    if not alt.strip():
        yield Problem(path, line, "an image without alt text: say what it shows, in the [brackets]")
    if not str(src).startswith("https://"):
        yield Problem(path, line, f"image {src} must be an https:// address: mail has no files")


def _check_href(publication: Publication, path: Path, line: int, href: str) -> Iterator[Problem]:
    if "{{" in href or href.startswith(("https://", "mailto:", "#")):
        return
    if "://" in href:
        yield Problem(path, line, f"link {href} is not https")
    elif linked_letter(publication, href) is None:
        message = f"link {href} leads nowhere: a relative link must name a lesson or issue file"
        yield Problem(path, line, message)

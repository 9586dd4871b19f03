"""Markdown -> MJML layout (Jinja2) -> responsive HTML, plus the plain-text part.

A letter is rendered once for all its readers and cached on its content. What differs per
reader stands in the output as placeholders (`%%unsubscribe_url%%`, `%%f1%%`), which
`Rendered.for_reader` fills in: substitution only, the same shape SendGrid's
per-recipient substitutions take.
"""

from __future__ import annotations

import functools
import hashlib
import html
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from mjml import mjml2html

from courses.loader import ISSUE_NAME, ISSUES, LESSON_NAME
from courses.model import Button, Course, Issue, Lesson, Letter, Newsletter, Publication
from emails import markdown
from emails.templating import PLACEHOLDER, Placeholders, TemplateProblemError, render_body

HERE = Path(__file__).parent
UNSUBSCRIBE_URL = "unsubscribe_url"
PREFERENCES_URL = "preferences_url"
CACHE_SIZE = 512


class LetterError(Exception):
    """A letter that cannot be rendered, with the file and line to look at."""

    def __init__(self, path: Path, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line, self.message = path, line, message


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str
    text: str
    # placeholder -> (reader value it stands for, what to print when the reader has none)
    fields: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    @functools.cached_property
    def content_hash(self) -> str:
        return hashlib.sha256(f"{self.subject}\0{self.text}\0{self.html}".encode()).hexdigest()

    @functools.cached_property
    def tags(self) -> frozenset[str]:
        """The placeholders that appear in this letter."""
        return frozenset(PLACEHOLDER.findall(self.html)) | frozenset(PLACEHOLDER.findall(self.text))

    def value(self, tag: str, values: Mapping[str, str | None]) -> str:
        """What one placeholder becomes for a reader with these values (unescaped)."""
        name, default = self.fields.get(tag, (tag, ""))
        return values.get(name) or default

    def for_reader(self, values: Mapping[str, str | None]) -> tuple[str, str]:
        """The HTML and text parts with this reader's values in place of the placeholders."""
        body_html = PLACEHOLDER.sub(
            lambda m: html.escape(self.value(m.group(1), values)), self.html
        )
        body_text = PLACEHOLDER.sub(lambda m: self.value(m.group(1), values), self.text)
        return body_html, body_text


_cache: OrderedDict[tuple[str, ...], Rendered] = OrderedDict()


def _cached(key: tuple[str, ...], render: Any) -> Rendered:
    """Renders are kept per content: a changed file has a new hash, so a new entry."""
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    rendered = _cache[key] = render()
    if len(_cache) > CACHE_SIZE:
        _cache.popitem(last=False)
    return rendered


def render(publication: Publication, letter: Letter, base_url: str) -> Rendered:
    """A lesson or a newsletter issue, whichever `letter` is."""
    if isinstance(publication, Course) and isinstance(letter, Lesson):
        return render_lesson(publication, letter, base_url)
    if isinstance(publication, Newsletter) and isinstance(letter, Issue):
        return render_issue(publication, letter, base_url)
    raise TypeError(f"{letter.path} is not a letter of {publication.slug}")


def render_lesson(course: Course, lesson: Lesson, base_url: str) -> Rendered:
    """A lesson for all its readers, with placeholders where each reader's values go."""
    key = (course.slug, course.source_hash, lesson.slug, lesson.source_hash, base_url)
    return _cached(key, lambda: _render_lesson(course, lesson, base_url))


def _render_lesson(course: Course, lesson: Lesson, base_url: str) -> Rendered:
    position = course.lessons.index(lesson)
    previous = course.lesson_at(position - 1) if position > 0 else None
    total = len(course.lessons)
    variables = {
        "lesson": {"number": position + 1, "subject": lesson.subject},
        "course": {"title": course.title, "lessons": total},
        "previous_lesson": previous
        and {
            "subject": previous.subject,
            "url": read_url(base_url, course, previous),
        },
    }
    progress = course.theme.progress.format(number=position + 1, total=total)
    return render_letter(course, lesson, base_url, variables, progress)


def render_issue(newsletter: Newsletter, issue: Issue, base_url: str) -> Rendered:
    key = (newsletter.slug, newsletter.source_hash, issue.slug, issue.source_hash, base_url)
    variables = {
        "issue": {"date": issue.date, "subject": issue.subject},
        "newsletter": {"title": newsletter.title},
    }
    return _cached(
        key,
        lambda: render_letter(newsletter, issue, base_url, variables, long_date(issue.date)),
    )


def render_letter(
    publication: Publication,
    letter: Letter,
    base_url: str,
    variables: dict[str, Any],
    progress: str,
) -> Rendered:
    """Render one lesson or issue: its template, its Markdown, the layout, MJML."""
    placeholders = Placeholders()
    try:
        body = render_body(letter.body, letter.path, variables, placeholders)
    except TemplateProblemError as problem:
        raise LetterError(
            letter.path, letter.body_line + problem.line - 1, problem.message
        ) from None
    context = {
        **_frame(publication, letter, progress, site(base_url)),
        "unsubscribe_url": f"%%{UNSUBSCRIBE_URL}%%",
        "preferences_url": f"%%{PREFERENCES_URL}%%",
    }
    resolve = functools.partial(resolve_link, base_url, publication)
    mjml_source = _layout(publication).render(body_html=markdown.to_html(body, resolve), **context)
    text = _text_layout().render(body_text=markdown.to_text(body, resolve).rstrip("\n"), **context)
    try:
        page = mjml_to_html(mjml_source)
    except ValueError as error:
        where = publication.theme.layout or letter.path
        raise LetterError(where, 1, f"MJML rejected the letter: {error}") from None
    return Rendered(letter.subject, page, text.rstrip() + "\n", dict(placeholders.fields))


def _frame(publication: Publication, letter: Letter, progress: str, site: str) -> dict[str, Any]:
    """What the layout shows around a letter's text."""
    return {
        "subject": letter.subject,
        "preheader": letter.preheader,
        "content_note": letter.content_note,
        "button": letter.button,
        "lang": publication.lang,
        "masthead": publication.title,
        "progress": progress,
        "theme": publication.theme,
        "reason": f"You get this because you signed up for {publication.title} at {site}.",
        "postal_address": publication.postal_address,
    }


def render_confirmation(course: Course, base_url: str, confirm_url: str) -> Rendered:
    """The double opt-in letter for one reader (never shared, so no placeholders)."""
    return _render_notice(
        course,
        base_url,
        "confirm",
        preheader="One click and your first letter is on its way.",
        button=Button("Yes, sign me up", confirm_url),
        reason=f"Someone, hopefully you, asked for {course.title} at {site(base_url)}.",
    )


def render_already_here(course: Course, base_url: str, preferences_url: str) -> Rendered:
    """The answer to a signup from an address that is already reading: a way to its page,
    instead of a second confirmation."""
    return _render_notice(
        course,
        base_url,
        "already_here",
        preheader="Nothing changes; here is your page, in case you wanted it.",
        button=Button("Open my page", preferences_url),
        reason=f"Someone signed up for {course.title} at {site(base_url)} with this address.",
    )


def _render_notice(
    course: Course, base_url: str, name: str, *, preheader: str, button: Button, reason: str
) -> Rendered:
    """A letter Tend writes to one reader (templates/NAME/), in the course's look."""
    env = _environment()
    title = {"title": course.title}
    context = {
        "subject": env.get_template(f"{name}/subject.txt").render(title).strip(),
        "preheader": preheader,
        "content_note": "",
        "button": button,
        "lang": course.lang,
        "masthead": course.title,
        "progress": "",
        "theme": course.theme,
        "reason": reason,
        "postal_address": "",
        "unsubscribe_url": "",
        "preferences_url": "",
    }
    body = env.get_template(f"{name}/body.md").render(title)
    page = mjml_to_html(
        env.get_template("letter.mjml").render(body_html=markdown.to_html(body), **context)
    )
    text = env.get_template("letter.txt").render(
        body_text=markdown.to_text(body).rstrip("\n"), **context
    )
    return Rendered(context["subject"], page, text.rstrip() + "\n")


def mjml_to_html(source: str) -> str:
    # fonts={} keeps mjml from adding a Google Fonts import: no web font is ever fetched.
    return mjml2html(source, fonts={})


def read_url(base_url: str, publication: Publication, letter: Letter) -> str:
    """Where a letter can be read in a browser."""
    return f"{base_url}/read/{publication.slug}/{letter.slug}"


def resolve_link(base_url: str, publication: Publication, href: str) -> str:
    """A relative link to another letter's file (`02-not-alone.md`, `../news/issues/...`)
    becomes that letter's page; any other address stays as it is."""
    target = linked_letter(publication, href)
    return f"{base_url}/read/{target[0]}/{target[1]}" if target else href


def linked_letter(publication: Publication, href: str) -> tuple[str, str] | None:
    """(publication slug, letter slug) of a relative link to a letter's file, if it is one."""
    if not href or "://" in href or href.startswith(("mailto:", "#", "/")):
        return None
    path = (publication.path / href.split("#")[0]).resolve()
    if not path.is_file():
        return None
    lesson, issue = LESSON_NAME.match(path.name), ISSUE_NAME.match(path.name)
    if issue and path.parent.name == ISSUES:
        return path.parent.parent.name, issue.group(2)
    if lesson:
        return path.parent.name, lesson.group(2)
    return None


def site(base_url: str) -> str:
    return urlsplit(base_url).hostname or base_url


def long_date(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


@functools.cache
def _environment(layout_folder: Path | None = None) -> jinja2.Environment:
    folders = [HERE / "layouts", HERE / "templates"]
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([layout_folder, *folders] if layout_folder else folders),
        autoescape=jinja2.select_autoescape(["mjml"], default_for_string=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def _layout(publication: Publication) -> jinja2.Template:
    layout = publication.theme.layout
    if layout is None:
        return _environment().get_template("letter.mjml")
    return _environment(layout.parent).get_template(layout.name)


def _text_layout() -> jinja2.Template:
    return _environment().get_template("letter.txt")

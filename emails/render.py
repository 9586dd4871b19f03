"""Markdown -> MJML layout (Jinja2) -> responsive HTML, plus the plain-text part.

A lesson is rendered once for all its readers. What differs per reader (their unsubscribe
link) stands in the output as a substitution tag, filled in by `Rendered.for_reader`:
the same shape SendGrid's per-recipient substitutions take.
"""

from __future__ import annotations

import functools
import hashlib
import html
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import jinja2
from mjml import mjml2html

from courses.model import Course, Lesson
from emails import markdown

HERE = Path(__file__).parent
UNSUBSCRIBE_URL = "%%unsubscribe_url%%"


@dataclass(frozen=True)
class Button:
    label: str
    url: str


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str
    text: str

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(f"{self.subject}\0{self.text}\0{self.html}".encode()).hexdigest()

    def for_reader(self, values: Mapping[str, str]) -> tuple[str, str]:
        """The HTML and text parts with this reader's values in place of the tags."""
        body_html, body_text = self.html, self.text
        for tag, value in values.items():
            body_html = body_html.replace(tag, html.escape(value, quote=True))
            body_text = body_text.replace(tag, value)
        return body_html, body_text


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([HERE / "layouts", HERE / "templates"]),
        autoescape=jinja2.select_autoescape(["mjml"], default_for_string=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def render_letter(
    *,
    subject: str,
    preheader: str,
    body_markdown: str,
    lang: str,
    masthead: str,
    reason: str,
    postal_address: str = "",
    progress: str = "",
    button: Button | None = None,
    unsubscribe_url: str = "",
) -> Rendered:
    """Render one letter in the layout, as HTML (through MJML) and as plain text."""
    context = {
        "subject": subject,
        "preheader": preheader,
        "lang": lang,
        "masthead": masthead,
        "progress": progress,
        "reason": reason,
        "postal_address": postal_address,
        "button": button,
        "unsubscribe_url": unsubscribe_url,
    }
    env = _environment()
    mjml_source = env.get_template("letter.mjml").render(
        body_html=markdown.to_html(body_markdown), **context
    )
    text = env.get_template("letter.txt").render(
        body_text=markdown.to_text(body_markdown).rstrip("\n"), **context
    )
    text = text.rstrip() + "\n"
    return Rendered(subject=subject, html=mjml_to_html(mjml_source), text=text)


def mjml_to_html(source: str) -> str:
    # fonts={} keeps mjml from adding a Google Fonts import: no web font is ever fetched.
    return mjml2html(source, fonts={})


def render_lesson(course: Course, lesson: Lesson, site: str) -> Rendered:
    """A lesson for all its readers, with UNSUBSCRIBE_URL where each reader's link goes."""
    position = course.lessons.index(lesson) + 1
    return render_letter(
        subject=lesson.subject,
        preheader=lesson.preheader,
        body_markdown=lesson.body,
        lang=course.lang,
        masthead=course.title,
        progress=f"Letter {position} of {len(course.lessons)}",
        reason=f"You get this because you signed up for {course.title} at {site}.",
        postal_address=course.postal_address,
        unsubscribe_url=UNSUBSCRIBE_URL,
    )


def render_confirmation(course: Course, site: str, confirm_url: str) -> Rendered:
    """The double opt-in letter for one reader (it is never shared, so no tags)."""
    env = _environment()
    context = {"title": course.title}
    return render_letter(
        subject=env.get_template("confirm/subject.txt").render(context).strip(),
        preheader="One click and your first letter is on its way.",
        body_markdown=env.get_template("confirm/body.md").render(context),
        lang=course.lang,
        masthead=course.title,
        reason=f"Someone, hopefully you, asked for {course.title} at {site}.",
        button=Button("Yes, sign me up", confirm_url),
    )

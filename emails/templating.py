"""Template variables in lesson bodies, in a sandboxed Jinja2 environment.

A letter is rendered once for all its readers. What differs per reader (their first name,
their links) is written as a placeholder such as `%%f1%%`, and `Rendered.for_reader` puts
each reader's value in its place, escaped: a name a reader typed can never become markup.
Because the value is not known while rendering, a template may print a reader's value
(with `| default("friend")`) but not test it with `if`.
"""

from __future__ import annotations

import functools
import re
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import (
    StrictUndefined,
    TemplateError,
    TemplateRuntimeError,
    Undefined,
    UndefinedError,
    pass_context,
)
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

PLACEHOLDER = re.compile(r"%%([a-z][a-z0-9_]*)%%")
READER_FIELDS = ("first_name",)


class ReaderValueTestedError(TemplateRuntimeError):
    """A template tested a reader's value, which is only known after rendering."""


class ReaderValue(str):
    """A placeholder for one reader value; printing it is fine, testing it is not."""

    __slots__ = ("name",)

    def __new__(cls, tag: str, name: str) -> ReaderValue:
        value = super().__new__(cls, f"%%{tag}%%")
        value.name = name  # type: ignore[misc]
        return value

    def _refuse(self, *_: object) -> bool:
        raise ReaderValueTestedError(
            f"reader.{self.name} is filled in for each reader after rendering: print it "
            f'with `| default("...")` instead of testing or comparing it'
        )

    __bool__ = __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __contains__ = _refuse
    __hash__ = str.__hash__


@dataclass
class Placeholders:
    """The placeholders one render used: tag -> (reader field, default when it is empty)."""

    fields: dict[str, tuple[str, str]] = field(default_factory=dict)

    def value(self, name: str, default: str = "") -> ReaderValue:
        for tag, known in self.fields.items():
            if known == (name, default):
                return ReaderValue(tag, name)
        tag = f"f{len(self.fields) + 1}"
        self.fields[tag] = (name, default)
        return ReaderValue(tag, name)


class ReaderVariables:
    """`reader` in a template: the fields a reader gave, as placeholders."""

    def __init__(self, placeholders: Placeholders) -> None:
        self._placeholders = placeholders

    @property
    def first_name(self) -> ReaderValue:
        return self._placeholders.value("first_name")

    def __getattr__(self, name: str) -> Any:
        known = ", ".join(f"reader.{field}" for field in READER_FIELDS)
        raise UndefinedError(f"reader.{name} is not a reader variable (there is {known})")


@pass_context
def _default(context: Context, value: Any, default_value: Any = "", boolean: bool = False) -> Any:
    if isinstance(value, ReaderValue):
        placeholders: Placeholders = context["_placeholders"]
        return placeholders.value(value.name, str(default_value))
    if isinstance(value, Undefined) or (boolean and not value):
        return default_value
    return value


@functools.cache
def environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
    )
    env.filters["default"] = env.filters["d"] = _default
    return env


class TemplateProblemError(Exception):
    """A mistake in a letter's template, with the line of the letter's body it is on."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def render_body(body: str, name: Path, context: dict[str, Any], placeholders: Placeholders) -> str:
    """The letter's Markdown with its variables filled in (reader values as placeholders)."""
    try:
        template = environment().from_string(body)
        template.name = template.filename = str(name)
        return template.render(**context, reader=ReaderVariables(placeholders),
                               _placeholders=placeholders)  # fmt: skip
    except TemplateError as error:
        line = getattr(error, "lineno", None) or _line_in_traceback(error, str(name))
        raise TemplateProblemError(line or 1, _describe(error)) from None
    except (ArithmeticError, LookupError, TypeError, ValueError, RecursionError) as error:
        # What a letter's own expression raised (`{{ 1 / 0 }}`, `{% for i in 5 %}`, an
        # expression nested past Python's recursion limit): the author's mistake too.
        line = _line_in_traceback(error, str(name))
        raise TemplateProblemError(line or 1, f"template error: {error}") from None


def _line_in_traceback(error: BaseException, name: str) -> int | None:
    # Jinja rewrites tracebacks so a template's frames name the template and its line.
    lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__)
             if frame.filename == name]  # fmt: skip
    return lines[-1] if lines else None


def _describe(error: TemplateError) -> str:
    message = error.message or str(error)
    if isinstance(error, UndefinedError):
        return f"undefined template variable: {message}"
    return f"template error: {message}"

"""What `course.yml`, `newsletter.yml` and front matter may say, and how it is checked."""

from __future__ import annotations

import re
import string
from datetime import UTC, date, datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from courses.cadence import Due, parse_due, parse_send_time, parse_weekday

COLOUR = r"^#[0-9a-fA-F]{6}$"
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SUBJECT_LIMIT = 78  # longer subjects are cut in most inboxes


def one_line(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError("must be a single line")
    return value.strip()


def address(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise ValueError(f"is not an email address: {error}") from None


def send_time(value: Any) -> str | None:
    if value is None:
        return None
    parse_send_time(str(value))
    return str(value)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ButtonConfig(Strict):
    label: str = Field(min_length=1, max_length=60)
    url: str = Field(min_length=1)


class ThemeConfig(Strict):
    accent: str = Field(default="#5b6f5a", pattern=COLOUR)
    background: str = Field(default="#f6f2ec", pattern=COLOUR)
    paper: str = Field(default="#fffdf9", pattern=COLOUR)
    text: str = Field(default="#2d2a26", pattern=COLOUR)
    logo: str | None = Field(default=None, pattern=r"^https://\S+$")
    footer: str = Field(default="", max_length=300)
    progress: str = "Letter {number} of {total}"
    layout: str | None = None

    @field_validator("progress")
    @classmethod
    def _check_progress(cls, value: str) -> str:
        try:
            fields = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        except ValueError:
            fields = {"?"}
        if not fields <= {"number", "total"}:
            raise ValueError("may use only {number} and {total}")
        return value

    @field_validator("layout")
    @classmethod
    def _check_layout(cls, value: str | None) -> str | None:
        # Only .mjml files are autoescaped by the layout's template engine.
        if value is not None and not value.endswith(".mjml"):
            raise ValueError("must be an .mjml file")
        return value


class CadenceConfig(Strict):
    every_days: int | None = Field(default=None, ge=1, le=365)
    days_of_month: list[int] = Field(default_factory=list)
    weekdays: list[str] = Field(default_factory=list)
    first: str = "on confirmation"
    send_at: str = "08:00"
    send_until: str | None = None
    skip_weekends: bool = False
    quiet_dates: list[date] = Field(default_factory=list)

    _send_at = field_validator("send_at", "send_until", mode="before")(send_time)

    @field_validator("days_of_month")
    @classmethod
    def _check_days(cls, value: list[int]) -> list[int]:
        if any(not 1 <= day <= 31 for day in value):
            raise ValueError("days of the month run from 1 to 31")
        return sorted(set(value))

    @field_validator("weekdays")
    @classmethod
    def _check_weekdays(cls, value: list[str]) -> list[str]:
        for day in value:
            parse_weekday(day)
        return value

    @field_validator("first")
    @classmethod
    def _check_first(cls, value: str) -> str:
        if value not in ("on confirmation", "next day"):
            raise ValueError('must be "on confirmation" or "next day"')
        return value

    @model_validator(mode="after")
    def _one_rhythm(self) -> CadenceConfig:
        rhythms = sum([bool(self.every_days), bool(self.days_of_month), bool(self.weekdays)])
        if rhythms > 1:
            raise ValueError("choose one of every_days, days_of_month and weekdays")
        if self.send_until is not None and parse_send_time(self.send_until) <= parse_send_time(
            self.send_at
        ):
            raise ValueError("`send_until` must come after `send_at` on the same day")
        if rhythms == 0 and self.first != "on confirmation":
            raise ValueError(
                "`first` belongs to a rhythm; without one, the first lesson's `due` says when"
            )
        return self


class PublicationConfig(Strict):
    title: str = Field(min_length=1, max_length=200)
    description: str = ""
    from_name: str = Field(min_length=1, max_length=100)
    from_email: str
    reply_to: str | None = None
    postal_address: str = Field(min_length=1)
    lang: str = Field(default="en", pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
    list: str | None = Field(default=None, pattern=SLUG.pattern)
    theme: ThemeConfig = ThemeConfig()

    _one_line = field_validator("title", "from_name")(one_line)
    _addresses = field_validator("from_email", "reply_to")(address)


class CourseConfig(PublicationConfig):
    offer_on_signup: bool = True
    cadence: CadenceConfig = CadenceConfig()


class NewsletterConfig(PublicationConfig):
    offer_on_signup: bool = True
    send_at: str = "08:00"

    _send_at = field_validator("send_at", mode="before")(send_time)


class LetterMeta(Strict):
    subject: str = Field(min_length=1, max_length=200)
    preheader: str = Field(default="", max_length=250)

    @field_validator("preheader", mode="before")
    @classmethod
    def _empty_preheader(cls, value: Any) -> Any:
        return "" if value is None else value  # `preheader:` with nothing after it

    content_note: str = Field(default="", max_length=300)
    button: ButtonConfig | None = None

    _one_line = field_validator("subject", "preheader", "content_note")(one_line)


class LessonMeta(LetterMeta):
    due: Due | None = None

    @field_validator("due", mode="before")
    @classmethod
    def _parse_due(cls, value: Any) -> Due | None:
        return None if value is None else parse_due(str(value))


class IssueMeta(LetterMeta):
    send_at_utc: datetime | None = None

    @field_validator("send_at_utc")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError('needs a time zone, like "2026-12-01T09:00:00Z"')
        return value.astimezone(UTC) if value is not None else None

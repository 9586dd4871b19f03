"""Forms readers fill in."""

from __future__ import annotations

import functools
import hashlib
from typing import Any
from zoneinfo import available_timezones

from email_validator import EmailNotValidError, validate_email
from flask import request
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import DataRequired, Length, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from emails.message import display_name

CONSENT_TEXT = (
    "Yes, send me these letters by email. I can leave at any time with one click, "
    "and my address is never shared."
)
# The version stored with each consent record: it changes whenever the sentence does.
CONSENT_VERSION = hashlib.sha256(CONSENT_TEXT.encode()).hexdigest()[:12]


@functools.cache
def timezone_choices() -> list[tuple[str, str]]:
    names = sorted(name for name in available_timezones() if "/" in name or name == "UTC")
    return [(name, name.replace("_", " ")) for name in names]


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(name for name, _ in timezone_choices())


class ZoneField(SelectField):
    """A time zone from the list. Checked against a set: WTForms would walk all ~400
    choices on every signup, which was the largest cost of validating the form."""

    def pre_validate(self, form: object) -> None:
        if self.data not in _zone_names():
            raise ValidationError("Please choose a time zone from the list.")


def _valid_email(_form: FlaskForm, field: EmailField) -> None:
    try:
        address = validate_email(field.data or "", check_deliverability=False).normalized
    except (EmailNotValidError, UnicodeError):
        raise ValidationError(
            "That doesn’t look like an email address. Please check it, like name@example.com."
        ) from None
    # Lower case, so that the same address is found again whatever its capitals: SQLite's
    # lower() folds only ASCII, so the comparison is made on what is stored.
    field.data = address.lower()


class PostedForm(FlaskForm):
    """A form read from posted form fields only, never from uploads or a JSON body.

    Flask-WTF fills a form from the files posted with it too (a field sent as a file
    reaches a validator as a FileStorage), and from a JSON body when no field was posted
    (an array, or nesting past the recursion limit, fails while it is read): each a 500.
    No form of a reader's takes a file, and browsers post these forms as forms.
    """

    class Meta(FlaskForm.Meta):
        def wrap_formdata(self, form: Any, formdata: Any) -> Any:
            # Form data the caller gave (a MultiDict, or None) is used as given;
            # Flask-WTF's marker for "not given" is neither.
            if formdata is None or hasattr(formdata, "getlist"):
                return formdata
            return request.form if form.is_submitted() and request.form else None


def _clean_name(value: str | None) -> str | None:
    # A name goes into a To: header and into HTML: stored as it will stand in the header
    # (no control characters, no lone surrogates, no encoded words).
    return display_name(value or "") or None


class SignupForm(PostedForm):
    email = EmailField(
        "Your email",
        validators=[DataRequired("Please enter your email address."), _valid_email],
    )
    first_name = StringField(
        "First name (optional)",
        filters=[_clean_name],
        validators=[Length(max=100, message="Please keep your name under 100 characters.")],
    )
    timezone = ZoneField("Your time zone", default="UTC")
    consent = BooleanField(
        CONSENT_TEXT, validators=[DataRequired("Please tick the box so we may write to you.")]
    )
    # What to receive, as checkboxes; `chosen` marks a form that showed them, so that
    # none ticked means none, while a form without them (embedded, JSON) means all.
    wanted = SelectMultipleField(
        "What would you like to receive?",
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    chosen = HiddenField()
    # A field people never see or fill in; robots that fill in every field do.
    website = StringField("Leave this empty", render_kw={"tabindex": "-1", "autocomplete": "off"})

    @property
    def is_robot(self) -> bool:
        return bool((self.website.data or "").strip())

    def __init__(
        self, *args: object, offered: list[tuple[str, str]] | None = None, **kwargs: object
    ) -> None:
        super().__init__(*args, **kwargs)
        self.timezone.choices = timezone_choices()
        self.wanted.choices = offered or []

    def validate_wanted(self, field: SelectMultipleField) -> None:
        if self.chosen.data and not field.data:
            raise ValidationError("Please choose at least one.")

    @property
    def choice(self) -> list[str] | None:
        """The slugs chosen, or None when the form offered no choice (everything)."""
        return list(self.wanted.data or []) if self.chosen.data else None


class ButtonForm(PostedForm):
    """A form with only a button (and its CSRF token): confirming, leaving."""

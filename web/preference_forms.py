"""The forms of the reader's preferences page: their details, and one button per change.

Each button is a small form of its own whose hidden fields say which course or list it is
about; these classes check those fields (and the CSRF token) when it is posted.
"""

from __future__ import annotations

from wtforms import HiddenField, StringField
from wtforms.validators import AnyOf, DataRequired, Length, Optional

from web.forms import PostedForm, ZoneField, _clean_name, timezone_choices

# What a course's buttons can ask for; the page decides which ones a course shows.
COURSE_ACTIONS = ("pause", "resume", "slow-down", "usual-pace", "restart", "start")
PAUSE_WEEKS = ("2", "4")  # empty: until the reader resumes


class DetailsForm(PostedForm):
    first_name = StringField(
        "First name (optional)",
        filters=[_clean_name],
        validators=[Length(max=100, message="Please keep your name under 100 characters.")],
    )
    timezone = ZoneField("Your time zone")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.timezone.choices = timezone_choices()


class CourseForm(PostedForm):
    course = HiddenField(validators=[DataRequired()])
    action = HiddenField(validators=[AnyOf(COURSE_ACTIONS)])
    weeks = HiddenField(validators=[Optional(), AnyOf(PAUSE_WEEKS)])


class ListForm(PostedForm):
    list_name = HiddenField(validators=[DataRequired()])
    turn = HiddenField(validators=[AnyOf(("on", "off"))])

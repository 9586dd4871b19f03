"""Tend's settings: read once from the environment (and an optional `.env`), checked at start-up."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
# The demo course ships beside the code: `courses/` is both a package and the curriculum.
SHIPPED_COURSES = Path(__file__).resolve().parent.parent / "courses"


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it and says what is expected."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    data_dir: Path = Field(default=Path("var"), validation_alias="TEND_DATA_DIR")
    base_url: str = Field(default="http://127.0.0.1:5000", validation_alias="TEND_BASE_URL")
    secret_key: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias="TEND_SECRET_KEY"
    )
    transport: Literal["outbox", "sendgrid", "smtp"] | None = Field(
        default=None, validation_alias="TEND_TRANSPORT"
    )
    courses_dir: Path | None = Field(default=None, validation_alias="TEND_COURSES_DIR")
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    redis_url: str | None = Field(default=None, validation_alias="REDIS_URL")
    sendgrid_api_key: str | None = Field(default=None, validation_alias="SENDGRID_API_KEY")
    smtp_url: str | None = Field(default=None, validation_alias="SMTP_URL")
    # At most this many letters (lessons and issues, all courses and newsletters together)
    # per reader per day of theirs; 0 for no limit. Later ones wait for the next day.
    daily_cap: int = Field(default=1, ge=0, validation_alias="TEND_DAILY_CAP")
    # "json": one JSON object a log line, with every field (for a log collector).
    log_format: Literal["text", "json"] = Field(default="text", validation_alias="TEND_LOG_FORMAT")
    # Set by `tend dev`: author previews open without login, files are re-read on change.
    dev: bool = Field(default=False, validation_alias="TEND_DEV")

    @field_validator("secret_key", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        # Several keys rotate: the last one signs, all of them verify.
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("must be an absolute http(s) address, like https://mail.example.org")
        if parts.scheme != "https" and parts.hostname not in LOOPBACK_HOSTS:
            raise ValueError("must use https outside local development (links go out in mail)")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment")
        return value.rstrip("/")

    @field_validator("secret_key")
    @classmethod
    def _check_keys(cls, value: list[str]) -> list[str]:
        for key in value:
            if len(key) < 32:
                raise ValueError("each key must be at least 32 characters")
        return value

    @model_validator(mode="after")
    def _pick_transport(self) -> Settings:
        if self.transport is None:
            picked = "sendgrid" if self.sendgrid_api_key else "smtp" if self.smtp_url else "outbox"
            object.__setattr__(self, "transport", picked)
        return self

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'tend.sqlite3').resolve()}"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def courses_path(self) -> Path:
        return self.courses_dir or SHIPPED_COURSES

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or "localhost"

    def require_secret_key(self) -> list[str]:
        if not self.secret_key:
            raise SettingsError(
                "TEND_SECRET_KEY is not set: it signs every link in mail. "
                'Set it to a long random value, e.g. python -c "import secrets; '
                'print(secrets.token_urlsafe(48))"'
            )
        return self.secret_key

    def require_redis_url(self) -> str:
        if not self.redis_url:
            raise SettingsError("REDIS_URL is not set (tend dev starts a Redis of its own)")
        return self.redis_url


def load_settings() -> Settings:
    """Read the settings now, turning pydantic's report into one message per bad value."""
    try:
        return Settings()
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            name = str(problem["loc"][0]) if problem["loc"] else "settings"
            value = problem.get("input")
            shown = f"={value!r}" if isinstance(value, str) and "KEY" not in name else ""
            lines.append(f"  {name}{shown}: {problem['msg']}")
        raise SettingsError("Tend cannot start, a setting is wrong:\n" + "\n".join(lines)) from None


@functools.cache
def get_settings() -> Settings:
    return load_settings()

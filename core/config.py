"""Tend's settings: read once from the environment (and an optional `.env`), checked at start-up."""

from __future__ import annotations

import base64
import functools
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from limits import parse_many
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
    sendgrid_api_host: str = Field(
        default="https://api.sendgrid.com", validation_alias="SENDGRID_API_HOST"
    )
    # Seconds to wait for SendGrid's answer; past it the batch is in doubt (see below).
    sendgrid_timeout: float = Field(default=30.0, gt=0, validation_alias="SENDGRID_TIMEOUT")
    # Open and click tracking (SendGrid rewrites links and adds a pixel): off unless asked
    # for, whatever the account's own defaults; its counts then show on the dashboard.
    tracking: bool = Field(default=False, validation_alias="TEND_TRACKING")
    # SendGrid checks each request and answers as usual, but delivers nothing.
    sendgrid_sandbox: bool = Field(default=False, validation_alias="SENDGRID_SANDBOX")
    # The event webhook's verification key (base64 DER, as SendGrid's settings page shows it).
    sendgrid_webhook_public_key: str | None = Field(
        default=None, validation_alias="SENDGRID_WEBHOOK_PUBLIC_KEY"
    )
    # Signed events older (or newer) than this many seconds are refused: no replays.
    webhook_max_age: int = Field(default=600, gt=0, validation_alias="TEND_WEBHOOK_MAX_AGE")
    smtp_url: str | None = Field(default=None, validation_alias="SMTP_URL")
    smtp_timeout: float = Field(default=30.0, gt=0, validation_alias="SMTP_TIMEOUT")
    # DKIM signing of SMTP mail (SendGrid signs its own): the private key file, the
    # selector, and the signing domain (the sender's domain when unset).
    dkim_private_key_file: Path | None = Field(
        default=None, validation_alias="DKIM_PRIVATE_KEY_FILE"
    )
    dkim_selector: str | None = Field(default=None, validation_alias="DKIM_SELECTOR")
    dkim_domain: str | None = Field(default=None, validation_alias="DKIM_DOMAIN")
    # Emails per second across every worker on every machine (a token bucket in Redis);
    # 0 for no limit.
    send_rate: float = Field(default=0.0, ge=0, validation_alias="TEND_SEND_RATE")
    # A batch whose answer never came (a timeout after the request went out) may have been
    # delivered. Its deliveries wait this many seconds for the provider's events to say;
    # then they are sent again. SendGrid retries events for 24 hours, hence 25.
    unknown_resend_after: int = Field(
        default=25 * 3600, ge=0, validation_alias="TEND_UNKNOWN_RESEND_AFTER"
    )
    # At most this many letters (lessons and issues, all courses and newsletters together)
    # per reader per day of theirs; 0 for no limit. Later ones wait for the next day.
    daily_cap: int = Field(default=1, ge=0, validation_alias="TEND_DAILY_CAP")
    # Seconds between background refreshes of the dashboard's heavy reports (the overview,
    # the calendar, the funnels, the issues): their pages show the latest refresh.
    reports_every: int = Field(default=300, ge=10, validation_alias="TEND_REPORTS_EVERY")
    # "json": one JSON object a log line, with every field (for a log collector).
    log_format: Literal["text", "json"] = Field(default="text", validation_alias="TEND_LOG_FORMAT")
    # Signups one address (IP) may send, and signups for one email address, in the
    # notation of the `limits` library: "10/minute;100/hour".
    signup_limits: str = Field(default="10/minute;100/hour", validation_alias="TEND_SIGNUP_LIMITS")
    address_limits: str = Field(default="3/10minutes", validation_alias="TEND_ADDRESS_LIMITS")
    # Dashboard login attempts one address (IP) may make; wrong passwords also lock the
    # operator's account for a while (tasks/operators.py).
    login_limits: str = Field(default="10/minute;60/hour", validation_alias="TEND_LOGIN_LIMITS")
    # Bad links (tampered, truncated, expired) one address (IP) may open on the reader's
    # pages before it must wait; good links never count.
    link_limits: str = Field(default="20/minute;200/hour", validation_alias="TEND_LINK_LIMITS")
    # Sites whose pages may post the signup form with JavaScript (CORS), comma separated:
    # "https://example.org,https://www.example.org".
    signup_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias="TEND_SIGNUP_ORIGINS"
    )
    # A bearer token for /metrics; unset, /metrics answers only to requests from this machine.
    metrics_token: str | None = Field(default=None, validation_alias="TEND_METRICS_TOKEN")
    # Proxies in front of gunicorn that set X-Forwarded-For/-Proto/-Host (one nginx or load
    # balancer: 1). Each reader's address, for rate limits and the consent record, is then
    # the one the nearest of them saw; 0 trusts no such header.
    proxy_hops: int = Field(default=0, ge=0, le=5, validation_alias="TEND_PROXY_HOPS")
    # Set by `tend dev`: author previews open without login, files are re-read on change.
    dev: bool = Field(default=False, validation_alias="TEND_DEV")

    @field_validator("secret_key", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        # Several keys rotate: the last one signs, all of them verify.
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator("signup_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip().rstrip("/") for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("signup_limits", "address_limits", "login_limits", "link_limits")
    @classmethod
    def _check_limits(cls, value: str) -> str:
        try:
            parse_many(value)
        except ValueError:
            raise ValueError('must be limits like "10/minute;100/hour"') from None
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

    @field_validator("sendgrid_api_host")
    @classmethod
    def _check_api_host(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("must be an absolute http(s) address, like https://api.sendgrid.com")
        return value.rstrip("/")

    @field_validator("sendgrid_webhook_public_key")
    @classmethod
    def _check_public_key(cls, value: str | None) -> str | None:
        if not value:
            return None
        try:
            der = base64.b64decode(value.strip(), validate=True)
            key = serialization.load_der_public_key(der)
        except ValueError:
            raise ValueError(
                "must be the verification key from SendGrid's Event Webhook settings "
                "(base64, no BEGIN/END lines)"
            ) from None
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise ValueError("must be an elliptic curve (ECDSA) public key")
        return value.strip()

    @field_validator("smtp_url")
    @classmethod
    def _check_smtp_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
                raise ValueError("must look like smtp://user:password@host:587 or smtps://...:465")
        return value

    @model_validator(mode="after")
    def _pick_transport(self) -> Settings:
        if self.transport is None:
            picked = "sendgrid" if self.sendgrid_api_key else "smtp" if self.smtp_url else "outbox"
            object.__setattr__(self, "transport", picked)
        if self.transport == "sendgrid" and not self.sendgrid_api_key:
            raise ValueError(
                "TEND_TRANSPORT=sendgrid needs SENDGRID_API_KEY (an API key with Mail Send)"
            )
        if self.transport == "smtp" and not self.smtp_url:
            raise ValueError(
                "TEND_TRANSPORT=smtp needs SMTP_URL, like smtp://user:password@host:587"
            )
        if self.dkim_private_key_file and not self.dkim_selector:
            raise ValueError("DKIM_PRIVATE_KEY_FILE needs DKIM_SELECTOR (the DNS record's name)")
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
            message = problem["msg"].removeprefix("Value error, ")
            if not problem["loc"]:  # a check of several settings together names them itself
                lines.append(f"  {message}")
                continue
            name = str(problem["loc"][0])
            value = problem.get("input")
            shown = f"={value!r}" if isinstance(value, str) and "KEY" not in name else ""
            lines.append(f"  {name}{shown}: {message}")
        raise SettingsError("Tend cannot start, a setting is wrong:\n" + "\n".join(lines)) from None


@functools.cache
def get_settings() -> Settings:
    return load_settings()

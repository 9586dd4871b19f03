"""core/config.py: settings read from the environment, checked before anything starts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

import courses
from core.config import Settings, SettingsError, load_settings

GOOD_KEY = "a-secret-key-of-at-least-32-chars-0001"
OTHER_KEY = "a-secret-key-of-at-least-32-chars-0002"
READ_BY_TEND = {"DATABASE_URL", "REDIS_URL", "SMTP_URL", "SMTP_TIMEOUT"}
READ_BY_TEND |= {f"SENDGRID_{name}" for name in ("API_KEY", "API_HOST", "TIMEOUT", "SANDBOX")}
READ_BY_TEND |= {"SENDGRID_WEBHOOK_PUBLIC_KEY", "DKIM_PRIVATE_KEY_FILE", "DKIM_SELECTOR"}


@pytest.fixture(autouse=True)
def bare_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No Tend variable from the test run, and no `.env` file in the current folder."""
    for name in list(os.environ):
        if name.upper().startswith("TEND_") or name.upper() in READ_BY_TEND:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def settings_error(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    return str(caught.value)


# Defaults


def test_with_nothing_set_it_runs_locally_with_the_outbox_and_sqlite(tmp_path: Path) -> None:
    settings = Settings()

    assert settings.transport == "outbox"
    assert settings.data_dir == Path("var")
    assert settings.database == f"sqlite:///{tmp_path.resolve() / 'var' / 'tend.sqlite3'}"
    assert settings.outbox_dir == Path("var") / "outbox"
    assert settings.base_url == "http://127.0.0.1:5000"
    assert settings.host == "127.0.0.1"
    assert settings.secret_key == []
    assert settings.redis_url is None


def test_the_database_and_outbox_live_under_the_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TEND_DATA_DIR", str(tmp_path / "data"))

    settings = Settings()

    assert settings.database == f"sqlite:///{(tmp_path / 'data' / 'tend.sqlite3').resolve()}"
    assert settings.outbox_dir == tmp_path / "data" / "outbox"


def test_a_database_url_replaces_the_sqlite_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://tend@db/tend")

    assert Settings().database == "postgresql+psycopg://tend@db/tend"


def test_the_shipped_courses_are_used_unless_a_folder_is_given(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert Settings().courses_path == Path(courses.__file__).resolve().parent

    monkeypatch.setenv("TEND_COURSES_DIR", str(tmp_path / "my-courses"))

    assert Settings().courses_path == tmp_path / "my-courses"


def test_settings_cannot_be_changed_once_read() -> None:
    settings = Settings()

    with pytest.raises(ValidationError):
        settings.base_url = "https://elsewhere.example.org"  # type: ignore[misc]


def test_it_reads_a_dot_env_file_in_the_current_folder_but_the_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(
        "TEND_BASE_URL=https://from-dotenv.example.org\nSMTP_URL=smtp://mail.example.org\n",
        encoding="utf-8",
    )

    assert Settings().base_url == "https://from-dotenv.example.org"
    assert Settings().transport == "smtp"

    monkeypatch.setenv("TEND_BASE_URL", "https://from-env.example.org")

    assert Settings().base_url == "https://from-env.example.org"


# Transport


def test_a_sendgrid_key_picks_sendgrid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.test")

    assert Settings().transport == "sendgrid"


def test_an_smtp_url_picks_smtp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_URL", "smtp://user:pass@mail.example.org:587")

    assert Settings().transport == "smtp"


def test_sendgrid_is_preferred_when_both_are_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.test")
    monkeypatch.setenv("SMTP_URL", "smtp://mail.example.org")

    assert Settings().transport == "sendgrid"


@pytest.mark.parametrize("chosen", ["outbox", "smtp", "sendgrid"])
def test_an_explicit_transport_wins(monkeypatch: pytest.MonkeyPatch, chosen: str) -> None:
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.test")
    monkeypatch.setenv("SMTP_URL", "smtp://mail.example.org")
    monkeypatch.setenv("TEND_TRANSPORT", chosen)

    assert Settings().transport == chosen


def test_an_empty_sendgrid_key_does_not_pick_sendgrid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENDGRID_API_KEY", "")

    assert Settings().transport == "outbox"


def test_an_unknown_transport_is_named_with_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    message = settings_error(monkeypatch, TEND_TRANSPORT="pigeon")

    assert message == (
        "Tend cannot start, a setting is wrong:\n"
        "  TEND_TRANSPORT='pigeon': Input should be 'outbox', 'sendgrid' or 'smtp'"
    )


@pytest.mark.parametrize(
    ("transport", "needs"),
    [("sendgrid", "SENDGRID_API_KEY"), ("smtp", "SMTP_URL")],
)
def test_a_chosen_transport_without_its_setting_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, transport: str, needs: str
) -> None:
    message = settings_error(monkeypatch, TEND_TRANSPORT=transport)

    assert message.startswith(
        f"Tend cannot start, a setting is wrong:\n  TEND_TRANSPORT={transport} needs {needs}"
    )


@pytest.mark.parametrize("url", ["http://mail.example.org", "smtp://", "mail.example.org:25"])
def test_a_malformed_smtp_url_is_named(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    message = settings_error(monkeypatch, SMTP_URL=url)

    assert f"SMTP_URL={url!r}: must look like smtp://" in message


def test_the_webhook_key_must_be_an_elliptic_curve_public_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = settings_error(monkeypatch, SENDGRID_WEBHOOK_PUBLIC_KEY="-----BEGIN PUBLIC KEY-----")

    assert "SENDGRID_WEBHOOK_PUBLIC_KEY" in message
    assert "verification key from SendGrid's Event Webhook settings" in message


def test_sendgrid_settings_have_safe_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.key")
    settings = Settings()

    assert settings.sendgrid_api_host == "https://api.sendgrid.com"
    assert settings.sendgrid_timeout == 30.0
    assert settings.sendgrid_sandbox is False
    assert settings.sendgrid_webhook_public_key is None
    assert settings.send_rate == 0
    assert settings.unknown_resend_after == 25 * 3600


# Base URL


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("https://mail.example.org", "https://mail.example.org"),
        ("https://mail.example.org/", "https://mail.example.org"),
        ("https://example.org/tend/", "https://example.org/tend"),
        ("http://127.0.0.1:5000/", "http://127.0.0.1:5000"),
        ("http://localhost:8000", "http://localhost:8000"),
        ("http://[::1]:5000", "http://[::1]:5000"),
    ],
)
def test_the_base_url_is_kept_without_a_trailing_slash(
    monkeypatch: pytest.MonkeyPatch, given: str, kept: str
) -> None:
    monkeypatch.setenv("TEND_BASE_URL", given)

    assert Settings().base_url == kept


def test_the_host_comes_from_the_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEND_BASE_URL", "https://Mail.Example.org:8443/tend")

    assert Settings().host == "mail.example.org"


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ("http://mail.example.org", "must use https outside local development"),
        ("http://localhost.example.org", "must use https outside local development"),
        ("http://10.0.0.5:5000", "must use https outside local development"),
        ("ftp://mail.example.org", "must be an absolute http(s) address"),
        ("mail.example.org", "must be an absolute http(s) address"),
        ("https://", "must be an absolute http(s) address"),
        ("https://mail.example.org/?ref=mail", "must not have a query or fragment"),
        ("https://mail.example.org/#top", "must not have a query or fragment"),
    ],
)
def test_a_bad_base_url_is_named_with_its_value_and_the_reason(
    monkeypatch: pytest.MonkeyPatch, given: str, why: str
) -> None:
    message = settings_error(monkeypatch, TEND_BASE_URL=given)

    assert message.startswith(
        f"Tend cannot start, a setting is wrong:\n  TEND_BASE_URL={given!r}: {why}"
    )
    assert message.count("\n") == 1


# Secret keys


def test_the_secret_key_is_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEND_SECRET_KEY", f" {GOOD_KEY} , {OTHER_KEY},")

    assert Settings().secret_key == [GOOD_KEY, OTHER_KEY]


def test_a_single_secret_key_is_a_list_of_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEND_SECRET_KEY", GOOD_KEY)

    settings = Settings()

    assert settings.secret_key == [GOOD_KEY]
    assert settings.require_secret_key() == [GOOD_KEY]


@pytest.mark.parametrize("value", ["too-short-but-secret", f"{GOOD_KEY},tiny-but-secret"])
def test_a_short_secret_key_is_rejected_without_showing_it(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    message = settings_error(monkeypatch, TEND_SECRET_KEY=value)

    assert message == (
        "Tend cannot start, a setting is wrong:\n"
        "  TEND_SECRET_KEY: each key must be at least 32 characters"
    )
    for key in value.split(","):
        assert key not in message


def test_every_bad_setting_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    message = settings_error(
        monkeypatch,
        TEND_BASE_URL="http://mail.example.org",
        TEND_SECRET_KEY="short-secret",
        TEND_TRANSPORT="pigeon",
    )

    lines = message.splitlines()
    assert lines[0] == "Tend cannot start, a setting is wrong:"
    assert sorted(line.split(":", 1)[0].split("=", 1)[0].strip() for line in lines[1:]) == [
        "TEND_BASE_URL",
        "TEND_SECRET_KEY",
        "TEND_TRANSPORT",
    ]
    assert "short-secret" not in message


def test_good_settings_load_without_complaint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEND_BASE_URL", "https://mail.example.org/")
    monkeypatch.setenv("TEND_SECRET_KEY", GOOD_KEY)
    monkeypatch.setenv("REDIS_URL", "redis://localhost:6379/0")

    settings = load_settings()

    assert settings.base_url == "https://mail.example.org"
    assert settings.require_secret_key() == [GOOD_KEY]
    assert settings.require_redis_url() == "redis://localhost:6379/0"


def test_a_missing_secret_key_is_refused_when_it_is_needed() -> None:
    settings = Settings()

    with pytest.raises(SettingsError, match=r"^TEND_SECRET_KEY is not set: it signs every link"):
        settings.require_secret_key()


def test_an_empty_secret_key_counts_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEND_SECRET_KEY", " , ")

    with pytest.raises(SettingsError, match="TEND_SECRET_KEY is not set"):
        Settings().require_secret_key()


def test_a_missing_redis_url_is_refused_when_it_is_needed() -> None:
    with pytest.raises(SettingsError, match=r"^REDIS_URL is not set"):
        Settings().require_redis_url()

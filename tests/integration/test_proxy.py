"""Behind a proxy: each reader's own address, and only when the proxy is declared."""

from __future__ import annotations

from core.config import Settings
from core.db import session_scope
from tasks import readers
from web import create_app

FORWARDED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}


def consent_ip_of(settings: Settings, email: str) -> str | None:
    client = create_app(settings).test_client()
    body = {"email": email, "timezone": "UTC", "consent": True}
    answer = client.post("/subscribe", json=body, headers=FORWARDED)
    assert answer.status_code == 202
    with session_scope() as session:
        reader = readers.find_by_email(session, email)
        assert reader is not None
        return reader.consent_ip


def test_a_declared_proxy_passes_on_the_readers_address(db: None, settings: Settings) -> None:
    behind_one = settings.model_copy(update={"proxy_hops": 1})
    assert consent_ip_of(behind_one, "ann@example.org") == "203.0.113.7"


def test_without_a_declared_proxy_forwarded_headers_are_not_believed(
    db: None, settings: Settings
) -> None:
    assert consent_ip_of(settings, "bo@example.org") == "127.0.0.1"

"""The SendGrid event webhook, beyond tests/integration/test_events.py (which holds a
tampered body, a stale timestamp, malformed signatures and timestamps, an oversized body
and a replayed post stored once): a post signed with another key, one whose timestamp
is far ahead, a signature over another timestamp, and a signed body sent as a form. Each
is a 403 and stores nothing; the control, the same events rightly signed, is stored.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from core.config import Settings
from tests.support.attacks import database_state
from tests.support.sendgrid_standin import SendGridStandIn
from web import create_app

HOOK = "/hooks/sendgrid"


@pytest.fixture
def sendgrid() -> Iterator[SendGridStandIn]:
    with SendGridStandIn(api_key="SG.events") as standin:
        yield standin


@pytest.fixture
def hooked(db: None, settings: Settings, sendgrid: SendGridStandIn) -> FlaskClient:
    configured = settings.model_copy(update={"sendgrid_webhook_public_key": sendgrid.public_key})
    app = create_app(configured)
    app.config["TESTING"] = True
    return app.test_client()


def bounce() -> bytes:
    event = {
        "email": "reader@example.org",
        "event": "bounce",
        "type": "bounce",
        "reason": "550 no such user",
        "sg_event_id": "forged-1",
        "sg_message_id": "msg-1.filter",
        "timestamp": int(time.time()),
    }
    return json.dumps([event]).encode()


def refused_and_nothing_stored(client: FlaskClient, body: bytes, **post: object) -> bool:
    before = database_state()
    answer = client.post(HOOK, data=body, **post)  # type: ignore[arg-type]
    return answer.status_code == 403 and database_state() == before


def test_a_post_signed_with_another_key_is_refused(
    hooked: FlaskClient, sendgrid: SendGridStandIn
) -> None:
    with SendGridStandIn(api_key="SG.other") as forger:
        headers = forger.sign(bounce())
    assert refused_and_nothing_stored(hooked, bounce(), headers=headers)
    assert hooked.post(HOOK, data=bounce(), headers=sendgrid.sign(bounce())).status_code == 200


@pytest.mark.parametrize("ahead", [3600, 86400 * 365])
def test_a_timestamp_far_ahead_is_refused_even_rightly_signed(
    hooked: FlaskClient, sendgrid: SendGridStandIn, settings: Settings, ahead: int
) -> None:
    assert ahead > settings.webhook_max_age
    stamp = str(int(time.time()) + ahead)
    assert refused_and_nothing_stored(hooked, bounce(), headers=sendgrid.sign(bounce(), stamp))


def test_a_signature_over_another_timestamp_is_refused(
    hooked: FlaskClient, sendgrid: SendGridStandIn
) -> None:
    headers = sendgrid.sign(bounce(), str(int(time.time()) - 5))
    headers["X-Twilio-Email-Event-Webhook-Timestamp"] = str(int(time.time()))
    assert refused_and_nothing_stored(hooked, bounce(), headers=headers)


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
)
def test_a_body_sent_as_a_form_is_checked_as_the_same_bytes(
    hooked: FlaskClient, sendgrid: SendGridStandIn, content_type: str
) -> None:
    """The signature covers the raw body whatever the content type says: a form parser
    never gets to take the body apart and hand on something unsigned."""
    forged = bounce().replace(b"550", b"551")
    headers = sendgrid.sign(bounce())
    assert refused_and_nothing_stored(hooked, forged, headers=headers, content_type=content_type)

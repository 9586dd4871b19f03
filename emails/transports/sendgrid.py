"""SendGrid's v3 Mail Send API: one request carries a letter to up to 1,000 readers.

The letter travels once, with placeholders; each reader's values go in their
personalization as substitutions, with their own List-Unsubscribe header and our ids in
`custom_args` (SendGrid returns those in every event about the message).

What a failure means for the readers of a batch:
- no answer because the connection could not be made or the request not written: nothing
  was sent; retry later.
- 429: SendGrid's rate limit; retry after `X-RateLimit-Reset`.
- 5xx: SendGrid's trouble; retry with backoff.
- other 4xx: the request itself is wrong; retrying will not help (permanent, with
  SendGrid's own message).
- the request went out and the answer never came (a timeout, a dropped connection): the
  mail may be on its way. The error is `ambiguous`; the deliveries wait for events.
"""

from __future__ import annotations

import html
import http.client
import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.error import URLError

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from core.config import Settings
from emails.batch import Batch, Recipient
from emails.render import Rendered
from emails.templating import PLACEHOLDER
from emails.transports.base import Outcome, TransportError

MAX_PERSONALIZATIONS = 1000
TEXT_SUFFIX = ":text"  # the text part's placeholders: its values are not HTML-escaped


class SendGridTransport:
    name = "sendgrid"
    batch_size = MAX_PERSONALIZATIONS

    def __init__(
        self,
        api_key: str,
        *,
        host: str,
        timeout: float,
        sandbox: bool = False,
        tracking: bool = False,
    ) -> None:
        self.client = SendGridAPIClient(api_key=api_key, host=host)
        # The library's HTTP client waits forever unless told otherwise.
        self.client.client.timeout = timeout
        self.sandbox = sandbox
        self.tracking = tracking

    @classmethod
    def from_settings(cls, settings: Settings) -> SendGridTransport:
        assert settings.sendgrid_api_key, "the settings check refuses sendgrid without a key"
        return cls(
            settings.sendgrid_api_key,
            host=settings.sendgrid_api_host,
            timeout=settings.sendgrid_timeout,
            sandbox=settings.sendgrid_sandbox,
            tracking=settings.tracking,
        )

    def send(self, batch: Batch) -> list[Outcome]:
        if len(batch.recipients) > MAX_PERSONALIZATIONS:
            raise ValueError(f"SendGrid takes at most {MAX_PERSONALIZATIONS} readers a request")
        try:
            body = request_body(batch, sandbox=self.sandbox, tracking=self.tracking)
            response = self.client.send(body)
        except HTTPError as error:
            raise http_error(error) from None
        except URLError as error:
            # urllib wraps what fails while connecting or writing the request: not sent.
            raise TransportError(
                f"could not reach SendGrid: {error.reason}", permanent=False
            ) from None
        except (OSError, http.client.HTTPException) as error:
            # Failed while waiting for the answer: SendGrid may have taken the request.
            raise TransportError(
                f"no answer from SendGrid after the request went out: {error!r}",
                permanent=False,
                ambiguous=True,
            ) from None
        message_id = response.headers.get("X-Message-Id")
        return [Outcome(recipient.key, provider_id=message_id) for recipient in batch.recipients]

    def close(self) -> None:
        """Each request opens its own connection: nothing is kept open."""


def request_body(batch: Batch, *, sandbox: bool = False, tracking: bool = False) -> dict[str, Any]:
    """The v3 Mail Send request for a batch: the letter once, a personalization a reader."""
    letter = batch.letter
    body: dict[str, Any] = {
        "from": _address(batch.from_email, batch.from_name),
        "subject": letter.subject,
        # SendGrid requires text/plain before text/html.
        "content": [
            {"type": "text/plain", "value": _text_tags(letter.text)},
            {"type": "text/html", "value": letter.html},
        ],
        "personalizations": [_personalization(letter, r) for r in batch.recipients],
    }
    if batch.reply_to:
        body["reply_to"] = {"email": batch.reply_to}
    if batch.headers:
        body["headers"] = dict(batch.headers)
    if batch.categories:
        body["categories"] = [category[:255] for category in batch.categories[:10]]
    if sandbox:
        body["mail_settings"] = {"sandbox_mode": {"enable": True}}
    # Said in every request, so an account that tracks by default does not: no rewritten
    # links, no pixel. SendGrid's own unsubscribe footer never: ours is in every letter.
    body["tracking_settings"] = {
        "click_tracking": {"enable": tracking, "enable_text": False},
        "open_tracking": {"enable": tracking},
        "subscription_tracking": {"enable": False},
    }
    return body


def _personalization(letter: Rendered, recipient: Recipient) -> dict[str, Any]:
    personalization: dict[str, Any] = {"to": [_address(recipient.to, recipient.to_name)]}
    substitutions = _substitutions(letter, recipient.values)
    if substitutions:
        personalization["substitutions"] = substitutions
    if recipient.headers:
        personalization["headers"] = dict(recipient.headers)
    if recipient.tags:
        personalization["custom_args"] = dict(recipient.tags)
    return personalization


def _substitutions(letter: Rendered, values: Mapping[str, str | None]) -> dict[str, str]:
    """Each placeholder twice: escaped for the HTML part, as it is for the text part."""
    substitutions = {}
    for tag in letter.tags:
        value = letter.value(tag, values)
        substitutions[f"%%{tag}%%"] = html.escape(value)
        substitutions[f"%%{tag}{TEXT_SUFFIX}%%"] = value
    return substitutions


def _text_tags(text: str) -> str:
    return PLACEHOLDER.sub(lambda match: f"%%{match.group(1)}{TEXT_SUFFIX}%%", text)


def _address(email: str, name: str | None) -> dict[str, str]:
    return {"email": email, "name": name} if name else {"email": email}


def http_error(error: HTTPError) -> TransportError:
    status = error.status_code
    message = f"SendGrid answered {status}: {_errors(error.body)}"
    if status == 429:
        return TransportError(message, permanent=False, retry_after=_reset_in(error.headers))
    if status >= 500:
        return TransportError(message, permanent=False)
    return TransportError(message, permanent=True)


def _errors(body: bytes | str | None) -> str:
    """SendGrid's own words: `{"errors": [{"message": ..., "field": ...}]}`."""
    try:
        problems = json.loads(body or b"")["errors"]
        return "; ".join(
            f"{p.get('field')}: {p.get('message')}" if p.get("field") else str(p.get("message"))
            for p in problems
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        text = body.decode(errors="replace") if isinstance(body, bytes) else str(body or "")
        return text[:500] or "no explanation"


def _reset_in(headers: Any) -> float | None:
    """Seconds until SendGrid's rate limit resets (the header is a Unix time)."""
    try:
        reset = float(headers.get("X-RateLimit-Reset"))
    except (TypeError, ValueError, AttributeError):
        return None
    return max(1.0, reset - time.time())

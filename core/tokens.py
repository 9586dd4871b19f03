"""Signed tokens for links in mail. They carry a reader's opaque uid, never an address."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer


class Purpose(enum.StrEnum):
    """Each purpose signs with its own salt, so a token for one can never serve another."""

    CONFIRM = "confirm"
    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"


# How long a link stays good, in seconds; None: as long as the key is kept.
LIFETIMES: dict[Purpose, int | None] = {
    Purpose.CONFIRM: 7 * 24 * 3600,
    Purpose.UNSUBSCRIBE: None,
    Purpose.PREFERENCES: None,
}


class TokenError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "expired" or "invalid"


@dataclass(frozen=True)
class Signer:
    secret_keys: list[str]

    def _serializer(self, purpose: Purpose) -> URLSafeTimedSerializer:
        # itsdangerous signs with the last key and accepts any of them: keys rotate by
        # appending the new one.
        return URLSafeTimedSerializer(self.secret_keys, salt=f"tend.{purpose}")

    def sign(self, purpose: Purpose, uid: str) -> str:
        return self._serializer(purpose).dumps(uid)

    def unsign(self, purpose: Purpose, token: str) -> str:
        try:
            uid = self._serializer(purpose).loads(token, max_age=LIFETIMES[purpose])
        except SignatureExpired:
            raise TokenError("expired") from None
        except BadSignature:
            raise TokenError("invalid") from None
        if not isinstance(uid, str):
            raise TokenError("invalid")
        return uid

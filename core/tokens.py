"""Signed tokens for links in mail. They carry a reader's opaque uid, never an address."""

from __future__ import annotations

import enum
import functools
import hmac
import re
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner
from itsdangerous.signer import HMACAlgorithm


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


UID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class Signer:
    secret_keys: list[str]

    def sign(self, purpose: Purpose, uid: str) -> str:
        # The uid is URL-safe already, so it is signed as it is: `uid.time.signature`.
        # (A serializer's JSON and compression cost five times as much, and every message
        # carries two links.)
        return _signer(tuple(self.secret_keys), purpose).sign(uid).decode()

    def unsign(self, purpose: Purpose, token: str) -> str:
        signer = _signer(tuple(self.secret_keys), purpose)
        try:
            uid = signer.unsign(token, max_age=LIFETIMES[purpose]).decode()
        except SignatureExpired:
            raise TokenError("expired") from None
        except (BadSignature, UnicodeError):
            raise TokenError("invalid") from None
        if not UID.fullmatch(uid):
            raise TokenError("invalid")
        return uid


class _HMAC(HMACAlgorithm):
    """itsdangerous's HMAC-SHA1, computed by the one-shot `hmac.digest` (OpenSSL in C):
    the same signatures at a tenth of the cost of building an `hmac.HMAC` object."""

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        return hmac.digest(key, value, "sha1")


@functools.cache
def _signer(secret_keys: tuple[str, ...], purpose: Purpose) -> TimestampSigner:
    # itsdangerous signs with the last key and accepts any of them: keys rotate by
    # appending the new one.
    return TimestampSigner(list(secret_keys), salt=f"tend.{purpose}", algorithm=_HMAC())

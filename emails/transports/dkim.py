"""DKIM signing of outgoing SMTP mail (RFC 6376), with dkimpy.

SendGrid signs what it sends; mail handed to an SMTP server is signed here, so that the
receiving side can tie it to the sender's domain (DMARC alignment, and RFC 8058 one-click
unsubscribe, which Gmail and Yahoo honour only when DKIM covers both List-Unsubscribe
headers).
"""

from __future__ import annotations

from pathlib import Path

import dkim
from dkim.crypto import UnparsableKeyError, parse_pem_private_key

# The headers the signature covers. `from` is listed twice ("oversigned") so that no second
# From can be added to a signed message without breaking the signature. Headers a message
# lacks (Reply-To, List-Id on a test send) are still listed: a verifier treats them as
# empty, so they cannot be added later either.
SIGNED_HEADERS = tuple(
    name.encode()
    for name in (
        "from",
        "from",
        "to",
        "reply-to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "list-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
    )
)


class DkimKeyError(Exception):
    """The private key file cannot be read or is not an RSA key in PEM form."""


class DkimSigner:
    """Signs whole messages (bytes, CRLF line endings) with one key and selector."""

    def __init__(self, private_key: bytes, selector: str, domain: str | None = None) -> None:
        # dkim.sign parses the key on every call; parsing it once here makes a bad key
        # fail at start-up rather than on every message.
        try:
            parse_pem_private_key(private_key)
        except UnparsableKeyError as error:
            raise DkimKeyError(
                f"the DKIM key is not an RSA private key in PEM form: {error}"
            ) from None
        self.private_key = private_key
        self.selector = selector
        self.domain = domain

    @classmethod
    def from_file(cls, path: Path, selector: str, domain: str | None = None) -> DkimSigner:
        try:
            key = path.read_bytes()
        except OSError as error:
            raise DkimKeyError(f"cannot read the DKIM key {path}: {error.strerror}") from None
        return cls(key, selector, domain)

    def signing_domain(self, from_email: str) -> str:
        """The d= domain: the configured one, else the sender's (what DMARC aligns with)."""
        return self.domain or from_email.rpartition("@")[2]

    def sign(self, message: bytes, from_email: str) -> bytes:
        """The message with a DKIM-Signature header in front (rsa-sha256, relaxed/relaxed)."""
        signature = dkim.sign(
            message,
            self.selector.encode("ascii"),
            self.signing_domain(from_email).encode("idna"),
            self.private_key,
            canonicalize=(b"relaxed", b"relaxed"),
            signature_algorithm=b"rsa-sha256",
            include_headers=list(SIGNED_HEADERS),
            linesep=b"\r\n",
        )
        return signature + message

"""Addresses of the pages that links in mail lead to. The web routes use the same paths."""

from __future__ import annotations

from core.tokens import Purpose, Signer

PATHS = {
    Purpose.CONFIRM: "/confirm/",
    Purpose.UNSUBSCRIBE: "/u/",
    Purpose.PREFERENCES: "/p/",
}


def link(base_url: str, signer: Signer, purpose: Purpose, uid: str) -> str:
    """An absolute link under TEND_BASE_URL carrying a signed token for the reader's uid."""
    return f"{base_url}{PATHS[purpose]}{signer.sign(purpose, uid)}"

"""Headers every bulk message carries (RFC 2369, RFC 2919, RFC 8058)."""

from __future__ import annotations


def list_headers(list_name: str, list_slug: str, host: str, unsubscribe_url: str) -> dict[str, str]:
    """List-Id and one-click List-Unsubscribe, which Gmail and Yahoo require of bulk mail."""
    return {**list_id(list_name, list_slug, host), **unsubscribe_headers(unsubscribe_url)}


def list_id(list_name: str, list_slug: str, host: str) -> dict[str, str]:
    """The same for every reader of a list."""
    safe_name = list_name.replace('"', "").replace("\r", " ").replace("\n", " ")
    return {"List-Id": f'"{safe_name}" <{list_slug}.{host}>'}


def unsubscribe_headers(unsubscribe_url: str) -> dict[str, str]:
    """Each reader's own. `unsubscribe_url` must need no login: a mail provider POSTs to it
    without cookies."""
    return {
        "List-Unsubscribe": f"<{unsubscribe_url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }

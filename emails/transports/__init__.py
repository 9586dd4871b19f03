"""Transports, chosen by the TEND_TRANSPORT setting."""

from __future__ import annotations

from pathlib import Path

from emails.transports.base import Outcome, Transport, TransportError
from emails.transports.outbox import OutboxTransport

__all__ = ["OutboxTransport", "Outcome", "Transport", "TransportError", "make_transport"]


def make_transport(name: str, *, outbox_dir: Path) -> Transport:
    if name == "outbox":
        return OutboxTransport(outbox_dir)
    raise ValueError(
        f"TEND_TRANSPORT={name} is not available in this version of Tend; use outbox "
        "(unset SENDGRID_API_KEY and SMTP_URL, or set TEND_TRANSPORT=outbox)"
    )

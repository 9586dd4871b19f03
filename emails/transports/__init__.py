"""Transports, chosen by the TEND_TRANSPORT setting."""

from __future__ import annotations

from core.config import Settings
from emails.transports.base import Outcome, Transport, TransportError
from emails.transports.outbox import OutboxTransport

__all__ = ["OutboxTransport", "Outcome", "Transport", "TransportError", "make_transport"]


def make_transport(settings: Settings) -> Transport:
    if settings.transport == "sendgrid":
        from emails.transports.sendgrid import SendGridTransport

        return SendGridTransport.from_settings(settings)
    if settings.transport == "smtp":
        from emails.transports.smtp import SmtpTransport

        return SmtpTransport.from_settings(settings)
    return OutboxTransport(settings.outbox_dir)

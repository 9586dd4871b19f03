"""Letters as a sample reader would get them: for author previews and test sends."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from core.config import Settings
from courses.model import Catalog, Letter, Publication
from emails.batch import single
from emails.headers import list_headers
from emails.message import Message, from_publication
from emails.render import PREFERENCES_URL, UNSUBSCRIBE_URL, render
from emails.transports import Outcome, TransportError, make_transport


@dataclass(frozen=True)
class SampleReader:
    email: str = "reader@example.org"
    first_name: str | None = "Sam"
    timezone: str = "UTC"


def find_letter(catalog: Catalog, reference: str) -> tuple[Publication, Letter]:
    return catalog.letter(reference)


def sample_message(
    settings: Settings, publication: Publication, letter: Letter, reader: SampleReader
) -> Message:
    """The message a reader would get, with sample links (they lead to a friendly page)."""
    base_url = settings.base_url
    unsubscribe = f"{base_url}/u/sample"
    rendered = render(publication, letter, base_url)
    values = {UNSUBSCRIBE_URL: unsubscribe, PREFERENCES_URL: f"{base_url}/p/sample"}
    html, text = rendered.for_reader({**values, "first_name": reader.first_name})
    return from_publication(
        publication,
        to=reader.email,
        to_name=reader.first_name,
        subject=rendered.subject,
        html=html,
        text=text,
        headers=list_headers(publication.title, publication.slug, settings.host, unsubscribe),
        tags={"tend_kind": "test"},
    )


def send_test(
    settings: Settings, catalog: Catalog, reference: str, to: str, name: str | None = None
) -> Outcome:
    """Send one letter to `to` through the configured transport, marked as a test."""
    publication, letter = find_letter(catalog, reference)
    reader = SampleReader(email=to, first_name=name)
    message = sample_message(settings, publication, letter, reader)
    marked = dataclasses.replace(message, subject=f"[Test] {message.subject}")
    transport = make_transport(settings)
    try:
        return transport.send(single(marked))[0]
    except TransportError as error:
        return Outcome(0, error=error)
    finally:
        transport.close()

"""How fast a lesson becomes mail: render once, personalise per reader; and the outbox.

    python bench/render.py [readers]

Prints the cost of rendering a lesson (Markdown, template, layout, MJML), the cost of
personalising it for one reader, and, for `readers` readers of one lesson (10,000 by
default), render-once-and-personalise against rendering every letter from scratch,
measured in the same run.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from courses.loader import load_catalog
from emails import render as rendering
from emails.headers import list_headers
from emails.message import Message, new_message_id
from emails.render import PREFERENCES_URL, UNSUBSCRIBE_URL
from emails.transports import OutboxTransport

COURSES = Path(__file__).resolve().parent.parent / "courses"
BASE_URL = "https://tend.example.org"


def median_seconds(step: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        step()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def reader_values(number: int) -> dict[str, str | None]:
    return {
        "first_name": f"Reader {number}" if number % 3 else None,
        UNSUBSCRIBE_URL: f"{BASE_URL}/u/{'x' * 70}{number}",
        PREFERENCES_URL: f"{BASE_URL}/p/{'y' * 70}{number}",
    }


def main(readers: int) -> None:
    newsletter = load_catalog(COURSES).newsletters["remember-and-reclaim"]
    issue = newsletter.issues[0]  # it greets each reader by name

    def from_scratch() -> rendering.Rendered:
        return rendering.render_letter(
            newsletter, issue, BASE_URL, {"issue": {}, "newsletter": {}}, ""
        )

    render_once = median_seconds(from_scratch, 50)
    rendered = rendering.render_issue(newsletter, issue, BASE_URL)
    values = [reader_values(number) for number in range(readers)]
    personalise = median_seconds(lambda: rendered.for_reader(values[7]), 2000)

    started = time.perf_counter()
    once = rendering.render_issue(newsletter, issue, BASE_URL)
    for reader in values:
        once.for_reader(reader)
    cached_total = time.perf_counter() - started

    started = time.perf_counter()
    for reader in values:
        from_scratch().for_reader(reader)
    scratch_total = time.perf_counter() - started

    html, text = rendered.for_reader(values[1])
    message = Message(
        to="reader@example.org", to_name="Reader", from_email=newsletter.from_email,
        from_name=newsletter.from_name, subject=issue.subject, text=text, html=html,
        headers=list_headers(newsletter.title, newsletter.slug, "tend.example.org", BASE_URL),
        message_id=new_message_id(newsletter.from_email),
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        outbox = OutboxTransport(Path(folder))
        write = median_seconds(lambda: outbox.send([message]), 200)

    print(f"render a letter (template, Markdown, layout, MJML): {render_once * 1e3:8.3f} ms")
    print(f"personalise it for one reader:                     {personalise * 1e6:8.1f} µs")
    print(f"{readers} readers, render once + personalise:     {cached_total:8.3f} s")
    print(f"{readers} readers, render every letter from scratch: {scratch_total:8.3f} s")
    print(
        f"ratio from scratch / render once:                  {scratch_total / cached_total:8.1f}x"
    )
    print(f"outbox: build MIME and write one .eml:             {write * 1e3:8.3f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)

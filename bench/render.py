"""How fast a lesson becomes mail: render once (MJML), then personalise and write per reader.

    python bench/render.py [readers]

Prints the time of each step and their ratios, measured in one run.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from courses.loader import load_catalog
from emails.headers import list_headers
from emails.message import Message, new_message_id
from emails.render import UNSUBSCRIBE_URL, render_lesson
from emails.transports import OutboxTransport

COURSES = Path(__file__).resolve().parent.parent / "courses"


def timed(step: Callable[[], object], repeat: int) -> float:
    """The median seconds of one call, over `repeat` calls."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        step()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main(readers: int) -> None:
    course = load_catalog(COURSES)["softening-sessions"]
    lesson = course.lessons[1]
    rendered = render_lesson(course, lesson, "tend.example.org")
    url = "https://tend.example.org/u/" + "x" * 80

    render = timed(lambda: render_lesson(course, lesson, "tend.example.org"), 50)
    personalise = timed(lambda: rendered.for_reader({UNSUBSCRIBE_URL: url}), 500)

    html, text = rendered.for_reader({UNSUBSCRIBE_URL: url})
    messages = [
        Message(
            to=f"reader{n}@example.org",
            to_name=None,
            from_email=course.from_email,
            from_name=course.from_name,
            subject=lesson.subject,
            text=text,
            html=html,
            headers=list_headers(course.title, course.slug, "tend.example.org", url),
            message_id=new_message_id(course.from_email),
        )
        for n in range(readers)
    ]
    with tempfile.TemporaryDirectory() as folder:
        transport = OutboxTransport(Path(folder))
        started = time.perf_counter()
        transport.send(messages)
        write = (time.perf_counter() - started) / readers

    print(f"render lesson (markdown + MJML), once per lesson: {render * 1e3:8.3f} ms")
    print(f"personalise, per reader:                          {personalise * 1e3:8.3f} ms")
    print(f"build MIME and write .eml, per reader ({readers}):     {write * 1e3:8.3f} ms")
    print(f"ratio render / personalise: {render / personalise:6.1f}x")
    print(f"ratio render / outbox write: {render / write:6.1f}x")
    print(f"outbox throughput: {1 / (personalise + write):8.0f} messages/s on one core")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)

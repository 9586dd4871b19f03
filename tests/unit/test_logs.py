"""Log lines carry the fields a record was given and the ids of the work they belong to."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator

import pytest

from core import logs
from core.logs import JsonFormatter
from tasks.jobs import delivery_fields
from tests.support.log_lines import Lines


def capture(log_format: logs.LogFormat) -> Iterator[tuple[logging.Logger, Lines]]:
    """A logger of its own, not the root, whose one handler is set up as a process's is."""
    logger = logging.getLogger(f"tend-test-logs-{log_format}")
    handler = Lines()
    logs.format_handler(handler, log_format)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, handler
    finally:
        logger.removeHandler(handler)


@pytest.fixture
def json_lines() -> Iterator[tuple[logging.Logger, Lines]]:
    yield from capture("json")


@pytest.fixture
def text_lines() -> Iterator[tuple[logging.Logger, Lines]]:
    yield from capture("text")


def test_a_record_becomes_one_json_object_with_its_extra_fields() -> None:
    record = logging.LogRecord("tasks.jobs", logging.INFO, __file__, 1, "tick: %d due", (3,), None)
    record.due = 3
    record.seconds = 0.25
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "tick: 3 due"
    assert line["level"] == "info"
    assert line["logger"] == "tasks.jobs"
    assert (line["due"], line["seconds"]) == (3, 0.25)
    assert "args" not in line
    assert "msg" not in line


def test_every_line_in_a_context_carries_its_ids_also_a_librarys(
    json_lines: tuple[logging.Logger, Lines],
) -> None:
    logger, handler = json_lines
    library = logger.getChild("sqlalchemy.engine")  # a logger that only propagates
    with logs.bound(request_id="req-1"):
        logger.info("ours")
        library.info("theirs")
    logger.info("after")
    ours, theirs, after = handler.json()
    assert ours["request_id"] == theirs["request_id"] == "req-1"
    assert theirs["logger"].endswith("sqlalchemy.engine")
    assert "request_id" not in after


def test_nested_contexts_add_their_fields_and_each_exit_restores_the_one_before(
    json_lines: tuple[logging.Logger, Lines],
) -> None:
    logger, handler = json_lines
    with logs.bound(task_id="t-1", task="tasks.jobs.send_batch"):
        with logs.bound(delivery_id=7):
            logger.info("inner")
            with logs.bound(task_id="t-2"):
                logger.info("innermost")
        logger.info("outer")
    assert logs.current() == {}
    inner, innermost, outer = handler.json()
    assert (inner["task_id"], inner["task"], inner["delivery_id"]) == (
        "t-1",
        "tasks.jobs.send_batch",
        7,
    )
    assert (innermost["task_id"], innermost["delivery_id"]) == ("t-2", 7)
    assert outer["task_id"] == "t-1"
    assert "delivery_id" not in outer


def test_a_field_given_in_extra_wins_over_the_contexts(
    json_lines: tuple[logging.Logger, Lines],
) -> None:
    logger, handler = json_lines
    with logs.bound(delivery_id=1, task_id="t-1"):
        logger.info("about another", extra={"delivery_id": 2})
    [line] = handler.json()
    assert (line["delivery_id"], line["task_id"]) == (2, "t-1")


def test_an_exception_is_still_one_json_line_with_its_ids_and_traceback(
    json_lines: tuple[logging.Logger, Lines],
) -> None:
    logger, handler = json_lines
    with logs.bound(request_id="req-9"):
        try:
            raise ValueError("a broken\nmulti-line message")
        except ValueError:
            logger.exception("unexpected error")
    [text] = handler.lines
    assert "\n" not in text, "a traceback must not split the line"
    line = json.loads(text)
    assert line["request_id"] == "req-9"
    assert line["level"] == "error"
    assert "Traceback" in line["error"]
    assert "ValueError: a broken\nmulti-line message" in line["error"]


def test_a_text_line_ends_its_first_line_with_the_ids_and_keeps_the_traceback_below(
    text_lines: tuple[logging.Logger, Lines],
) -> None:
    logger, handler = text_lines
    logger.info("plain")
    with logs.bound(task_id="t-3", delivery_first=10, delivery_last=12, deliveries=3):
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logger.exception("batch failed")
    plain, failed = handler.lines
    assert plain.endswith("plain"), "no context, no brackets"
    first, *rest = failed.splitlines()
    assert first.endswith("batch failed [task_id=t-3 delivery_first=10 delivery_last=12]")
    assert rest[0].startswith("Traceback")
    assert rest[-1] == "RuntimeError: boom"


def test_another_thread_does_not_see_this_threads_context(
    json_lines: tuple[logging.Logger, Lines],
) -> None:
    logger, handler = json_lines
    with logs.bound(request_id="mine"):
        thread = threading.Thread(target=logger.info, args=("from another request",))
        thread.start()
        thread.join(timeout=5)
    assert not thread.is_alive()
    [line] = handler.json()
    assert "request_id" not in line


def test_setting_up_stderr_twice_keeps_one_handler(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    level = root.level
    try:
        first = logs.log_to_stderr("text")
        assert logs.log_to_stderr("json") is first
        assert [each for each in root.handlers if each.name == logs.HANDLER_NAME] == [first]
        with logs.bound(request_id="req-5"):
            logging.getLogger("tend-test-logs").info("to stderr")
        line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
        assert (line["message"], line["request_id"]) == ("to stderr", "req-5")
    finally:
        root.removeHandler(first)
        root.setLevel(level)


def test_a_batch_names_its_deliveries_by_count_and_range_and_one_by_its_id() -> None:
    assert delivery_fields([42]) == {"delivery_id": 42}
    assert delivery_fields([9, 3, 5]) == {"deliveries": 3, "delivery_first": 3, "delivery_last": 9}
    assert delivery_fields([]) == {"deliveries": 0}

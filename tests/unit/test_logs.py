"""JSON log lines carry the fields a record was given."""

from __future__ import annotations

import json
import logging

from core.logs import JsonFormatter


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

"""Cells of an export: text a spreadsheet shows, never a formula it runs."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from core.models import SubscriberStatus
from tasks.exports import csv_text, safe_cell


@pytest.mark.parametrize(
    "value",
    ["=HYPERLINK(\"https://evil.example\",\"click\")", "+1+2", "-2+3", "@SUM(A1)",
     "\tTAB", "\rCR", "=", "-"],
)  # fmt: skip
def test_a_cell_that_starts_like_a_formula_gets_an_apostrophe(value: str) -> None:
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Ann", "Ann"),
        ("ann@example.org", "ann@example.org"),
        ("a=b", "a=b"),  # only the first character matters
        (" =1", " =1"),
        ("'quoted", "'quoted"),
        ("", ""),
        (None, ""),
        (3, "3"),
        (-3, "'-3"),  # a negative number is text here too: the rule has no exceptions
        (SubscriberStatus.ACTIVE, "active"),
        (datetime(2026, 3, 2, 9, 30, tzinfo=UTC), "2026-03-02T09:30:00+00:00"),
    ],
)
def test_other_cells_are_plain_text(value: object, expected: str) -> None:
    assert safe_cell(value) == expected


def test_rows_round_trip_through_a_csv_reader_with_quotes_commas_and_line_breaks() -> None:
    rows = [["a,b", 'say "hi"', "two\nlines", None], ["=1", "x", "", "y"]]
    text = csv_text(rows)
    assert text.endswith("\r\n")
    assert list(csv.reader(io.StringIO(text))) == [
        ["a,b", 'say "hi"', "two\nlines", ""],
        ["'=1", "x", "", "y"],
    ]

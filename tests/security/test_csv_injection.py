"""CSV formula injection: in every export the dashboard offers (found in the url_map),
a cell that a spreadsheet would read as a formula (= + - @ tab CR at its start) comes out
as text, with an apostrophe before it, whichever column it is in.

test_dashboard_export.py and tests/unit/test_csv_cells.py try the rule on a name and a
cell; here every start meets every text column of every export.
"""

from __future__ import annotations

import csv
import io

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from core.clock import utcnow
from core.db import session_scope
from core.models import Delivery, DeliveryStatus, Subscriber
from tests.support.attacks import FORMULA_STARTS
from tests.support.readers import many_due

FORMULA = 'HYPERLINK("https://evil.example","x")'


def exports(app: Flask) -> list[str]:
    found = [rule.rule for rule in app.url_map.iter_rules() if rule.rule.endswith(".csv")]
    assert len(found) >= 2, "the walk found the exports"
    return found


def with_formulas() -> None:
    """A reader and a failed delivery for each start, with it in every text field."""
    ids = many_due(len(FORMULA_STARTS), "welcome", utcnow())
    with session_scope() as session:
        for n, (delivery_id, start) in enumerate(zip(ids, FORMULA_STARTS, strict=True)):
            # An address may start with = + or - (email-validator takes them).
            local = f"{start}{n}" if start in "=+-" else f"plain{n}"
            session.execute(
                update(Subscriber)
                .where(Subscriber.email == f"reader{n}@example.org")
                .values(email=f"{local}@example.org", first_name=start + FORMULA,
                        consent_source=start + FORMULA, timezone="UTC")
            )  # fmt: skip
            session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id)
                .values(status=DeliveryStatus.FAILED, last_error=start + FORMULA, attempts=3)
            )


def cells(answer_text: str) -> list[str]:
    rows = csv.reader(io.StringIO(answer_text.lstrip("\ufeff"), newline=""))
    return [cell for row in rows for cell in row]


def test_no_cell_of_any_export_starts_like_a_formula(app: Flask, admin: FlaskClient) -> None:
    with_formulas()
    for path in exports(app):
        answer = admin.get(path)
        assert answer.status_code == 200, path
        found = cells(answer.text)
        carried = [cell for cell in found if FORMULA in cell]
        assert len(carried) >= len(FORMULA_STARTS), f"{path}: the formulas were exported"
        for cell in found:
            assert not cell.startswith(FORMULA_STARTS), f"{path}: {cell!r}"
        for start in FORMULA_STARTS:
            assert f"'{start}{FORMULA}" in carried, f"{path}: {start!r} kept as text"

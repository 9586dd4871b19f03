"""What every fault case asserts, and the figures it records.

A case says which letters were due (reader address and subject) and hands over what the
provider received; `tally` counts duplicates (a letter received more than once), lost
letters (due and never received) and letters nobody should have had (after leaving, say),
and `unsettled` finds deliveries left in a state that is not final after recovery.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import func, select

from core.db import session_scope
from core.models import Delivery, DeliveryStatus

Letter = tuple[str, str]  # (address, subject)

# A delivery in one of these is still on its way: after recovery there must be none.
UNSETTLED = (
    DeliveryStatus.QUEUED,
    DeliveryStatus.SENDING,
    DeliveryStatus.IN_FLIGHT,
    DeliveryStatus.UNKNOWN,
)


@dataclass(frozen=True)
class Tally:
    due: int
    received: int
    duplicates: int  # letters received once too often, summed
    lost: int  # letters due and never received
    unwanted: int  # letters received that were not due (after leaving, say)

    @property
    def clean(self) -> bool:
        return self.duplicates == 0 and self.lost == 0 and self.unwanted == 0

    def __add__(self, other: Tally) -> Tally:
        """Two trials' tallies together, for a case's figures over all its trials."""
        return Tally(
            self.due + other.due,
            self.received + other.received,
            self.duplicates + other.duplicates,
            self.lost + other.lost,
            self.unwanted + other.unwanted,
        )


def tally(due: Iterable[Letter], received: Iterable[Letter]) -> Tally:
    expected = set(due)
    counts = Counter(received)
    return Tally(
        due=len(expected),
        received=sum(counts.values()),
        duplicates=sum(count - 1 for count in counts.values() if count > 1),
        lost=len(expected - counts.keys()),
        unwanted=sum(count for letter, count in counts.items() if letter not in expected),
    )


def unsettled() -> dict[str, int]:
    """Deliveries still on their way, by status: empty once everything has settled."""
    with session_scope() as session:
        query = (
            select(Delivery.status, func.count())
            .where(Delivery.status.in_(UNSETTLED))
            .group_by(Delivery.status)
        )
        return {str(status): count for status, count in session.execute(query)}


def assert_clean(found: Tally) -> None:
    assert found.duplicates == 0, f"{found.duplicates} letters arrived twice: {found}"
    assert found.lost == 0, f"{found.lost} due letters never arrived: {found}"
    assert found.unwanted == 0, f"{found.unwanted} letters arrived that were not due: {found}"
    assert not unsettled(), f"deliveries left unsettled after recovery: {unsettled()}"


@dataclass
class Row:
    case: str
    trials: int
    readers: int
    faults: str
    duplicates: int
    lost: int
    unwanted: int
    result: str


@dataclass
class Figures:
    rows: list[Row] = field(default_factory=list)

    def record(self, case: str, trials: int, readers: int, faults: str, found: Tally) -> None:
        """Record a case's figures; call it before asserting, so a failure shows too."""
        result = "pass" if found.clean and not unsettled() else "FAIL"
        self.rows.append(
            Row(case, trials, readers, faults, found.duplicates, found.lost, found.unwanted, result)
        )

    def markdown(self) -> str:
        lines = [
            "| case | trials | readers | faults injected | duplicates | lost | not due | result |",
            "|---|---:|---:|---|---:|---:|---:|---|",
        ]
        lines += [
            f"| {row.case} | {row.trials} | {row.readers:,} | {row.faults} "
            f"| {row.duplicates} | {row.lost} | {row.unwanted} | {row.result} |"
            for row in self.rows
        ]
        return "\n".join(lines)

"""The accruals query: a portfolio's ledger between two dates, day by day with its
adjustments, month totals and the dates still waiting for a schedule."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import pydantic_core

from services.app.ledger import LedgerEntry


@dataclass(frozen=True, slots=True)
class Statement:
    portfolio_id: str
    first: date
    last: date
    entries: list[LedgerEntry]
    months: list[dict[str, str]]
    total: Decimal
    unpriced: list[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "portfolio_id": self.portfolio_id,
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "entries": [pydantic_core.from_json(e.to_json()) for e in self.entries],
            "months": self.months,
            "total": str(self.total),
            "unpriced": self.unpriced,
        }


def statement(
    portfolio_id: str,
    ledger: Mapping[str, str],
    unpriced: Iterable[str],
    first: date,
    last: date,
) -> Statement:
    """The ledger (as_of -> entry JSON) and parked dates of a portfolio, from `first` to `last`."""
    start, end = first.isoformat(), last.isoformat()
    entries = [LedgerEntry.from_json(ledger[d]) for d in sorted(ledger) if start <= d <= end]
    total = sum((Decimal(e.amount) for e in entries), Decimal(0))
    waiting = sorted(d for d in unpriced if start <= d <= end)
    return Statement(portfolio_id, first, last, entries, _months(entries), total, waiting)


def _months(entries: list[LedgerEntry]) -> list[dict[str, str]]:
    """Per month: accrued (as first booked), adjustments, amount (the net owed now), and the
    gross and waived of the amount (gross = amount where no waiver applies)."""
    months: dict[str, dict[str, Decimal]] = {}
    for e in entries:
        totals = months.setdefault(e.as_of[:7], dict.fromkeys(_MONTH_COLUMNS, Decimal(0)))
        accrued, amount = Decimal(e.accrued), Decimal(e.amount)
        totals["accrued"] += accrued
        totals["adjustments"] += amount - accrued
        totals["amount"] += amount
        totals["gross"] += amount if e.gross is None else Decimal(e.gross)
        totals["waived"] += Decimal(0) if e.waived is None else Decimal(e.waived)
    return [{"month": m, **{k: str(v) for k, v in totals.items()}} for m, totals in months.items()]


_MONTH_COLUMNS = ("accrued", "adjustments", "amount", "gross", "waived")

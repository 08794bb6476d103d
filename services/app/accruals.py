"""The accruals query: a portfolio's ledger between two dates, day by day with its
adjustments, month totals, the dates still waiting for a schedule and the days no accrual
covers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
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
    # Days between the first and the last accrued day that no accrual's period covers.
    gaps: list[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "portfolio_id": self.portfolio_id,
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "entries": [pydantic_core.from_json(e.to_json()) for e in self.entries],
            "months": self.months,
            "total": str(self.total),
            "unpriced": self.unpriced,
            "gaps": self.gaps,
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
    holes = [d.isoformat() for d in gaps(covered_days(ledger.values())) if first <= d <= last]
    months = _months(entries)
    return Statement(portfolio_id, first, last, entries, months, total, waiting, holes)


def covered_days(ledger: Iterable[str]) -> set[date]:
    """Every day an accrual's period (as_of .. as_of + accrual_days - 1) covers."""
    covered: set[date] = set()
    for text in ledger:
        entry = LedgerEntry.from_json(text)
        start = date.fromisoformat(entry.as_of)
        covered.update(start + timedelta(days=i) for i in range(entry.accrual_days))
    return covered


def gaps(covered: Iterable[date]) -> list[date]:
    """The days from the first covered day to the last that no accrual covers."""
    days = set(covered)
    if not days:
        return []
    first, last = min(days), max(days)
    every = (first + timedelta(days=i) for i in range((last - first).days + 1))
    return [d for d in every if d not in days]


def gap_counts(covered: Mapping[str, Iterable[str]]) -> dict[str, int]:
    """Portfolio -> how many days between its first and last covered day no accrual covers
    (`covered`: each portfolio's covered days, as `LedgerStore.covered_days` reads them)."""
    return {pid: len(gaps(date.fromisoformat(d) for d in days)) for pid, days in covered.items()}


def _months(entries: list[LedgerEntry]) -> list[dict[str, str]]:
    """Per month: accrued (as first booked), adjustments, amount (the net owed now), its
    unrounded sum (under month-to-date rounding, amount is it rounded once), and the gross and
    waived of the amount (gross = amount where no waiver applies)."""
    months: dict[str, dict[str, Decimal]] = {}
    for e in entries:
        totals = months.setdefault(e.as_of[:7], dict.fromkeys(_MONTH_COLUMNS, Decimal(0)))
        accrued, amount = Decimal(e.accrued), Decimal(e.amount)
        totals["accrued"] += accrued
        totals["adjustments"] += amount - accrued
        totals["amount"] += amount
        totals["amount_exact"] += Decimal(e.amount_exact)
        totals["gross"] += amount if e.gross is None else Decimal(e.gross)
        totals["waived"] += Decimal(0) if e.waived is None else Decimal(e.waived)
    return [{"month": m, **{k: str(v) for k, v in totals.items()}} for m, totals in months.items()]


_MONTH_COLUMNS = ("accrued", "adjustments", "amount", "amount_exact", "gross", "waived")

"""The accruals query: a portfolio's ledger between two dates, day by day with its
adjustments, month totals, the dates still waiting for a schedule and the days no accrual
covers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pydantic_core

from services.app.ledger import LedgerEntry
from services.domain.month import Reported


@dataclass(frozen=True, slots=True)
class Statement:
    portfolio_id: str
    first: date
    last: date
    entries: list[LedgerEntry]
    months: list[dict[str, Any]]
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
    closed: Collection[str] = (),
) -> Statement:
    """The ledger (as_of -> entry JSON) and parked dates of a portfolio, from `first` to `last`,
    with its `closed` months."""
    start, end = first.isoformat(), last.isoformat()
    every = [LedgerEntry.from_json(ledger[d]) for d in sorted(ledger)]
    entries = [e for e in every if start <= e.as_of <= end]
    total = sum((Decimal(e.amount) for e in entries), Decimal(0))
    waiting = sorted(d for d in unpriced if start <= d <= end)
    holes = [d.isoformat() for d in gaps(covered_days(ledger.values())) if first <= d <= last]
    months = _months(entries, posted_changes(every), start[:7], end[:7], closed)
    return Statement(portfolio_id, first, last, entries, months, total, waiting, holes)


def reported_of(entry: LedgerEntry) -> Reported:
    """A ledger entry's report, as a month's average reads it: its own net assets and days."""
    return Reported(date.fromisoformat(entry.as_of), Decimal(entry.net_assets), entry.accrual_days)


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
    (`covered`: each portfolio's covered days, as `LedgerStore.covered_days` reads them).

    Counted, not listed: the days of its span less the days covered. The worker counts every
    ledger's gaps every `gap_refresh_ms`; listing them parsed each day of each ledger. ISO days
    sort as their dates, so only the first and the last are parsed."""
    counts: dict[str, int] = {}
    for pid, days in covered.items():
        distinct = set(days)
        if not distinct:
            counts[pid] = 0
            continue
        span = date.fromisoformat(max(distinct)) - date.fromisoformat(min(distinct))
        counts[pid] = span.days + 1 - len(distinct)
    return counts


def posted_changes(entries: Iterable[LedgerEntry]) -> list[tuple[str, LedgerEntry, Decimal, str]]:
    """The adjustments booked in another month than their day's (the day's month was closed):
    (the month they were posted in, the entry, the delta, the reason)."""
    return [
        (a["posted_in"], e, Decimal(a["delta"]), a["reason"])
        for e in entries
        for a in e.adjustments
        if a.get("posted_in")
    ]


def _months(
    entries: list[LedgerEntry],
    posted: list[tuple[str, LedgerEntry, Decimal, str]],
    first: str,
    last: str,
    closed: Collection[str],
) -> list[dict[str, Any]]:
    """Per month, as booked: accrued (the days' accruals as first booked), adjustments booked in
    it (a closed month's later changes are booked in the first open month, as `catch_ups`),
    amount = accrued + adjustments, the days' unrounded sum (under month-to-date rounding,
    amount is it rounded once) and the gross and waived of their amounts now (gross = amount
    where no waiver applies)."""
    months: defaultdict[str, dict[str, Decimal]] = defaultdict(
        lambda: dict.fromkeys(_MONTH_COLUMNS, Decimal(0))
    )
    catch_ups: defaultdict[str, list[dict[str, str]]] = defaultdict(list)
    elsewhere: defaultdict[str, Decimal] = defaultdict(Decimal)
    for month, e, delta, reason in posted:
        elsewhere[e.as_of] += delta
        if first <= month <= last:
            months[month]["adjustments"] += delta
            catch_ups[month].append({"as_of": e.as_of, "delta": str(delta), "reason": reason})
    for e in entries:
        row = months[e.as_of[:7]]
        accrued, amount = Decimal(e.accrued), Decimal(e.amount)
        row["accrued"] += accrued
        row["adjustments"] += amount - accrued - elsewhere.get(e.as_of, Decimal(0))
        row["amount_exact"] += Decimal(e.amount_exact)
        row["gross"] += amount if e.gross is None else Decimal(e.gross)
        row["waived"] += Decimal(0) if e.waived is None else Decimal(e.waived)
    for row in months.values():
        row["amount"] = row["accrued"] + row["adjustments"]
    return [
        {
            "month": m,
            **{k: str(v) for k, v in row.items()},
            "closed": m in closed,
            "catch_ups": catch_ups.get(m, []),
        }
        for m, row in sorted(months.items())
    ]


_MONTH_COLUMNS = ("accrued", "adjustments", "amount", "amount_exact", "gross", "waived")

"""A portfolio's ledger as read for one step, and what an accrual is priced on beyond its report.

Month-to-date rounding books an accrual beside its month's other accruals, and a prior-day
fee base prices it on the report before it: both read the ledger. `LedgerRead` keeps the
ledger as read and as the step being planned leaves it, and names the entries the plan used,
so the step can hold only while they are unchanged (`expectations`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from services.app.ledger import LedgerEntry
from services.app.operations import ExpectEntry
from services.domain.fees import MonthToDate


@dataclass(frozen=True, slots=True)
class Basis:
    """What an accrual is priced on beyond its report: (prior day) the report date whose net
    assets price it and those net assets; (month to date) the month's other accruals; (a
    group's day) its members' net assets."""

    base_as_of: date | None = None
    base_net_assets: Decimal | None = None
    month: MonthToDate = field(default_factory=MonthToDate)
    # A group schedule's day: every member's net assets (the combined assets price it).
    group: Mapping[str, Decimal] | None = None
    # Priced provisionally, without these members' reports (a late one adjusts every member).
    provisional: tuple[str, ...] = ()


@dataclass
class LedgerRead:
    """One portfolio's ledger (as_of -> entry JSON) as read, and as the plan leaves it."""

    portfolio_id: str
    read: Mapping[str, str]
    now: dict[str, str] = field(init=False)
    used: set[str] = field(default_factory=set)
    _parsed: dict[str, LedgerEntry] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.now = dict(self.read)

    def entry(self, as_of: str) -> LedgerEntry:
        text = self.now[as_of]
        parsed = self._parsed.get(text)
        if parsed is None:
            parsed = self._parsed[text] = LedgerEntry.from_json(text)
        return parsed

    def dates(self) -> list[date]:
        return [date.fromisoformat(d) for d in self.now]

    def write(self, as_of: str, entry: str) -> None:
        self.now[as_of] = entry

    def base(self, on: date) -> Decimal:
        """The net assets reported on `on` (an entry the plan then depends on)."""
        self.used.add(on.isoformat())
        return Decimal(self.entry(on.isoformat()).net_assets)

    def month(self, as_of: date) -> MonthToDate:
        """The month's other accruals: the entries dated in `as_of`'s month, but its own."""
        prefix, own = as_of.isoformat()[:7], as_of.isoformat()
        sums = MonthToDate()
        for day in self.now:
            if day.startswith(prefix) and day != own:
                self.used.add(day)
                held = self.entry(day)
                sums = sums.plus(Decimal(held.amount_exact), Decimal(held.amount))
        return sums

    def overlap(self, start: date, days: int) -> str | None:
        """The entry of another accrual covering a day of the period from `start`, if any.

        Accrued periods never overlap (the ledger's coverage sees to it), so only an entry
        dated inside the period or the last one before it can reach into it.
        """
        own, end = start.isoformat(), (start + timedelta(days=days - 1)).isoformat()
        inside = [d for d in self.now if own < d <= end]
        if inside:
            return self.now[min(inside)]
        before = max((d for d in self.now if d < own), default=None)
        if before is None:
            return None
        held = self.entry(before)
        reach = date.fromisoformat(before) + timedelta(days=held.accrual_days - 1)
        return self.now[before] if reach >= start else None

    def expectations(self) -> list[ExpectEntry]:
        """The entries the plan used and does not itself write: each must be as read."""
        return [
            ExpectEntry(self.portfolio_id, day, self.read.get(day))
            for day in sorted(self.used)
            if self.now.get(day) == self.read.get(day)
        ]

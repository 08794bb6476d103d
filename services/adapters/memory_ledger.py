"""The fee ledger in memory: the twin of services.adapters.ledger, for planning without Redis.

It keeps the storage invariants settle.lua keeps, in the same order: a step whose checkpoint is
stale, or one of whose preconditions (a revision's compare-and-set, a length) fails, writes
nothing; an accrual is written only if its date has no entry, a park only if the date has none
and the parked value is still the one expected; an entry's own outcome (ReportHeld,
ReportIgnored, a dead letter) is written only by the step that takes it out of the pending set.
Not kept: 'refused' (a ledger key holding something other than a hash) cannot happen here.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, assert_never, get_args

from services.app.ledger import SettleResult, month_outcomes
from services.app.operations import (
    Accrue,
    Ack,
    CloseMonth,
    Conflict,
    DropInvoice,
    Emit,
    ExpectEntry,
    ExpectLength,
    HoldInvoice,
    Op,
    Park,
    Revise,
    Stream,
    Unpark,
    closed_by_portfolio,
    held_for,
    invoice_prefix,
)


@dataclass
class InMemoryLedgerStore:
    """Ledgers, parked reports, the checkpoint, the output streams and the pending entries."""

    ledgers: dict[str, dict[str, str]] = field(default_factory=dict)
    # Per portfolio: each day an accrual covers -> that accrual's as_of.
    coverage: dict[str, dict[str, str]] = field(default_factory=dict)
    unpriced: dict[str, str] = field(default_factory=dict)
    position: str = ""
    # The input's entries delivered and not yet acknowledged (its consumer group's pending list).
    pending: set[str] = field(default_factory=set)
    # Each output stream's entries, as their wire fields.
    streams: dict[Stream, list[dict[str, str]]] = field(
        default_factory=lambda: {stream: [] for stream in get_args(Stream)}
    )
    portfolios: set[str] = field(default_factory=set)
    # The other partitions' stores, whose ledgers `read_elsewhere` reads.
    elsewhere: list[InMemoryLedgerStore] = field(default_factory=list, compare=False, repr=False)
    # portfolio|month -> what its close booked.
    closed: dict[str, str] = field(default_factory=dict)
    # invoice_field -> an invoice waiting for its month's close.
    invoices: dict[str, str] = field(default_factory=dict)
    # Input entries not delivered yet (the memory twin has no input stream of its own).
    undelivered: int = 0
    # The late-knowledge lease: its holder and when it lapses (time.monotonic()).
    lease: tuple[str, float] | None = None

    async def take_lease(self, holder: str, ttl_ms: int) -> bool:
        now = time.monotonic()
        if self.lease is not None and self.lease[0] != holder and self.lease[1] > now:
            return False
        self.lease = (holder, now + ttl_ms / 1000)
        return True

    async def drop_lease(self, holder: str) -> None:
        if self.lease is not None and self.lease[0] == holder:
            self.lease = None

    async def closed_months(self, portfolio_id: str) -> dict[str, str]:
        named = ((held_for(portfolio_id, k), v) for k, v in self.closed.items())
        return {month: value for month, value in named if month is not None}

    async def closed_periods(self) -> dict[str, set[str]]:
        return closed_by_portfolio(self.closed)

    async def invoice_outcomes(self, portfolio_id: str, month: str) -> list[dict[str, Any]]:
        outcomes = ((f["type"], f["data"]) for f in self.streams["invoice_outcomes"])
        return month_outcomes(outcomes, portfolio_id, month)

    async def ledger_portfolios(self) -> list[str]:
        return sorted(self.portfolios)

    async def waiting_invoices(self, portfolio_id: str, month: str) -> dict[str, str]:
        prefix = invoice_prefix(portfolio_id, month)
        return {k: v for k, v in self.invoices.items() if k.startswith(prefix)}

    async def unsettled(self) -> int:
        return len(self.pending) + self.undelivered

    async def checkpoint(self) -> str:
        return self.position

    async def read_ledgers(self, portfolio_ids: Iterable[str]) -> dict[str, dict[str, str]]:
        return {pid: dict(self.ledgers.get(pid, {})) for pid in portfolio_ids}

    async def read_elsewhere(self, portfolio_ids: Iterable[str]) -> dict[str, dict[str, str]]:
        merged: dict[str, dict[str, str]] = {pid: {} for pid in portfolio_ids}
        for other in self.elsewhere:
            for pid, ledger in (await other.read_ledgers(merged)).items():
                merged[pid] |= ledger
        return merged

    async def covered_days(self) -> dict[str, set[str]]:
        return {
            pid: {*self.ledgers.get(pid, {}), *self.coverage.get(pid, {})}
            for pid in self.portfolios
        }

    async def read_unpriced(self) -> dict[str, str]:
        return dict(self.unpriced)

    async def settle(
        self, ops: Sequence[Op], expected_checkpoint: str, new_checkpoint: str = ""
    ) -> SettleResult:
        if self.position != expected_checkpoint:
            return SettleResult("stale", detail=self.position)
        failed = next(filter(None, map(self._precondition, ops)), None)
        if failed is not None:
            return SettleResult("conflict", detail=failed)
        acks: list[str] = []
        conflicts = [c for op in ops if (c := self._apply(op, acks)) is not None]
        self.pending.difference_update(acks)
        # Every ledger a step names is listed, as settle.lua lists it.
        listed = (Accrue, Revise, Park, ExpectLength, ExpectEntry, CloseMonth)
        self.portfolios |= {o.portfolio_id for o in ops if isinstance(o, listed) and o.portfolio_id}
        if new_checkpoint:
            self.position = new_checkpoint
        return SettleResult("ok", conflicts)

    def _precondition(self, op: Op) -> str | None:
        """What `op` finds changed since it was planned, if anything."""
        match op:
            case Revise(pid, as_of, expected) | ExpectEntry(pid, as_of, expected) if (
                self.ledgers.get(pid, {}).get(as_of) != expected
            ):
                return f"ledger {pid} {as_of}"
            case Revise(books_in=month) | CloseMonth(field=month) | HoldInvoice(closed=month) if (
                month in self.closed
            ):
                return f"closed {month}"
            case ExpectLength(pid, length):
                held = self.unpriced if pid is None else self.ledgers.get(pid)
                if len(held or {}) != length:
                    return "unpriced" if pid is None else f"ledger {pid}"
        return None

    def _apply(self, op: Op, acks: list[str]) -> Conflict | None:
        """The effects of one operation (acknowledgements to `acks`, taken at the end), or the
        accrual or park it could not write."""
        match op:
            case Accrue(pid, as_of, ledger, _, event, ack, unpriced, covers):
                if (stored := self.ledgers.get(pid, {}).get(as_of)) is not None:
                    return op, "ledger", stored
                if (other := self._overlap(pid, covers, as_of)) is not None:
                    return op, "coverage", other
                self._write(pid, as_of, covers, ledger)
                self._emit("accruals", "FeeAccrued", event)
                if unpriced is not None:
                    self._unpark(*unpriced)
                acks.append(ack or "")
            case Revise(pid, as_of, _, ledger, event, ack, covers, releases):
                if (other := self._overlap(pid, covers, as_of)) is not None:
                    return op, "coverage", other
                held = self.coverage.setdefault(pid, {})
                for day in releases:
                    if held.get(day) == as_of:
                        del held[day]
                self._write(pid, as_of, covers, ledger)
                if event:
                    self._emit("accruals", "FeeAdjusted", event)
                acks.append(ack or "")
            case Park(pid, as_of, report, event, ack, expected):
                if (stored := self.ledgers.get(pid, {}).get(as_of)) is not None:
                    return op, "ledger", stored
                if (parked := self.unpriced.get(op.field, "")) != (expected or ""):
                    return op, "unpriced", parked
                if self._first_ack(ack):
                    self.unpriced[op.field] = report.model_dump_json()
                    self._emit("report_outcomes", "ReportHeld", event)
            case Emit(stream, event, ack):
                if self._first_ack(ack):
                    self._emit(stream, event["type"], event)
            case Unpark(name, expected):
                self._unpark(name, expected)
            case Ack(ack):
                acks.append(ack or "")
            case ExpectLength() | ExpectEntry():
                pass
            case HoldInvoice() | DropInvoice() | CloseMonth():
                self._apply_month(op)
            case _:
                assert_never(op)
        return None

    def _apply_month(self, op: HoldInvoice | DropInvoice | CloseMonth) -> None:
        """A month's close, and the invoices kept for it."""
        match op:
            case HoldInvoice(name, invoice, ack, _):
                if self._first_ack(ack):
                    self.invoices[name] = invoice
            case DropInvoice(name):
                self.invoices.pop(name, None)
            case CloseMonth(events=events, record=record):
                self.closed[op.field] = record
                for event in events:
                    self._emit("accruals", event["type"], event)

    def _overlap(self, pid: str, days: tuple[str, ...], as_of: str) -> str | None:
        """The entry of another accrual that covers one of `days`, if any (the accrual of
        that date, or the one whose period the coverage says reaches it)."""
        held, ledger = self.coverage.get(pid, {}), self.ledgers.get(pid, {})
        for day in days:
            if day != as_of and day in ledger:
                return ledger[day]
            holder = held.get(day)
            if holder is not None and holder != as_of:
                return ledger.get(holder, holder)
        return None

    def _write(self, pid: str, as_of: str, days: tuple[str, ...], ledger: str) -> None:
        # An accrual's own date is the ledger's field: the coverage holds its other days.
        self.coverage.setdefault(pid, {}).update((day, as_of) for day in days if day != as_of)
        self.ledgers.setdefault(pid, {})[as_of] = ledger

    def _first_ack(self, entry_id: str | None) -> bool:
        """Acknowledge now; True unless the entry was pending no more (another step had it)."""
        if not entry_id:
            return True
        acked = entry_id in self.pending
        self.pending.discard(entry_id)
        return acked

    def _unpark(self, name: str, expected: str) -> None:
        if self.unpriced.get(name) == expected:
            del self.unpriced[name]

    def _emit(self, stream: Stream, kind: str, event: Mapping[str, str]) -> None:
        fields = {"type": kind, "event_id": event["event_id"], "schema_version": "1"}
        self.streams[stream].append({**fields, "data": event["data"]})

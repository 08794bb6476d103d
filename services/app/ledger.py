"""The fee ledger's port: what the ledger holds and the `LedgerStore` protocol
(services.adapters.ledger on Redis, services.adapters.memory_ledger in memory), which applies
the operations of services.app.operations.

A step applies its operations all or nothing, and only while the worker's checkpoint (the
agreements-log position the ledger is priced against) is still the one expected. The store keeps
storage invariants only: set if absent, compare-and-set, preconditions on lengths, and an
entry's own outcome written by the step that acknowledges it. Which report wins is decided by
the pricer (services.app.pricing).
"""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any, Literal, Protocol, TypeAlias

from pydantic import Field, TypeAdapter

from contracts.messages import ScheduleRef
from services.app.operations import Conflict, Op


def month_outcomes(rows: Iterable[tuple[str, Any]], pid: str, month: str) -> list[dict[str, Any]]:
    """The invoice outcomes (type, data JSON) of a portfolio's month: their data and type."""
    events = (json.loads(data) | {"type": kind} for kind, data in rows)
    return [e for e in events if (e.get("portfolio_id"), e.get("month")) == (pid, month)]


# ---- the ledger entry ------------------------------------------------------------------------


# `value is None`, as a callable of C: pydantic asks it of each optional field of every entry
# written (a Python function cost a sixth of the entry's dump).
_absent = functools.partial(operator.is_, None)


# A field written only where it has something to say: a plain day's entry stays as short as
# it was before waivers and fee bases (it is written for every report).
Optional: TypeAlias = Annotated[str | None, Field(exclude_if=_absent)]


@dataclass(slots=True)
class LedgerEntry:
    """What the ledger holds for one (portfolio, date): the amount now, and every input.

    Its JSON (`to_json`, `from_json`) is the one form the ledger stores. Not frozen: a frozen
    dataclass costs ~3 us more to build, and one is built for every report priced.
    """

    accrual_id: str
    portfolio_id: str
    as_of: str
    amount: str
    amount_exact: str
    accrued: str
    net_assets: str
    accrual_days: int
    currency: str
    day_count: str
    rounding: str
    report_id: str
    revision: int
    schedule_ref: dict[str, Any] | None
    adjustments: tuple[dict[str, Any], ...] = field(default=())
    # Where a waiver applies: the fee before it and what it waives (amount is the net).
    gross: Optional = None
    waived: Optional = None
    # Under a prior-day fee base: the report date whose net assets priced it, and those net
    # assets (`net_assets` stays the report's own: they price the next report's days).
    base_as_of: Optional = None
    base_net_assets: Optional = None
    # When the report gave its share classes: class id -> its net assets (the weights of the
    # classes' parts of the amount).
    classes: Annotated[dict[str, str] | None, Field(exclude_if=_absent)] = None
    # A group schedule's day: each member's net assets, which priced it together.
    group: Annotated[dict[str, str] | None, Field(exclude_if=_absent)] = None
    # Priced provisionally without these members' reports.
    provisional: Annotated[list[str] | None, Field(exclude_if=_absent)] = None

    def class_weights(self) -> list[tuple[str, Decimal]]:
        return [(c, Decimal(v)) for c, v in sorted((self.classes or {}).items())]

    @property
    def priced_net_assets(self) -> str:
        return self.net_assets if self.base_net_assets is None else self.base_net_assets

    def to_json(self) -> str:
        # ASCII-escaped, as the ledger has always been written. Escaping costs a third of the
        # dump, and an entry is nearly always ASCII already: then the plain dump is the same.
        data = _CODEC.serializer.to_json(self)
        if data.isascii():
            return data.decode()
        return _CODEC.serializer.to_json(self, ensure_ascii=True).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> LedgerEntry:
        return _CODEC.validate_json(text)

    @property
    def ref(self) -> ScheduleRef | None:
        return None if self.schedule_ref is None else ScheduleRef.model_validate(self.schedule_ref)


_CODEC = TypeAdapter(LedgerEntry)


# ---- the port --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SettleResult:
    """What a step did: `ok` (with the accruals and parks it left for a second step), or, having
    written nothing, `stale`, `conflict` or `refused`."""

    status: Literal["ok", "stale", "conflict", "refused"]
    conflicts: list[Conflict] = field(default_factory=list)
    # `stale`: the checkpoint found; `conflict`: what failed its precondition;
    # `refused`: why the ledger of `portfolio_id` cannot be written.
    detail: str = ""
    portfolio_id: str = ""


class LedgerStore(Protocol):
    """The ledgers (portfolio -> as_of -> entry JSON), the reports waiting unpriced (field ->
    report JSON), the worker's checkpoint, the output streams and the input's pending entries."""

    async def checkpoint(self) -> str:
        """The log position the ledger is priced against ('' before any)."""
        ...

    async def read_ledgers(self, portfolio_ids: Iterable[str]) -> dict[str, dict[str, str]]:
        """Each readable ledger of these portfolios (an empty one for a portfolio with none)."""
        ...

    async def read_elsewhere(self, portfolio_ids: Iterable[str]) -> dict[str, dict[str, str]]:
        """What these portfolios' ledgers hold in the other partitions, merged (empty with one
        partition): read, never written, to price a group's day whose members' days were
        priced apart before the group was known."""
        ...

    async def read_unpriced(self) -> dict[str, str]: ...

    async def closed_months(self, portfolio_id: str) -> dict[str, str]:
        """The portfolio's closed months (YYYY-MM -> the record its close kept)."""
        ...

    async def closed_periods(self) -> dict[str, set[str]]:
        """Every portfolio's closed months."""
        ...

    async def invoice_outcomes(self, portfolio_id: str, month: str) -> list[dict[str, Any]]:
        """The InvoiceMatched and InvoiceBreak events of a portfolio's month (their data)."""
        ...

    async def ledger_portfolios(self) -> list[str]:
        """Every portfolio with a ledger."""
        ...

    async def waiting_invoices(self, portfolio_id: str, month: str) -> dict[str, str]:
        """The invoices kept until a month closes whose names start with the portfolio's
        invoice_prefix (field -> invoice JSON); months.waiting_invoices keeps its own."""
        ...

    async def unsettled(self) -> int:
        """Input entries the worker has not settled yet: delivered and not acknowledged, or
        not delivered at all."""
        ...

    async def covered_days(self) -> dict[str, set[str]]:
        """Per portfolio with a ledger: every day an accrual covers (its as_of and the rest of
        its period), read from the coverage the ledger keeps, not from the entries."""
        ...

    async def take_lease(self, holder: str, ttl_ms: int) -> bool:
        """Whether `holder` now holds the ledger's lease on adjusting for late knowledge (taken
        if free or its own, for `ttl_ms`): the workers sharing a ledger adjust it once, not each
        planning it; the lease saves work only, as every step is a compare-and-set."""
        ...

    async def drop_lease(self, holder: str) -> None:
        """Give the lease back, if `holder` still holds it."""
        ...

    async def settle(
        self, ops: Sequence[Op], expected_checkpoint: str, new_checkpoint: str = ""
    ) -> SettleResult:
        """Apply `ops` in one atomic step, if the checkpoint is still `expected_checkpoint`;
        move it to `new_checkpoint` ('' = keep) in the same step."""
        ...

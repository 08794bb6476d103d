"""The operations a settle step applies atomically (services.app.ledger's `LedgerStore`), and
the names the ledger keeps parked reports, closed months and waiting invoices under.

Compiled with the fee worker's hot path (pyproject.toml's `compiled`): an `Accrue` is made for
every report priced, and writes its own `__init__` (see services.domain.fees.Accrual).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal, TypeAlias, final

from contracts.messages import NetAssetsReported

Stream: TypeAlias = Literal["accruals", "report_outcomes", "dead_letters", "invoice_outcomes"]
"""The output streams a step writes to."""


@final  # the Redis store tests `type(op) is Accrue` first, for nearly every operation
@dataclass(frozen=True, slots=True)
class Accrue:
    """Write the ledger entry and emit FeeAccrued, unless (portfolio, date) is already accrued."""

    portfolio_id: str
    as_of: str
    ledger: str
    report: NetAssetsReported
    event: Mapping[str, str]
    ack: str | None
    # Set when the report was parked unpriced: priced now, it leaves the unpriced hash
    # (field, the parked JSON it must still be).
    unpriced: tuple[str, str] | None = None
    # The days of its period: claimed in the portfolio's coverage only if no other accrual
    # holds one of them (else nothing is written, and the holder's entry comes back).
    covers: tuple[str, ...] = ()

    # Written out: see Accrual.__init__ (services.domain.fees).
    def __init__(
        self,
        portfolio_id: str,
        as_of: str,
        ledger: str,
        report: NetAssetsReported,
        event: Mapping[str, str],
        ack: str | None,
        unpriced: tuple[str, str] | None = None,
        covers: tuple[str, ...] = (),
    ) -> None:
        object.__setattr__(self, "portfolio_id", portfolio_id)
        object.__setattr__(self, "as_of", as_of)
        object.__setattr__(self, "ledger", ledger)
        object.__setattr__(self, "report", report)
        object.__setattr__(self, "event", event)
        object.__setattr__(self, "ack", ack)
        object.__setattr__(self, "unpriced", unpriced)
        object.__setattr__(self, "covers", covers)


@dataclass(frozen=True, slots=True)
class Revise:
    """Replace a ledger entry (only if it still is `expected`) and emit FeeAdjusted (no event:
    the entry's inputs change, its amount does not; a prior-day base revised, say).

    A revised report with another period claims its new days as an accrual does (`covers`;
    empty: the period is unchanged) and gives back those it no longer covers (`releases`).
    """

    portfolio_id: str
    as_of: str
    expected: str
    ledger: str
    event: Mapping[str, str]
    ack: str | None
    covers: tuple[str, ...] = ()
    releases: tuple[str, ...] = ()
    # The revised report (for its dead letter, should its new period overlap another).
    report: NetAssetsReported | None = None
    # The month the change is booked in (closed_field): applied only while it is open.
    books_in: str = ""


@dataclass(frozen=True, slots=True)
class Park:
    """Keep a report with no schedule for its date until one is recorded (ReportHeld).

    Applied only while the parked value is still `expected` (None: nothing parked), so a
    higher revision replaces a parked report by compare-and-set.
    """

    portfolio_id: str
    as_of: str
    report: NetAssetsReported
    event: Mapping[str, str]
    ack: str | None
    expected: str | None = None

    @property
    def field(self) -> str:
        return unpriced_field(self.portfolio_id, self.as_of)


@dataclass(frozen=True, slots=True)
class Emit:
    """Emit one event (ReportIgnored on the report outcomes, DeadLetter on the dead letters)
    and acknowledge the entry it is about."""

    stream: Stream
    event: Mapping[str, str]
    ack: str | None


@dataclass(frozen=True, slots=True)
class Unpark:
    """Drop a parked report, if it is still `expected` (its date was accrued by another)."""

    field: str
    expected: str


@dataclass(frozen=True, slots=True)
class Ack:
    """Acknowledge an entry that is gone (deleted from the stream while pending)."""

    ack: str | None


@dataclass(frozen=True, slots=True)
class ExpectLength:
    """Precondition: a ledger (or, for None, the unpriced reports) still has this many entries.

    Entries are only ever added to a ledger, so an unchanged length means no other worker
    accrued a date there since it was read.
    """

    portfolio_id: str | None
    length: int


@dataclass(frozen=True, slots=True)
class ExpectEntry:
    """Precondition: the ledger entry of a date is still `entry` (None: there is none).

    A step planned on a ledger as read (month-to-date rounding, a prior-day fee base) holds
    only while what it read is unchanged.
    """

    portfolio_id: str
    as_of: str
    entry: str | None


@dataclass(frozen=True, slots=True)
class CloseMonth:
    """Mark a portfolio's month closed (keeping `record`, what the close booked) and emit its
    FeeTrueUp and PeriodClosed (`events`).

    A month already closed fails the whole step: closing twice writes nothing.
    """

    portfolio_id: str
    month: str
    record: str
    events: tuple[Mapping[str, str], ...]

    @property
    def field(self) -> str:
        return closed_field(self.portfolio_id, self.month)


@dataclass(frozen=True, slots=True)
class HoldInvoice:
    """Keep an invoice whose month is not closed yet (the close matches it), and acknowledge
    its entry, in the step that acknowledges it; only while that month (`closed`, its
    closed_field) is still open, else the whole step fails."""

    field: str
    invoice: str
    ack: str | None
    closed: str


@dataclass(frozen=True, slots=True)
class DropInvoice:
    """Let go of a kept invoice (its month's close has matched it)."""

    field: str


Op: TypeAlias = (
    Accrue
    | Revise
    | Park
    | Emit
    | Unpark
    | Ack
    | ExpectLength
    | ExpectEntry
    | CloseMonth
    | HoldInvoice
    | DropInvoice
)
Where: TypeAlias = Literal["ledger", "unpriced", "coverage"]
Conflict: TypeAlias = tuple[Accrue | Park | Revise, Where, str]
"""An operation not applied and what was already there: the ledger entry of its date or a
parked report (accruals and parks), or the entry of another accrual covering a day of its
period ("coverage": accruals and revisions)."""


def unpriced_field(portfolio_id: str, as_of: date | str) -> str:
    """The name a parked report is kept under."""
    return f"{portfolio_id}|{as_of}"


def name_parts(name: str) -> tuple[str, str]:
    """The portfolio and the day or month a parked or closed name (unpriced_field,
    closed_field) holds, read back: an id may hold '|', a day or a month never does."""
    portfolio_id, _, held = name.rpartition("|")
    return portfolio_id, held


def held_for(portfolio_id: str, name: str) -> str | None:
    """The day or month a parked or closed name holds for the portfolio; None when the name
    is another's, whose id merely starts with this one and '|'."""
    owner, held = name_parts(name)
    return held if owner == portfolio_id else None


def closed_field(portfolio_id: str, month: str) -> str:
    """The name a closed month is kept under."""
    return f"{portfolio_id}|{month}"


def invoice_field(portfolio_id: str, month: str, invoice_id: str) -> str:
    """The name an invoice waiting for its month's close is kept under. Both ids may hold '|'
    and neither whitespace (the contract's Id), so the space makes the name one invoice's:
    `portfolio|month|invoice id`, as names were before, was also portfolio "A|2024-06"'s July
    invoice "x" and portfolio A's June invoice "2024-07|x", and the second kept replaced the
    first."""
    return f"{invoice_prefix(portfolio_id, month)} {invoice_id}"


def invoice_prefix(portfolio_id: str, month: str) -> str:
    """The start of the names of a portfolio's invoices kept for a month: those of
    invoice_field and those kept under `portfolio|month|invoice id` before it (an upgraded
    worker still matches them at the close). Another portfolio's names may start so too (an
    id may hold '|'): each invoice says whose it is (services.app.months.waiting_invoices)."""
    return f"{portfolio_id}|{month}"


def closed_by_portfolio(names: Iterable[str]) -> dict[str, set[str]]:
    """The closed months of these names (closed_field), per portfolio."""
    out: dict[str, set[str]] = {}
    for pid, month in map(name_parts, names):
        out.setdefault(pid, set()).add(month)
    return out

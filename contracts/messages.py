"""Wire contracts: every message the service reads or writes, as pydantic v2 models.

These models are the single source of truth; contracts/schemas/*.json and contracts/asyncapi.yaml
are generated from them (`python -m contracts.generate`). Money and rates travel as decimal
strings, never floats: a float is refused at the edge, naming the field.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

DECIMAL_PATTERN = r"^-?\d+(\.\d+)?$"


def _refuse_float(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError('must be a decimal string (floats lose cents), e.g. "750000000.00"')
    if isinstance(value, str) and len(value) > 64:
        raise ValueError("is too long for a decimal (at most 64 characters)")
    return value


def _finite(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("must be a finite decimal")
    return value


def _non_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError("must not be negative")
    return value


DecimalStr = Annotated[
    Decimal,
    BeforeValidator(_refuse_float),
    AfterValidator(_finite),
    # Plain notation: str() would give "2.7E-7" or "7.5E+8", which DECIMAL_PATTERN refuses.
    PlainSerializer(lambda d: f"{d:f}", return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": DECIMAL_PATTERN}),
]
"""A decimal that travels as a JSON string ("0.88", "750000000.00")."""

NonNegativeDecimalStr = Annotated[
    DecimalStr,
    AfterValidator(_non_negative),
    WithJsonSchema({"type": "string", "pattern": r"^\d+(\.\d+)?$"}),
]

Id = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\s]+$")]
Name = Annotated[str, Field(min_length=1, max_length=500)]
DayCountName = Literal["ACT/365F", "ACT/ACT", "ACT/360"]


def _new_id() -> str:
    return str(uuid.uuid4())


def _now() -> datetime:
    return datetime.now(UTC)


class Contract(BaseModel):
    """Base of nested contract objects: strict about unknown fields, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Message(Contract):
    """Envelope fields every message carries."""

    SCHEMA_VERSION: ClassVar[int] = 1
    type: str
    schema_version: int = 1
    event_id: Id = Field(default_factory=_new_id)
    occurred_at: datetime = Field(default_factory=_now)


# ---- agreements log -------------------------------------------------------------------------


class TierSpec(Contract):
    """A marginal band: `rate_pct` percent of the assets from `from` up to `to` (null: no limit)."""

    lower: NonNegativeDecimalStr = Field(alias="from")
    upper: NonNegativeDecimalStr | None = Field(alias="to")
    rate_pct: NonNegativeDecimalStr


class SourceRef(Contract):
    title: str | None = Field(default=None, max_length=1000)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    url: str | None = Field(default=None, max_length=2000)


class SetScheduleChange(Contract):
    action: Literal["add", "revise", "replace"]
    portfolio_id: Id
    portfolio_name: Name
    tiers: list[TierSpec] = Field(min_length=1, max_length=50)


class RemovePortfolioChange(Contract):
    action: Literal["remove"]
    portfolio_id: Id


class RenamePortfolioChange(Contract):
    action: Literal["rename"]
    portfolio_id: Id
    new_name: Name
    former_name: str | None = None


class Period(Contract):
    start: date = Field(alias="from")
    end: date = Field(alias="to")


class WaiverChange(Contract):
    action: Literal["waiver"]
    portfolio_id: Id
    portfolio_name: str | None = None
    tiers: list[TierSpec] = Field(min_length=1, max_length=50)
    period: Period


Change = Annotated[
    SetScheduleChange | RemovePortfolioChange | RenamePortfolioChange | WaiverChange,
    Field(discriminator="action"),
]


class AgreementRegistered(Message):
    type: Literal["AgreementRegistered"] = "AgreementRegistered"
    agreement_id: Id
    agreement_date: date | None = None
    trust: str | None = None
    adviser: str | None = None
    agreement_type: Literal[
        "management", "subadvisory", "fee_waiver", "administration", "unknown"
    ] = "management"
    day_count: DayCountName = "ACT/365F"
    rounding: str = Field(default="ROUND_HALF_UP:0.01", pattern=r"^ROUND_[A-Z_]+:\d+(\.\d+)?$")


class AmendmentRecorded(Message):
    type: Literal["AmendmentRecorded"] = "AmendmentRecorded"
    agreement_id: Id
    amendment_number: int = Field(ge=0)
    effective_date: date
    executed_date: date | None = None
    source: SourceRef = Field(default_factory=SourceRef)
    changes: list[Change] = Field(min_length=1, max_length=500)


class AmendmentRetracted(Message):
    type: Literal["AmendmentRetracted"] = "AmendmentRetracted"
    agreement_id: Id
    amendment_number: int = Field(ge=0)
    reason: str = Field(min_length=1, max_length=2000)


# ---- fee worker -----------------------------------------------------------------------------


class NetAssetsReported(Message):
    """Input from fund accounting: a portfolio's net assets on a date."""

    type: Literal["NetAssetsReported"] = "NetAssetsReported"
    report_id: Id
    portfolio_id: Id
    as_of: date
    net_assets: NonNegativeDecimalStr
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    accrual_days: int = Field(default=1, ge=1, le=366)
    revision: int = Field(default=0, ge=0)


class ScheduleRef(Contract):
    """The schedule version that priced a fee: which amendment, and where it sits in the log."""

    agreement_id: str
    amendment_number: int
    effective_date: date
    event_id: str
    position: str
    waiver: bool = False


class BandCharge(Contract):
    lower: DecimalStr = Field(alias="from")
    upper: DecimalStr | None = Field(alias="to")
    rate_pct: DecimalStr
    assets_in_band: DecimalStr
    annual_charge: DecimalStr


class FeeAccrued(Message):
    type: Literal["FeeAccrued"] = "FeeAccrued"
    accrual_id: Id
    portfolio_id: Id
    as_of: date
    net_assets: DecimalStr
    currency: str
    accrual_days: int
    day_count: DayCountName
    year_basis: int
    rounding: str
    annual_fee: DecimalStr
    amount: DecimalStr
    amount_exact: DecimalStr
    effective_rate_pct: DecimalStr
    breakdown: list[BandCharge]
    schedule_ref: ScheduleRef
    report_id: Id
    revision: int


class FeeAdjusted(Message):
    """A correction of an accrual already emitted; the original is never rewritten."""

    type: Literal["FeeAdjusted"] = "FeeAdjusted"
    adjustment_id: Id
    accrual_id: Id
    portfolio_id: Id
    as_of: date
    previous_amount: DecimalStr
    new_amount: DecimalStr
    delta: DecimalStr
    new_amount_exact: DecimalStr
    net_assets: DecimalStr
    reason: Literal["amendment", "retraction", "revised_report"]
    schedule_ref: ScheduleRef | None
    previous_schedule_ref: ScheduleRef | None
    report_id: Id
    revision: int


DeadLetterCode = Literal[
    "invalid_encoding",
    "too_large",
    "too_deep",
    "invalid_json",
    "unknown_type",
    "invalid_field",
    "unknown_portfolio",
    "max_deliveries",
    "settle_failed",
    "internal_error",
    "invalid_event",
    "rejected_by_rules",
]
"""Why an entry was dead-lettered, for machines (contracts/README.md says what each means)."""

HeldCode = Literal["no_schedule", "group_incomplete"]
"""Why a report waits unpriced."""

IgnoredCode = Literal["duplicate", "older_revision", "same_revision_different_content"]
"""Why a report changed nothing."""


class DeadLetter(Message):
    """An entry that could not be processed: the original, where it came from, and why."""

    type: Literal["DeadLetter"] = "DeadLetter"
    source_stream: str
    entry_id: str
    fields: dict[str, str]
    code: DeadLetterCode = "invalid_field"
    reason: str
    deliveries: int = 1
    consumer: str | None = None


class ReportHeld(Message):
    """A valid report that waits unpriced (it is priced, as FeeAccrued, once it can be)."""

    type: Literal["ReportHeld"] = "ReportHeld"
    source_stream: str
    entry_id: str
    report_id: Id
    portfolio_id: Id
    as_of: date
    revision: int
    code: HeldCode
    reason: str


class ReportIgnored(Message):
    """A valid report that changed nothing: the ledger already holds what it says, or more."""

    type: Literal["ReportIgnored"] = "ReportIgnored"
    source_stream: str
    entry_id: str
    report_id: Id
    portfolio_id: Id
    as_of: date
    revision: int
    code: IgnoredCode
    reason: str
    accrual_id: Id | None = None
    held_report_id: Id
    held_revision: int


AGREEMENT_EVENTS: tuple[type[Message], ...] = (
    AgreementRegistered,
    AmendmentRecorded,
    AmendmentRetracted,
)
ALL_MESSAGES: tuple[type[Message], ...] = (
    *AGREEMENT_EVENTS,
    NetAssetsReported,
    FeeAccrued,
    FeeAdjusted,
    ReportHeld,
    ReportIgnored,
    DeadLetter,
)
MESSAGE_TYPES: dict[str, type[Message]] = {m.model_fields["type"].default: m for m in ALL_MESSAGES}

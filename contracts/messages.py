"""Wire contracts: every message the service reads or writes, as pydantic v2 models.

These models are the single source of truth; contracts/schemas/*.json and contracts/asyncapi.yaml
are generated from them (`python -m contracts.generate`). The scalars are strict, in JSON and in
Python alike, and say in their JSON Schema exactly what they take: money and rates are decimal
strings of a bounded number of ASCII digits (never JSON numbers, exponents, signs but `-`, `_` or
spaces), dates are `YYYY-MM-DD`, counts are JSON integers. Our own code passes `Decimal` and
`date` instances. An error names the field and quotes the value.
"""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
)

from contracts.message_examples import MESSAGE_EXAMPLES
from contracts.scalars import (
    COMPUTED_FRACTION_DIGITS,
    COMPUTED_INT_DIGITS,
    DATE_PATTERN,
    DECIMAL_PATTERN,
    ID_PATTERN,
    INPUT_DECIMAL,
    INPUT_DECIMAL_PATTERN,
    INPUT_FRACTION_DIGITS,
    INPUT_INT_DIGITS,
    MAX_COUNT,
    SIGNED_DECIMAL,
    TIMESTAMP_PATTERN,
    DecimalValidator,
    date_value,
    plain_decimal,
    timestamp_value,
)

# ---- strict scalars (contracts.scalars checks and writes them) --------------------------------


def _as_string(pattern: str, description: str, fmt: str | None = None) -> WithJsonSchema:
    """The JSON Schema of a scalar that travels as a string (of JSON Schema format `fmt`)."""
    schema = {"type": "string", "format": fmt, "pattern": pattern, "description": description}
    return WithJsonSchema({key: value for key, value in schema.items() if value is not None})


_DECIMAL_RULES = (
    "a string, never a JSON number; ASCII digits [0-9], one optional '.' with digits after it; "
    "no exponent, '_', '+' or spaces"
)
DecimalStr = Annotated[
    Decimal,
    PlainValidator(
        DecimalValidator(SIGNED_DECIMAL, COMPUTED_INT_DIGITS, COMPUTED_FRACTION_DIGITS, signed=True)
    ),
    PlainSerializer(plain_decimal, return_type=str, when_used="json"),
    _as_string(
        DECIMAL_PATTERN,
        f"A computed decimal: {_DECIMAL_RULES}; an optional leading '-'; at"
        f" most {COMPUTED_INT_DIGITS} digits before the point and"
        f' {COMPUTED_FRACTION_DIGITS} after it. Never written as "-0".',
    ),
]
"""A computed decimal that travels as a JSON string ("17739.73", "-68.49")."""

NonNegativeDecimalStr = Annotated[
    Decimal,
    PlainValidator(
        DecimalValidator(INPUT_DECIMAL, INPUT_INT_DIGITS, INPUT_FRACTION_DIGITS, signed=False)
    ),
    PlainSerializer(plain_decimal, return_type=str, when_used="json"),
    _as_string(
        INPUT_DECIMAL_PATTERN,
        f"A non-negative decimal: {_DECIMAL_RULES}; no sign; at most"
        f" {INPUT_INT_DIGITS} digits before the point and {INPUT_FRACTION_DIGITS} after it.",
    ),
]
"""An input decimal (net assets, tier bounds, rates) as a JSON string ("750000000.00")."""

Date = Annotated[
    date,
    # Before, not Plain: a PlainValidator on `date` makes pydantic warn on every JSON dump.
    BeforeValidator(date_value),
    _as_string(DATE_PATTERN, "A calendar date, YYYY-MM-DD (no time, no zone).", "date"),
]
"""A date that travels as `YYYY-MM-DD` only ("2006-02-01T00:00:00Z" is refused)."""

Timestamp = Annotated[
    datetime,
    BeforeValidator(timestamp_value),
    _as_string(
        TIMESTAMP_PATTERN,
        "RFC 3339 with a zone (2024-01-02T17:00:00Z), microseconds at most.",
        "date-time",
    ),
]
"""A time with its zone (pydantic alone would also take a number of seconds, or no zone)."""

# JSON integers only: strict refuses "1", 1.0 and true, in JSON and in Python.
Count = Annotated[
    int,
    Field(
        strict=True,
        ge=0,
        le=MAX_COUNT,
        description="A JSON integer (never a string, a float or a boolean), 0 .. 2^63-1.",
    ),
]
"""`revision`, `amendment_number`: a JSON integer, 0 .. 2**63-1."""
AccrualDays = Annotated[
    int,
    Field(strict=True, ge=1, le=366, description="Days the report covers: a JSON integer, 1..366."),
]
StrictInt = Annotated[int, Field(strict=True)]
StrictBool = Annotated[bool, Field(strict=True)]
"""true or false only (pydantic alone also takes 1, "yes", "true")."""

Id = Annotated[str, Field(min_length=1, max_length=200, pattern=ID_PATTERN)]
Name = Annotated[str, Field(min_length=1, max_length=500)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
DayCountName = Literal["ACT/365F", "ACT/ACT", "ACT/360"]


class Contract(BaseModel):
    """Base of nested contract objects: strict about unknown fields, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _examples(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """Each message's JSON Schema shows its examples (contracts/message_examples.py)."""
    examples = MESSAGE_EXAMPLES.get(model.__name__)
    if examples:
        schema["examples"] = examples


class Message(Contract):
    """Envelope fields every message carries."""

    model_config = ConfigDict(json_schema_extra=_examples)
    SCHEMA_VERSION: ClassVar[int] = 1
    type: str
    schema_version: Annotated[int, Field(strict=True, ge=1)] = 1
    event_id: Id = Field(default_factory=lambda: str(uuid.uuid4()))
    occurred_at: Timestamp = Field(default_factory=functools.partial(datetime.now, UTC))


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


Month = Annotated[str, Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
Tiers = Annotated[list[TierSpec], Field(min_length=1, max_length=50)]
FeeMethodName = Literal["daily", "average_daily_net_assets", "monthly_twelfth"]
AverageOverName = Literal["calendar_days", "business_days"]


class SetScheduleChange(Contract):
    action: Literal["add", "revise", "replace"]
    portfolio_id: Id
    portfolio_name: Name
    tiers: Tiers


class RemovePortfolioChange(Contract):
    action: Literal["remove"]
    portfolio_id: Id


class RenamePortfolioChange(Contract):
    action: Literal["rename"]
    portfolio_id: Id
    new_name: Name
    former_name: str | None = None


class Period(Contract):
    start: Date = Field(alias="from")
    end: Date = Field(alias="to")


class WaiverChange(Contract):
    action: Literal["waiver"]
    portfolio_id: Id
    portfolio_name: str | None = None
    tiers: Tiers
    period: Period


class FeeMethodChange(Contract):
    """The agreement's fee method from the amendment's effective date (no portfolio: it is the
    agreement's)."""

    action: Literal["fee_method"]
    method: FeeMethodName
    average_over: AverageOverName = "calendar_days"


class GroupScheduleChange(Contract):
    """A schedule on the combined net assets of `members` (from the amendment's effective
    date): each member pays its share, the cents allocated so the members sum to the group's."""

    action: Literal["group"]
    group_id: Id
    members: list[Id] = Field(min_length=1, max_length=200)
    tiers: Tiers
    allocation: Literal["pro_rata", "effective_rate"] = "pro_rata"


Change = Annotated[
    SetScheduleChange
    | RemovePortfolioChange
    | RenamePortfolioChange
    | WaiverChange
    | FeeMethodChange
    | GroupScheduleChange,
    Field(discriminator="action"),
]


class AgreementRegistered(Message):
    type: Literal["AgreementRegistered"] = "AgreementRegistered"
    agreement_id: Id
    agreement_date: Date | None = None
    trust: str | None = None
    adviser: str | None = None
    agreement_type: Literal[
        "management", "subadvisory", "fee_waiver", "administration", "unknown"
    ] = "management"
    day_count: DayCountName = "ACT/365F"
    # MODE:QUANTUM, and ":month-to-date" for rounding that ties each month to the cent.
    rounding: str = Field(
        default="ROUND_HALF_UP:0.01",
        pattern=r"^ROUND_[A-Z_]+:[0-9]{1,30}(\.[0-9]{1,20})?(:accrual|:month-to-date)?$",
    )
    # ISO 4217: the currency of the schedule's breakpoints and of every report priced on it.
    currency: Currency = "USD"
    # Whose net assets price the days from a report date: its own, or the report before it's.
    fee_base: Literal["same_day", "prior_day"] = "same_day"
    # The month's fee: the sum of the daily accruals, or computed on the month's average net
    # assets (x days / year basis, or / 12), averaged over calendar or business days.
    fee_method: FeeMethodName = "daily"
    average_over: AverageOverName = "calendar_days"
    # An invoice matches its closed month's fee within the larger of an amount (in the
    # agreement's currency) and a percent of the fee.
    invoice_tolerance: DecimalStr = Decimal("0.01")
    invoice_tolerance_pct: DecimalStr = Decimal("0.01")


class AmendmentRecorded(Message):
    type: Literal["AmendmentRecorded"] = "AmendmentRecorded"
    agreement_id: Id
    amendment_number: Count
    effective_date: Date
    executed_date: Date | None = None
    source: SourceRef = Field(default_factory=SourceRef)
    changes: list[Change] = Field(min_length=1, max_length=500)


class AmendmentRetracted(Message):
    type: Literal["AmendmentRetracted"] = "AmendmentRetracted"
    agreement_id: Id
    amendment_number: Count
    reason: str = Field(min_length=1, max_length=2000)


# ---- fee worker -----------------------------------------------------------------------------


def _empty(value: object) -> bool:
    # (`value == []` would make a list on every call, for every optional field of every event.)
    return value is None or (isinstance(value, list) and not value)


class ClassNetAssets(Contract):
    """A share class's part of the portfolio's net assets."""

    class_id: Id
    net_assets: NonNegativeDecimalStr


class NetAssetsReported(Message):
    """Input from fund accounting: a portfolio's net assets on a date (and, optionally, each
    share class's part of them, which must sum to the portfolio's)."""

    type: Literal["NetAssetsReported"] = "NetAssetsReported"
    report_id: Id
    portfolio_id: Id
    as_of: Date
    net_assets: NonNegativeDecimalStr
    currency: Currency = "USD"
    accrual_days: AccrualDays = 1
    revision: Count = 0
    classes: list[ClassNetAssets] = Field(default_factory=list, max_length=100, exclude_if=_empty)


class ScheduleRef(Contract):
    """The schedule version that priced a fee: which amendment, and where it sits in the log."""

    agreement_id: str
    amendment_number: Count
    effective_date: Date
    event_id: str
    position: str
    waiver: StrictBool = False


class BandCharge(Contract):
    lower: DecimalStr = Field(alias="from")
    upper: DecimalStr | None = Field(alias="to")
    rate_pct: DecimalStr
    assets_in_band: DecimalStr
    annual_charge: DecimalStr


class ClassShare(Contract):
    """A share class's part of a fee, by its relative net assets (Rule 18f-3); the classes'
    rounded amounts sum exactly to the portfolio's (largest remainder)."""

    class_id: Id
    net_assets: DecimalStr
    amount: DecimalStr
    amount_exact: DecimalStr


class ClassDelta(Contract):
    """A share class's part of an adjustment."""

    class_id: Id
    previous_amount: DecimalStr
    new_amount: DecimalStr
    delta: DecimalStr


class AccrualSegment(Period):
    """Consecutive days of an accrual period priced by one schedule on one year basis."""

    days: AccrualDays
    # Null: no schedule was in force on these days (nothing is owed for them).
    schedule_ref: ScheduleRef | None
    effective_rate_pct: DecimalStr
    amount_exact: DecimalStr


class FeeAccrued(Message):
    """A fee for the calendar days `as_of` .. `as_of` + `accrual_days` - 1, each priced by the
    schedule in force on it; `schedule_ref` and the terms are the first priced day's, and
    `segments` lists the stretches when the period has more than one."""

    type: Literal["FeeAccrued"] = "FeeAccrued"
    accrual_id: Id
    portfolio_id: Id
    as_of: Date
    net_assets: DecimalStr
    currency: str
    accrual_days: AccrualDays
    day_count: DayCountName
    year_basis: StrictInt
    rounding: str
    annual_fee: DecimalStr
    amount: DecimalStr
    amount_exact: DecimalStr
    effective_rate_pct: DecimalStr
    breakdown: list[BandCharge]
    schedule_ref: ScheduleRef
    report_id: Id
    revision: Count
    # Written only where there is something to say (a period of more than one stretch; a
    # waiver), so a plain day's event reads as it always has.
    segments: list[AccrualSegment] = Field(default_factory=list, exclude_if=_empty)
    # Where a waiver applies on any day of the period: the fee before it (the contract
    # schedules), and what it waives; `amount` is the net. gross - waived = net, exact and
    # rounded. Absent where no waiver applies: then gross is the amount.
    gross_amount: DecimalStr | None = Field(default=None, exclude_if=_empty)
    gross_amount_exact: DecimalStr | None = Field(default=None, exclude_if=_empty)
    waived_amount: DecimalStr | None = Field(default=None, exclude_if=_empty)
    waived_amount_exact: DecimalStr | None = Field(default=None, exclude_if=_empty)
    gross_schedule_ref: ScheduleRef | None = Field(default=None, exclude_if=_empty)
    # Under a prior-day fee base: the report date whose net assets (`net_assets`) priced these
    # days; the portfolio's first report is priced on its own, and `fee_base_note` says so.
    fee_base_as_of: Date | None = Field(default=None, exclude_if=_empty)
    fee_base_note: str | None = Field(default=None, exclude_if=_empty)
    # When the report gave its share classes: each class's part of `amount`.
    classes: list[ClassShare] = Field(default_factory=list, exclude_if=_empty)
    # A group's day priced before these members reported (their reports adjust it).
    provisional: list[Id] = Field(default_factory=list, exclude_if=_empty)


class FeeAdjusted(Message):
    """A correction of an accrual already emitted; the original is never rewritten."""

    type: Literal["FeeAdjusted"] = "FeeAdjusted"
    adjustment_id: Id
    accrual_id: Id
    portfolio_id: Id
    as_of: Date
    previous_amount: DecimalStr
    new_amount: DecimalStr
    delta: DecimalStr
    new_amount_exact: DecimalStr
    net_assets: DecimalStr
    reason: Literal["amendment", "retraction", "revised_report"]
    schedule_ref: ScheduleRef | None
    previous_schedule_ref: ScheduleRef | None
    report_id: Id
    revision: Count
    # Under a prior-day fee base: the report date whose net assets priced the new amount.
    fee_base_as_of: Date | None = Field(default=None, exclude_if=_empty)
    # When `as_of`'s month is closed: the open month the change is booked in (the closed
    # month is never rewritten); absent, it is booked in `as_of`'s own month.
    posted_in: Month | None = Field(default=None, exclude_if=_empty)
    # When the report gave its share classes: each class's part of the change.
    classes: list[ClassDelta] = Field(default_factory=list, exclude_if=_empty)


class MonthFeePart(Period):
    """Days of a month under one schedule, priced on their own average net assets."""

    days: AccrualDays
    # Null: no day of the part had net assets to average.
    average_net_assets: DecimalStr | None
    schedule_ref: ScheduleRef | None
    fee_exact: DecimalStr


class MonthCatchUp(Contract):
    """An earlier, closed month's fee recomputed at this close: what it is now by its method,
    what has been booked for it (its close, the changes posted since), and the difference,
    booked in this month."""

    month: Month
    fee: DecimalStr
    booked: DecimalStr
    difference: DecimalStr


class FeeTrueUp(Message):
    """A month's fee by the agreement's method, beside the sum of its daily accruals (those
    booked in the month: as_of in it); `true_up` = fee - daily_total is owed on top."""

    type: Literal["FeeTrueUp"] = "FeeTrueUp"
    true_up_id: Id
    portfolio_id: Id
    agreement_id: Id
    month: Month
    method: FeeMethodName
    average_over: AverageOverName
    currency: str
    rounding: str
    fee: DecimalStr
    fee_exact: DecimalStr
    daily_total: DecimalStr
    true_up: DecimalStr
    # The month's parts (none under the daily method: its fee is the daily total).
    parts: list[MonthFeePart] = Field(default_factory=list, exclude_if=_empty)
    # The amendment that set the method in force (absent: the method registered).
    method_ref: ScheduleRef | None = Field(default=None, exclude_if=_empty)
    # Earlier closed months whose fee changed since they closed, by more than the changes
    # already posted for their days (under a method other than daily): booked here too.
    catch_ups: list[MonthCatchUp] = Field(default_factory=list, exclude_if=_empty)


class PeriodClosed(Message):
    """A portfolio's month, closed: nothing that follows rewrites it."""

    type: Literal["PeriodClosed"] = "PeriodClosed"
    portfolio_id: Id
    month: Month
    true_up_id: Id
    # Closed with --force: what the close went without (days no accrual covers, reports
    # waiting unpriced, reports the fee worker had not settled).
    forced: StrictBool = False
    missing: list[str] = Field(default_factory=list, exclude_if=_empty)


class CloseMonthRequested(Message):
    """A command from an accounting system: close a month (as `feeschedule close` does) for
    one portfolio, the portfolios of one agreement, or (neither given) every portfolio."""

    type: Literal["CloseMonthRequested"] = "CloseMonthRequested"
    request_id: Id
    month: Month
    agreement_id: Id | None = None
    portfolio_id: Id | None = None
    force: StrictBool = False


class MonthCloseRefused(Message):
    """A requested close that did not close a portfolio's month, and what was missing."""

    type: Literal["MonthCloseRefused"] = "MonthCloseRefused"
    request_id: Id
    portfolio_id: Id
    month: Month
    missing: list[str]


class InvoiceReceived(Message):
    """Input from the adviser's side: what it invoices a portfolio for a month."""

    type: Literal["InvoiceReceived"] = "InvoiceReceived"
    invoice_id: Id
    agreement_id: Id
    portfolio_id: Id
    month: Month
    amount: DecimalStr
    currency: Currency = "USD"


class _InvoiceOutcome(Message):
    invoice_id: Id
    agreement_id: Id
    portfolio_id: Id
    month: Month
    currency: str
    # What was invoiced, what the closed month books (its closing fee), invoiced - expected,
    # and the tolerance the difference was judged by.
    amount: DecimalStr
    expected: DecimalStr
    difference: DecimalStr
    tolerance: DecimalStr


class InvoiceMatched(_InvoiceOutcome):
    """An invoice within tolerance of the closed month's fee."""

    type: Literal["InvoiceMatched"] = "InvoiceMatched"


class InvoiceBreak(_InvoiceOutcome):
    """An invoice that does not tie to the closed month's fee, and what explains it, where the
    service can find it (catch-ups booked in the month; a schedule the invoiced amount
    implies)."""

    type: Literal["InvoiceBreak"] = "InvoiceBreak"
    # The annual rate the invoice implies on the month's average net assets (percent).
    implied_rate_pct: DecimalStr | None = None
    explanations: list[str] = Field(default_factory=list)


WireCode = Literal[
    "invalid_encoding", "too_large", "too_deep", "invalid_json", "unknown_type", "invalid_field"
]
"""Why an entry is not a valid message (`contracts.wire.WireError.code`)."""

DeadLetterCode = Literal[
    WireCode,
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
    deliveries: Annotated[int, Field(strict=True, ge=1)] = 1
    consumer: str | None = None


class _ReportOutcome(Message):
    source_stream: str
    entry_id: str
    report_id: Id
    portfolio_id: Id
    as_of: Date
    revision: Count


class ReportHeld(_ReportOutcome):
    """A valid report that waits unpriced (it is priced, as FeeAccrued, once it can be)."""

    type: Literal["ReportHeld"] = "ReportHeld"
    code: HeldCode
    reason: str


class ReportIgnored(_ReportOutcome):
    """A valid report that changed nothing: the ledger already holds what it says, or more."""

    type: Literal["ReportIgnored"] = "ReportIgnored"
    code: IgnoredCode
    reason: str
    accrual_id: Id | None = None
    held_report_id: Id
    held_revision: Count


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
    FeeTrueUp,
    PeriodClosed,
    CloseMonthRequested,
    MonthCloseRefused,
    InvoiceReceived,
    InvoiceMatched,
    InvoiceBreak,
    ReportHeld,
    ReportIgnored,
    DeadLetter,
)
MESSAGE_TYPES: dict[str, type[Message]] = {m.model_fields["type"].default: m for m in ALL_MESSAGES}

"""The month statement (`feeschedule statement PORTFOLIO --month YYYY-MM --json`): a portfolio's
month as a fund accountant reviews it. Its JSON Schema is contracts/schemas/MonthStatement.json.

`fee` is the month's fee by the agreement's method (as closed, for a closed month; as the ledger
stands, for an open one), `true_up` what it adds to the daily accruals, `catch_ups` the changes
to days of earlier, closed months booked in this month, and `month_catch_ups` what this month's
close booked for earlier months' fees beyond those. `closing_fee` is all the month books, and
`invoices` the adviser's invoices of the month with their match or break.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from contracts.message_examples import NO_22
from contracts.messages import (
    AverageOverName,
    Contract,
    Date,
    DecimalStr,
    FeeMethodName,
    Id,
    Month,
    MonthCatchUp,
    MonthFeePart,
)


class InvoiceLine(Contract):
    """An invoice of the month: matched, a break (with what explains it), or waiting for the
    month's close."""

    invoice_id: Id
    amount: DecimalStr
    status: Literal["matched", "break", "waiting"]
    difference: DecimalStr | None = None
    explanations: list[str] = Field(default_factory=list)


class PostedChange(Contract):
    """A change to a day of a closed month, booked in this month."""

    as_of: Date
    delta: DecimalStr
    reason: Literal["amendment", "retraction", "revised_report"]


MONTH_STATEMENT_EXAMPLE: dict[str, Any] = {
    "portfolio_id": "met-aim-small-cap-growth-portfolio",
    "agreement_id": "met-investors",
    "month": "2006-12",
    "status": "closed",
    "currency": "USD",
    "method": "average_daily_net_assets",
    "average_over": "calendar_days",
    "parts": [
        {
            "from": "2006-12-01",
            "to": "2006-12-31",
            "days": 31,
            "average_net_assets": "750000000.00",
            "schedule_ref": NO_22,
            "fee_exact": "549931.5068493150684931506849315068",
        }
    ],
    "daily_total": "549931.63",
    "fee": "549931.51",
    "true_up": "-0.12",
    "catch_ups": [{"as_of": "2006-11-01", "delta": "-753.42", "reason": "amendment"}],
    "month_catch_ups": [
        {"month": "2006-11", "fee": "532191.78", "booked": "532191.90", "difference": "-0.12"}
    ],
    "closing_fee": "549177.97",
    "invoices": [
        {
            "invoice_id": "inv-2006-12",
            "amount": "549177.97",
            "status": "matched",
            "difference": "0.00",
            "explanations": [],
        }
    ],
}


class MonthStatement(Contract):
    """A portfolio's month: its fee by method, the daily accruals, true-up and catch-ups."""

    model_config = ConfigDict(json_schema_extra={"examples": [MONTH_STATEMENT_EXAMPLE]})

    portfolio_id: Id
    agreement_id: Id
    month: Month
    status: Literal["open", "closed"]
    currency: str
    method: FeeMethodName
    average_over: AverageOverName
    parts: list[MonthFeePart] = Field(default_factory=list)
    daily_total: DecimalStr
    fee: DecimalStr
    true_up: DecimalStr
    catch_ups: list[PostedChange] = Field(default_factory=list)
    month_catch_ups: list[MonthCatchUp] = Field(default_factory=list)
    closing_fee: DecimalStr
    invoices: list[InvoiceLine] = Field(default_factory=list)

"""A fee method changed by amendment: in force from the amendment's effective date (the month
that begins under it is priced by it), withdrawn by a retraction, kept by the read model, and
written in an amendment file as a change that names no portfolio. No Redis."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pydantic_core

from contracts.messages import AmendmentRecorded, AmendmentRetracted
from services.adapters.readmodel.codec import agreement_doc, agreement_from_doc
from services.app.amendment_file import amendment_from_reading
from services.app.months import month_true_up
from services.domain.month import AverageOver, FeeMethod, month_days
from tests.pricing_world import RATE_1, World

JUNE = month_days("2024-06")


def fee_method_amendment(number: int, effective: str, method: str) -> AmendmentRecorded:
    change = {"action": "fee_method", "method": method, "average_over": "business_days"}
    return AmendmentRecorded.model_validate(
        {
            "agreement_id": "AG",
            "amendment_number": number,
            "effective_date": effective,
            "changes": [change],
        }
    )


async def test_the_method_in_force_when_a_month_begins_prices_it_and_a_retraction_undoes_it() -> (
    None
):
    w = World()
    w.amend(1, date(2024, 1, 1), RATE_1, "add")
    w.log(fee_method_amendment(2, "2024-06-01", "monthly_twelfth"))
    await w.advance()
    await w.settle([w.report(d, "120000000") for d in [*month_days("2024-05"), *JUNE]])
    agreement = w.book.agreements["AG"]
    assert agreement.fee_method_on(date(2024, 5, 31)).method is FeeMethod.DAILY
    june = agreement.fee_method_on(date(2024, 6, 1))
    assert (june.method, june.average_over, june.amendment_number) == (
        FeeMethod.MONTHLY_TWELFTH,
        AverageOver.BUSINESS_DAYS,
        2,
    )
    ledger = w.entry_texts()
    assert month_true_up(w.book, "P1", "2024-05", ledger).method == "daily"
    true_up = month_true_up(w.book, "P1", "2024-06", ledger)
    assert true_up.method == "monthly_twelfth"
    assert true_up.method_ref is not None and true_up.method_ref.amendment_number == 2
    assert month_true_up(w.book, "P1", "2024-05", ledger).method_ref is None
    assert true_up.fee == Decimal("90000.00")  # 0.90% of $120 million / 12
    w.log(AmendmentRetracted(agreement_id="AG", amendment_number=2, reason="recorded in error"))
    assert month_true_up(w.book, "P1", "2024-06", ledger).method == "daily"


def test_the_read_model_keeps_the_methods_amendments_set() -> None:
    w = World()
    w.amend(1, date(2024, 1, 1), RATE_1, "add")
    w.log(fee_method_amendment(2, "2024-06-01", "average_daily_net_assets"))
    doc = pydantic_core.from_json(agreement_doc(w.book.agreements["AG"]))
    kept = agreement_from_doc(doc, {})
    assert kept.fee_methods == w.book.agreements["AG"].fee_methods
    assert kept.fee_method_on(date(2024, 7, 1)).method is FeeMethod.AVERAGE_DAILY_NET_ASSETS


def test_an_amendment_file_says_a_fee_method_with_no_portfolio() -> None:
    file = {
        "agreement_id": "AG",
        "amendment_number": 7,
        "effective_date": "2024-06-01",
        "changes": [{"action": "fee_method", "method": "average_daily_net_assets"}],
    }
    (change,) = amendment_from_reading(file, None).changes
    assert change.model_dump() == {
        "action": "fee_method",
        "method": "average_daily_net_assets",
        "average_over": "calendar_days",
    }

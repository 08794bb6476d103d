"""The accruals query (`services.app.accruals.statement`): the days between two dates, month
totals of what was accrued, adjusted and is owed now, and the dates still unpriced."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from services.app.accruals import statement
from services.app.ledger import LedgerEntry


def entry(as_of: str, accrued: str, amount: str) -> str:
    return LedgerEntry(
        accrual_id=f"p1:{as_of}",
        portfolio_id="p1",
        as_of=as_of,
        amount=amount,
        amount_exact=amount,
        accrued=accrued,
        net_assets="100000000",
        accrual_days=1,
        currency="USD",
        day_count="ACT/365F",
        rounding="ROUND_HALF_UP:0.01",
        report_id=f"r-{as_of}",
        revision=0,
        schedule_ref=None,
    ).to_json()


def test_month_totals_split_what_was_accrued_from_what_was_adjusted() -> None:
    ledger = {
        "2024-01-30": entry("2024-01-30", "10.00", "10.00"),
        "2024-01-31": entry("2024-01-31", "10.00", "12.50"),
        "2024-02-01": entry("2024-02-01", "11.00", "9.00"),
        "2024-02-02": entry("2024-02-02", "99.00", "99.00"),  # after the range
    }
    found = statement(
        "p1", ledger, ["2024-02-01", "2023-12-31"], date(2024, 1, 1), date(2024, 2, 1)
    )
    assert [e.as_of for e in found.entries] == ["2024-01-30", "2024-01-31", "2024-02-01"]
    assert found.months == [
        {
            "month": "2024-01",
            "accrued": "20.00",
            "adjustments": "2.50",
            "amount": "22.50",
            "amount_exact": "22.50",
            "gross": "22.50",
            "waived": "0",
            "closed": False,
            "catch_ups": [],
        },
        {
            "month": "2024-02",
            "accrued": "11.00",
            "adjustments": "-2.00",
            "amount": "9.00",
            "amount_exact": "9.00",
            "gross": "9.00",
            "waived": "0",
            "closed": False,
            "catch_ups": [],
        },
    ]
    assert found.total == Decimal("31.50") and found.unpriced == ["2024-02-01"]
    assert found.as_json()["entries"][1]["amount"] == "12.50"


cents = st.decimals(min_value=0, max_value=10**6, places=2)


@given(st.lists(st.tuples(cents, cents), min_size=1, max_size=60))
def test_the_months_add_up_to_the_total(amounts: list[tuple[Decimal, Decimal]]) -> None:
    days = [date.fromordinal(date(2024, 1, 1).toordinal() + 3 * i) for i in range(len(amounts))]
    ledger = {
        d.isoformat(): entry(d.isoformat(), str(a), str(b))
        for d, (a, b) in zip(days, amounts, strict=True)
    }
    found = statement("p1", ledger, [], days[0], days[-1])
    assert sum(Decimal(m["amount"]) for m in found.months) == found.total
    for m in found.months:
        assert Decimal(m["accrued"]) + Decimal(m["adjustments"]) == Decimal(m["amount"])

"""A report's period priced day by day, through a real `feeschedule run fee-worker` process.

The seed's portfolio pays Amendment No. 2's 0.90% flat; a test amendment with Amendment No.
22's schedule (0.88% of the first $500 million, 0.83% over) takes effect on Sunday 2006-10-01.
Friday 2006-09-29, reported for 3 days on $600 million, owes 2 days at 0.90% and 1 at the new
schedule, whether the amendment was known when the report came or learned after (then one
FeeAdjusted says exactly the difference). Under ACT/ACT, Friday 2027-12-31 for 3 days is 1
day on a 365-day basis and 2 on 366. Every amount is computed here, not by the project's code.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import FEESCHEDULE
from test_fee_worker_e2e import Worker, read_stream, report_fields, wait_until, worker_env

from contracts.messages import AgreementRegistered, AmendmentRecorded
from contracts.wire import encode

pytestmark = pytest.mark.e2e

FLAT = [{"from": "0", "to": None, "rate_pct": "0.90"}]
NO_22 = [
    {"from": "0", "to": "500000000", "rate_pct": "0.88"},
    {"from": "500000000", "to": None, "rate_pct": "0.83"},
]
ASSETS = Decimal(600_000_000)
# Annual fees on $600 million: 0.90% of it; 0.88% of $500 million plus 0.83% of $100 million.
ANNUAL_FLAT = Decimal(5_400_000)
ANNUAL_NO_22 = Decimal(4_400_000) + Decimal(830_000)


def amendment(agreement: str, number: int, effective: date, pid: str, tiers: Any) -> Any:
    action = "add" if number in (1, 2) else "revise"
    change = {"action": action, "portfolio_id": pid, "portfolio_name": pid, "tiers": tiers}
    return AmendmentRecorded.model_validate(
        {
            "agreement_id": agreement,
            "amendment_number": number,
            "effective_date": effective,
            "changes": [change],
        }
    )


def cents(*days: tuple[Decimal, int]) -> Decimal:
    """The period's fee: each (annual fee, year basis) is one day; the sum rounded once."""
    with localcontext() as ctx:
        ctx.prec = 60
        exact = sum((annual / basis for annual, basis in days), Decimal(0))
    return exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_a_weekend_period_is_priced_day_by_day_known_first_or_learned_late(
    redis_url: str, prefix: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    tag = "{" + prefix + "}"
    log, inbox, outbox = f"{tag}:agreements", f"{tag}:net-assets", f"{tag}:accruals"
    letters = f"{tag}:dead-letters"
    friday, sunday = date(2006, 9, 29), date(2006, 10, 1)
    year_end = date(2027, 12, 31)
    redis_client.xadd(log, encode(AgreementRegistered(agreement_id="met")))  # type: ignore[arg-type]
    registered = AgreementRegistered(agreement_id="actact", day_count="ACT/ACT")
    redis_client.xadd(log, encode(registered))  # type: ignore[arg-type]
    for message in (
        amendment("met", 2, date(2006, 5, 1), "KNOWN", FLAT),
        amendment("met", 3, date(2006, 5, 1), "LATE", FLAT),
        amendment("met", 21, sunday, "KNOWN", NO_22),  # known before the report comes
        amendment("actact", 1, date(2027, 1, 1), "YEAR", FLAT),
        amendment("met", 4, date(2006, 5, 1), "GAPPY", FLAT),
    ):
        redis_client.xadd(log, encode(message))  # type: ignore[arg-type]
    with worker_env(redis_url, prefix) as env:
        worker = Worker(env, tmp_path / "worker.log")
        try:
            for pid, day in (("KNOWN", friday), ("LATE", friday), ("YEAR", year_end)):
                redis_client.xadd(inbox, report_fields(pid, day, ASSETS, 3))  # type: ignore[arg-type]
            # GAPPY reports Monday and Wednesday, nothing for Tuesday.
            for day in (date(2006, 9, 25), date(2006, 9, 27)):
                redis_client.xadd(inbox, report_fields("GAPPY", day, ASSETS, 1))  # type: ignore[arg-type]
            wait_until(lambda: redis_client.xlen(outbox) >= 5, 30, "five accruals")
            # Saturday is KNOWN's Friday report's: a report for it is refused.
            saturday = report_fields("KNOWN", date(2006, 9, 30), ASSETS, 1)
            redis_client.xadd(inbox, saturday)  # type: ignore[arg-type]
            wait_until(lambda: redis_client.xlen(letters) >= 1, 30, "the overlap's dead letter")
            # Learned after the accruals: LATE's schedule changes on the Sunday, YEAR's on
            # Saturday 2028-01-01.
            for message in (
                amendment("met", 23, sunday, "LATE", NO_22),
                amendment("actact", 2, date(2028, 1, 1), "YEAR", NO_22),
            ):
                redis_client.xadd(log, encode(message))  # type: ignore[arg-type]
            wait_until(lambda: redis_client.xlen(outbox) >= 7, 30, "two adjustments")
        finally:
            assert worker.stop() == 0
    out = read_stream(redis_client, outbox)
    accrued = {fee["portfolio_id"]: fee for kind, fee in out if kind == "FeeAccrued"}
    ((_, letter),) = read_stream(redis_client, letters)
    assert "2006-09-30..2006-09-30 overlaps 2006-09-29..2006-10-01" in letter["reason"]
    gaps = subprocess.run(
        [str(FEESCHEDULE), "gaps", "GAPPY", "--from=2006-09-01", "--to=2006-09-30", "--json"],
        env={**os.environ, "FEES_REDIS_URL": redis_url, "FEES_PREFIX": prefix},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(gaps.stdout) == {"portfolio_id": "GAPPY", "gaps": ["2006-09-26"]}
    adjusted = [fee for kind, fee in out if kind == "FeeAdjusted"]

    known = accrued["KNOWN"]
    assert Decimal(known["amount"]) == cents(
        (ANNUAL_FLAT, 365), (ANNUAL_FLAT, 365), (ANNUAL_NO_22, 365)
    )
    assert known["schedule_ref"]["amendment_number"] == 2  # the first day's schedule
    segments = [
        (s["from"], s["to"], s["days"], s["schedule_ref"]["amendment_number"])
        for s in known["segments"]
    ]
    assert segments == [("2006-09-29", "2006-09-30", 2, 2), ("2006-10-01", "2006-10-01", 1, 21)]
    exact = sum((Decimal(s["amount_exact"]) for s in known["segments"]), Decimal(0))
    assert abs(exact - Decimal(known["amount_exact"])) < Decimal("1e-20")

    late = accrued["LATE"]
    # One stretch: no segments, and no gross or waived either (no waiver), in the event.
    assert Decimal(late["amount"]) == cents(*[(ANNUAL_FLAT, 365)] * 3)
    assert "segments" not in late and "gross_amount" not in late
    year = accrued["YEAR"]
    assert Decimal(year["amount"]) == cents(
        (ANNUAL_FLAT, 365), (ANNUAL_FLAT, 366), (ANNUAL_FLAT, 366)
    )
    assert [(s["from"], s["days"]) for s in year["segments"]] == [
        ("2027-12-31", 1),
        ("2028-01-01", 2),
    ]

    by_portfolio = {a["portfolio_id"]: a for a in adjusted}
    assert sorted(by_portfolio) == ["LATE", "YEAR"] and len(adjusted) == 2
    want_late = cents((ANNUAL_FLAT, 365), (ANNUAL_FLAT, 365), (ANNUAL_NO_22, 365))
    assert by_portfolio["LATE"]["as_of"] == "2006-09-29"
    assert Decimal(by_portfolio["LATE"]["new_amount"]) == want_late
    assert Decimal(by_portfolio["LATE"]["delta"]) == want_late - Decimal(late["amount"])
    want_year = cents((ANNUAL_FLAT, 365), (ANNUAL_NO_22, 366), (ANNUAL_NO_22, 366))
    assert Decimal(by_portfolio["YEAR"]["new_amount"]) == want_year
    assert Decimal(by_portfolio["YEAR"]["delta"]) == want_year - Decimal(year["amount"])

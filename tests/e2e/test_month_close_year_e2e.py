"""A year closed month by month under average daily net assets, then a late amendment.

The seed's portfolio pays Amendment No. 2's 0.90% flat; its agreement is registered with
`--fee-method average_daily_net_assets`. A real fee worker accrues every day of 2006; each month
from January to November is closed with `feeschedule close`, and each true-up must equal what
this test computes from the reports alone. Then Amendment No. 22 (0.88% of the first $500
million, 0.83% over, effective 2006-11-01) is recorded: November stays as it was closed, the
changes are posted in December, and the December close books the rest, so that what is posted
for November in December equals November recomputed by hand less November as closed.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import Feeschedule
from jsonschema import Draft202012Validator
from test_accrual_periods_e2e import FLAT, NO_22, amendment
from test_fee_worker_e2e import Worker, read_stream, report_fields, wait_until, worker_env

from contracts.wire import encode

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PID = "SEED"
YEAR = [date(2006, 1, 1) + timedelta(days=i) for i in range(365)]


def assets(day: date) -> Decimal:
    """$450 million rising $250,000 a day: the year crosses the $500 million breakpoint."""
    return Decimal(450_000_000) + Decimal(250_000) * day.timetuple().tm_yday


def annual(tiers: list[dict[str, Any]], amount: Decimal) -> Decimal:
    fee = Decimal(0)
    for tier in tiers:
        low = Decimal(tier["from"])
        high = amount if tier["to"] is None else min(amount, Decimal(tier["to"]))
        fee += max(high - low, Decimal(0)) * Decimal(tier["rate_pct"]) / 100
    return fee


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def month_fee(month: int, tiers: list[dict[str, Any]]) -> Decimal:
    """The month's fee: the annual fee of its average net assets x its days / 365."""
    days = [d for d in YEAR if d.month == month]
    with localcontext() as ctx:
        ctx.prec = 60
        average = sum((assets(d) for d in days), Decimal(0)) / len(days)
        return cents(annual(tiers, average) * len(days) / 365)


def daily_total(month: int, tiers: list[dict[str, Any]]) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 60
        days = [d for d in YEAR if d.month == month]
        return sum((cents(annual(tiers, assets(d)) / 365) for d in days), Decimal(0))


def close(feeschedule: Feeschedule, month: str) -> dict[str, Any]:
    (outcome,) = json.loads(feeschedule.ok("close", "--month", month, "--json"))
    assert outcome["status"] == "closed", outcome
    return dict(outcome["true_up"])


def test_a_year_closed_month_by_month_and_a_late_amendment_caught_up_in_december(
    redis_url: str,
    prefix: str,
    redis_client: redis.Redis,
    feeschedule: Feeschedule,
    tmp_path: Path,
) -> None:
    tag = "{" + prefix + "}"
    log, inbox, outbox = f"{tag}:agreements", f"{tag}:net-assets", f"{tag}:accruals"
    feeschedule.ok(
        "register-agreement", "--agreement", "met", "--fee-method", "average_daily_net_assets"
    )
    redis_client.xadd(log, encode(amendment("met", 2, date(2006, 1, 1), PID, FLAT)))  # type: ignore[arg-type]
    true_ups: dict[int, dict[str, Any]] = {}
    with worker_env(redis_url, prefix) as env:
        worker = Worker(env, tmp_path / "worker.log")
        try:
            for day in YEAR:
                redis_client.xadd(inbox, report_fields(PID, day, assets(day)))  # type: ignore[arg-type]
            wait_until(lambda: redis_client.xlen(outbox) >= 365, 60, "a year of accruals")
            for month in range(1, 12):
                true_ups[month] = close(feeschedule, f"2006-{month:02d}")
            redis_client.xadd(log, encode(amendment("met", 22, date(2006, 11, 1), PID, NO_22)))  # type: ignore[arg-type]
            adjusted = 365 + 11 * 2 + 61  # November's and December's days
            wait_until(lambda: redis_client.xlen(outbox) >= adjusted, 60, "the adjustments")
        finally:
            assert worker.stop() == 0
    for month, true_up in true_ups.items():
        assert Decimal(true_up["fee"]) == month_fee(month, FLAT), month
        assert Decimal(true_up["daily_total"]) == daily_total(month, FLAT), month
    december = close(feeschedule, "2006-12")
    assert Decimal(december["fee"]) == month_fee(12, NO_22)
    events = read_stream(redis_client, outbox)
    november_posts = [
        e for kind, e in events if kind == "FeeAdjusted" and e["as_of"].startswith("2006-11")
    ]
    assert len(november_posts) == 30 and {e["posted_in"] for e in november_posts} == {"2006-12"}
    posted = sum((Decimal(e["delta"]) for e in november_posts), Decimal(0))
    (catch_up,) = december["catch_ups"]
    assert catch_up["month"] == "2006-11"
    assert posted + Decimal(catch_up["difference"]) == month_fee(11, NO_22) - month_fee(11, FLAT)
    # November reads as it was closed; the catch-ups are December's.
    statement = json.loads(
        feeschedule.ok("accruals", PID, "--from=2006-11-01", "--to=2006-12-31", "--json")
    )
    november, december_row = statement["months"]
    assert november["closed"] is True and Decimal(november["amount"]) == daily_total(11, FLAT)
    assert sum(Decimal(c["delta"]) for c in december_row["catch_ups"]) == posted
    # The month statement of December: what its close booked, valid against the schema.
    printed = json.loads(feeschedule.ok("statement", PID, "--month", "2006-12", "--json"))
    schema = json.loads((ROOT / "contracts" / "schemas" / "MonthStatement.json").read_text())
    Draft202012Validator(schema).validate(printed)
    assert printed["status"] == "closed" and len(printed["catch_ups"]) == 30
    assert Decimal(printed["closing_fee"]) == (
        month_fee(12, NO_22) + posted + Decimal(catch_up["difference"])
    )
    closed_november = json.loads(feeschedule.ok("statement", PID, "--month", "2006-11", "--json"))
    assert Decimal(closed_november["fee"]) == month_fee(11, FLAT)
    assert "closing fee" in feeschedule.ok("statement", PID, "--month", "2006-12")

"""An agreement's fee base and month rounding, as a user sets them: registered through the
command line, priced by a real `feeschedule run fee-worker` process.

Under `--fee-base prior_day` Tuesday's fee is computed on Monday's net assets, and a revised
Monday report adjusts Tuesday (Monday's own fee, priced on Friday's, stays). Under
`--rounding ROUND_HALF_UP:0.01:month-to-date` three half-cent days book two cents, not three.
Every amount is computed here, not by the project's code.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import Feeschedule
from test_fee_worker_e2e import Worker, read_stream, report_fields, wait_until, worker_env

from contracts.messages import AmendmentRecorded
from contracts.wire import encode

pytestmark = pytest.mark.e2e

FRIDAY, MONDAY, TUESDAY = date(2024, 3, 1), date(2024, 3, 4), date(2024, 3, 5)


def flat(agreement: str, pid: str, rate: str) -> Any:
    change = {
        "action": "add",
        "portfolio_id": pid,
        "portfolio_name": pid,
        "tiers": [{"from": "0", "to": None, "rate_pct": rate}],
    }
    return AmendmentRecorded.model_validate(
        {
            "agreement_id": agreement,
            "amendment_number": 1,
            "effective_date": date(2024, 1, 1),
            "changes": [change],
        }
    )


def day_fee(assets: str, rate: str, days: int = 1) -> Decimal:
    """`days` days of `rate` percent a year on `assets`, ACT/365F (2024's days too), to the cent."""
    with localcontext() as ctx:
        ctx.prec = 60
        exact = Decimal(assets) * Decimal(rate) / 100 * days / 365
    return exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def revised(fields: dict[str, str]) -> dict[str, str]:
    data = json.loads(fields["data"]) | {"revision": 1, "net_assets": "250000000"}
    data["event_id"] += "-r1"
    return fields | {"event_id": data["event_id"], "data": json.dumps(data)}


def test_prior_day_base_and_month_to_date_rounding_set_at_registration(
    redis_url: str,
    prefix: str,
    redis_client: redis.Redis,
    feeschedule: Feeschedule,
    tmp_path: Path,
) -> None:
    tag = "{" + prefix + "}"
    log, inbox, outbox = f"{tag}:agreements", f"{tag}:net-assets", f"{tag}:accruals"
    feeschedule.ok("register-agreement", "--agreement", "prior", "--fee-base", "prior_day")
    feeschedule.ok(
        "register-agreement",
        "--agreement",
        "tied",
        "--rounding",
        "ROUND_HALF_UP:0.01:month-to-date",
    )
    redis_client.xadd(log, encode(flat("prior", "PRIOR", "0.90")))  # type: ignore[arg-type]
    # 0.365% a year on $500: half a cent a day.
    redis_client.xadd(log, encode(flat("tied", "TIED", "0.365")))  # type: ignore[arg-type]
    monday = report_fields("PRIOR", MONDAY, Decimal(200_000_000))
    with worker_env(redis_url, prefix) as env:
        worker = Worker(env, tmp_path / "worker.log")
        try:
            redis_client.xadd(inbox, report_fields("PRIOR", FRIDAY, Decimal(100_000_000), 3))  # type: ignore[arg-type]
            redis_client.xadd(inbox, monday)  # type: ignore[arg-type]
            redis_client.xadd(inbox, report_fields("PRIOR", TUESDAY, Decimal(300_000_000)))  # type: ignore[arg-type]
            for day in (MONDAY, TUESDAY, date(2024, 3, 6)):
                redis_client.xadd(inbox, report_fields("TIED", day, Decimal(500)))  # type: ignore[arg-type]
            wait_until(lambda: redis_client.xlen(outbox) >= 6, 30, "six accruals")
            redis_client.xadd(inbox, revised(monday))  # type: ignore[arg-type]
            wait_until(lambda: redis_client.xlen(outbox) >= 7, 30, "Tuesday's adjustment")
        finally:
            assert worker.stop() == 0
    out = read_stream(redis_client, outbox)
    accrued = {(e["portfolio_id"], e["as_of"]): e for kind, e in out if kind == "FeeAccrued"}

    friday = accrued[("PRIOR", FRIDAY.isoformat())]
    assert Decimal(friday["amount"]) == day_fee("100000000", "0.90", 3)  # the first: its own
    assert "own net assets" in friday["fee_base_note"]
    monday_fee = accrued[("PRIOR", MONDAY.isoformat())]
    assert Decimal(monday_fee["amount"]) == day_fee("100000000", "0.90")  # on Friday's
    tuesday = accrued[("PRIOR", TUESDAY.isoformat())]
    assert Decimal(tuesday["amount"]) == day_fee("200000000", "0.90")  # on Monday's
    assert tuesday["fee_base_as_of"] == MONDAY.isoformat()

    adjustments = [e for kind, e in out if kind == "FeeAdjusted"]
    (adjustment,) = adjustments  # Tuesday's, not Monday's
    assert adjustment["as_of"] == TUESDAY.isoformat()
    assert Decimal(adjustment["delta"]) == day_fee("250000000", "0.90") - day_fee(
        "200000000", "0.90"
    )

    tied = [Decimal(e["amount"]) for (pid, _), e in sorted(accrued.items()) if pid == "TIED"]
    assert tied == [Decimal("0.01"), Decimal("0.00"), Decimal("0.01")]
    assert sum(tied) == (Decimal("0.005") * 3).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    for (_, _), event in accrued.items():
        assert event["rounding"].endswith(":month-to-date") == (event["portfolio_id"] == "TIED")

"""`feeschedule demo`, run as a user would: no Redis given (embedded), and with REDIS_URL."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import holidays
import pytest
import redis
import redis.cluster
from conftest import FEESCHEDULE

pytestmark = pytest.mark.e2e

# A row of the demo's month totals: "│ 2006-05 │ 12,345.67 │".
MONTH_ROW = re.compile(r"^\W*(\d{4}-\d{2})\W+([\d,]+\.\d{2})\W*$")


def run_demo(env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "FEES_REDIS_URL")}
    env.update({"COLUMNS": "160", **env_extra})
    return subprocess.run(
        [str(FEESCHEDULE), "demo"], capture_output=True, text=True, env=env, timeout=120
    )


FLAT = [(None, Decimal("0.90"))]
TIERED = [(Decimal(500_000_000), Decimal("0.88")), (None, Decimal("0.83"))]
CHANGE = date(2006, 11, 1)


def annual_fee(net_assets: Decimal, bands: list[tuple[Decimal | None, Decimal]]) -> Decimal:
    """Worked out here independently of the service: each band's rate on the assets in it."""
    fee, lower = Decimal(0), Decimal(0)
    for upper, rate in bands:
        top = net_assets if upper is None else min(net_assets, upper)
        if top > lower:
            fee += (top - lower) * rate / 100
        lower = upper if upper is not None else lower
    return fee


def expected_accrual(
    net_assets: Decimal, bands: list[tuple[Decimal | None, Decimal]], days: int = 1
) -> str:
    fee = annual_fee(net_assets, bands) * days / 365
    return f"{fee.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,}"


def expected_months() -> dict[str, Decimal]:
    """The demo's year as a fund accounting system reports it (NYSE business days, each
    covering the days to the next one), each day priced by the schedule in force on it."""
    first = date(2006, 5, 1)
    span = [first + timedelta(days=i) for i in range(365)]
    closed = holidays.financial_holidays("NYSE", years=[2006, 2007])
    open_days = [d for d in span if d.weekday() < 5 and d not in closed]
    months: dict[str, Decimal] = {}
    for i, day in enumerate(open_days):
        end = open_days[i + 1] if i + 1 < len(open_days) else first + timedelta(days=365)
        n = (day - first).days
        net = Decimal(420_000_000) + Decimal(300_000) * n + Decimal((n * 7919) % 100) / 100
        exact = sum(
            (
                annual_fee(net, TIERED if day + timedelta(days=k) >= CHANGE else FLAT) / 365
                for k in range((end - day).days)
            ),
            Decimal(0),
        )
        fee = exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        months[day.isoformat()[:7]] = months.get(day.isoformat()[:7], Decimal(0)) + fee
    return months


def check_story(out: str) -> None:
    assert "rate change on 2006-11-01: 0.900000% -> 0.880000% a year" in out
    assert "audit 2006-10-31: 0.90% flat — set by Amendment No. 2 " in out
    assert "audit 2006-11-01: 0.88% to $500M, 0.83% above — set by Amendment No. 22 " in out
    # The day before and the day of the change, and a Friday (3 days) past the $500M breakpoint.
    for day, net, bands, days in [
        ("2006-10-31", Decimal("474900000.77"), FLAT, 1),
        ("2006-11-01", Decimal("475200000.96"), TIERED, 1),
        ("2007-01-26", Decimal("501000000.30"), TIERED, 3),
    ]:
        row = next(line for line in out.splitlines() if day in line and "Amendment No." in line)
        assert f"{net:,}" in row
        assert expected_accrual(net, bands, days) in row
    # Business days only: no row for the Saturday after that Friday.
    assert not any("2007-01-27" in line and "Amendment No." in line for line in out.splitlines())
    shown = {
        m[1]: Decimal(m[2].replace(",", ""))
        for m in (MONTH_ROW.match(line) for line in out.splitlines())
        if m is not None
    }
    assert shown == expected_months()


def test_demo_on_an_embedded_redis_tells_the_seed_story() -> None:
    result = run_demo({"FEES_PREFIX": "fees"})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "embedded redis-server" in result.stdout
    check_story(result.stdout)


def test_demo_on_a_given_redis_cleans_up_after_itself(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    before = {k for k in client.scan_iter(match="*demo-*", count=1000)}
    result = run_demo({"FEES_REDIS_URL": redis_url})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    check_story(result.stdout)
    after = {k for k in client.scan_iter(match="*demo-*", count=1000)}
    assert after <= before


def test_demo_on_a_cluster_tells_the_story_and_cleans_every_node(redis_cluster_url: str) -> None:
    cluster = redis.cluster.RedisCluster.from_url(redis_cluster_url)
    before = {k for k in cluster.scan_iter(match="*demo-*", count=1000)}
    result = run_demo({"FEES_REDIS_URL": redis_cluster_url, "FEES_REDIS_CLUSTER": "1"})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    check_story(result.stdout)
    assert {k for k in cluster.scan_iter(match="*demo-*", count=1000)} <= before
    cluster.close()

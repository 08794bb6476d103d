"""`feeschedule demo`, run as a user would: no Redis given (embedded), and with REDIS_URL."""

from __future__ import annotations

import os
import subprocess
from decimal import ROUND_HALF_UP, Decimal

import pytest
import redis
from conftest import FEESCHEDULE

pytestmark = pytest.mark.e2e


def run_demo(env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "FEES_REDIS_URL")}
    env.update({"COLUMNS": "160", **env_extra})
    return subprocess.run(
        [str(FEESCHEDULE), "demo"], capture_output=True, text=True, env=env, timeout=120
    )


def expected_accrual(net_assets: Decimal, bands: list[tuple[Decimal | None, Decimal]]) -> str:
    """One day's fee, worked out here independently of the service (ACT/365F, half-up)."""
    fee, lower = Decimal(0), Decimal(0)
    for upper, rate in bands:
        top = net_assets if upper is None else min(net_assets, upper)
        if top > lower:
            fee += (top - lower) * rate / 100
        lower = upper if upper is not None else lower
    return f"{(fee / 365).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,}"


def check_story(out: str) -> None:
    assert "rate change on 2006-11-01: 0.900000% -> 0.880000% a year" in out
    assert "audit 2006-10-31: 0.90% flat — set by Amendment No. 2 " in out
    assert "audit 2006-11-01: 0.88% to $500M, 0.83% above — set by Amendment No. 22 " in out
    # The day before and the day of the change, and a day past the $500M breakpoint.
    flat = [(None, Decimal("0.90"))]
    tiered = [(Decimal(500_000_000), Decimal("0.88")), (None, Decimal("0.83"))]
    for day, net, bands in [
        ("2006-10-31", Decimal("474900000.77"), flat),
        ("2006-11-01", Decimal("475200000.96"), tiered),
        ("2007-01-27", Decimal("501300000.49"), tiered),
    ]:
        row = next(line for line in out.splitlines() if day in line and "Amendment No." in line)
        assert f"{net:,}" in row
        assert expected_accrual(net, bands) in row


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

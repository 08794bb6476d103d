"""`feeschedule close` as a user runs it, on what a real fee worker accrued.

An agreement registered with `--fee-method average_daily_net_assets` gets June 2024 reported
on business days (Friday covering its weekend), but for one Wednesday: the close is refused,
naming that day; once the day is reported it closes, and its true-up equals a calculation
made here from the reports alone. Closing again changes nothing.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path

import pytest
import redis
from conftest import Feeschedule
from test_fee_base_e2e import flat
from test_fee_worker_e2e import Worker, read_stream, report_fields, wait_until, worker_env

from contracts.wire import encode

pytestmark = pytest.mark.e2e

JUNE = [date(2024, 6, 1) + timedelta(days=i) for i in range(30)]
MISSING = date(2024, 6, 12)


def business_reports() -> list[tuple[date, Decimal, int]]:
    """Each weekday of June 2024 with the days it covers (Friday: to Sunday), and its assets;
    the Saturday 1st is covered by a report of its own (the month starts on a weekend)."""
    out = [(JUNE[0], Decimal(400_000_000), 2)]
    for day in JUNE:
        if day.weekday() < 5:
            days = 3 if day.weekday() == 4 and day.day < 29 else 1
            out.append((day, Decimal(400_000_000 + 10_000_000 * day.day), days))
    return out


def expected_true_up(reports: list[tuple[date, Decimal, int]], booked: Decimal) -> Decimal:
    """0.90% a year on the calendar-day average (a weekend carries Friday's), x 30 / 365."""
    with localcontext() as ctx:
        ctx.prec = 60
        days = {day + timedelta(days=i): assets for day, assets, n in reports for i in range(n)}
        average = sum((days[d] for d in JUNE if d in days), Decimal(0)) / len(JUNE)
        fee = (average * Decimal("0.009") * 30 / 365).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return fee - booked


def test_a_month_is_closed_only_when_complete_and_its_true_up_is_right(
    redis_url: str,
    prefix: str,
    redis_client: redis.Redis,
    feeschedule: Feeschedule,
    tmp_path: Path,
) -> None:
    tag = "{" + prefix + "}"
    log, inbox, outbox = f"{tag}:agreements", f"{tag}:net-assets", f"{tag}:accruals"
    method = ("--fee-method", "average_daily_net_assets")
    feeschedule.ok("register-agreement", "--agreement", "avg", *method)
    redis_client.xadd(log, encode(flat("avg", "AVG", "0.90")))  # type: ignore[arg-type]
    reports = business_reports()
    with worker_env(redis_url, prefix) as env:
        worker = Worker(env, tmp_path / "worker.log")
        try:
            for day, assets, days in reports:
                if day != MISSING:
                    redis_client.xadd(inbox, report_fields("AVG", day, assets, days))  # type: ignore[arg-type]
            sent = len(reports) - 1
            wait_until(lambda: redis_client.xlen(outbox) >= sent, 30, "June's accruals")
            refused = feeschedule("close", "--month", "2024-06", "--portfolio", "AVG")
            assert refused.returncode == 1, refused.stdout + refused.stderr
            assert f"{MISSING}: no accrual covers it" in refused.stdout
            day, assets, days = next(r for r in reports if r[0] == MISSING)
            redis_client.xadd(inbox, report_fields("AVG", day, assets, days))  # type: ignore[arg-type]
            wait_until(lambda: redis_client.xlen(outbox) >= sent + 1, 30, "the missing day")
        finally:
            assert worker.stop() == 0
    closed = json.loads(
        feeschedule.ok("close", "--month", "2024-06", "--agreement", "avg", "--json")
    )
    (outcome,) = closed
    assert outcome["status"] == "closed" and outcome["missing"] == []
    accrued = [e for kind, e in read_stream(redis_client, outbox) if kind == "FeeAccrued"]
    booked = sum((Decimal(e["amount"]) for e in accrued), Decimal(0))
    true_up = outcome["true_up"]
    assert Decimal(true_up["daily_total"]) == booked
    assert Decimal(true_up["true_up"]) == expected_true_up(reports, booked)
    again = json.loads(feeschedule.ok("close", "--month", "2024-06", "--json"))
    assert [o["status"] for o in again] == ["already_closed"]
    kinds = [kind for kind, _ in read_stream(redis_client, outbox)]
    assert kinds.count("FeeTrueUp") == 1 and kinds.count("PeriodClosed") == 1


def close_request(request_id: str, month: str) -> dict[str, str]:
    """A CloseMonthRequested in the plain wire format, built by hand."""
    data = {
        "type": "CloseMonthRequested",
        "event_id": f"ev-{request_id}",
        "request_id": request_id,
        "month": month,
        "portfolio_id": "BUS",
    }
    return {"type": "CloseMonthRequested", "event_id": data["event_id"], "data": json.dumps(data)}


def test_an_accounting_system_asks_for_a_close_over_the_bus(
    redis_url: str,
    prefix: str,
    redis_client: redis.Redis,
    feeschedule: Feeschedule,
    tmp_path: Path,
) -> None:
    tag = "{" + prefix + "}"
    log, inbox, outbox = f"{tag}:agreements", f"{tag}:net-assets", f"{tag}:accruals"
    commands = f"{tag}:commands"
    method = ("--fee-method", "average_daily_net_assets")
    feeschedule.ok("register-agreement", "--agreement", "bus", *method)
    redis_client.xadd(log, encode(flat("bus", "BUS", "0.90")))  # type: ignore[arg-type]

    def kinds() -> list[str]:
        return [kind for kind, _ in read_stream(redis_client, outbox)]

    with worker_env(redis_url, prefix) as env:
        worker = Worker(env, tmp_path / "worker.log")
        try:
            for day in JUNE:
                if day != MISSING:
                    redis_client.xadd(inbox, report_fields("BUS", day, Decimal(100_000_000)))  # type: ignore[arg-type]
            wait_until(lambda: redis_client.xlen(outbox) >= 29, 30, "June's accruals")
            redis_client.xadd(commands, close_request("r1", "2024-06"))  # type: ignore[arg-type]
            wait_until(lambda: "MonthCloseRefused" in kinds(), 30, "the refusal")
            redis_client.xadd(inbox, report_fields("BUS", MISSING, Decimal(100_000_000)))  # type: ignore[arg-type]
            wait_until(lambda: redis_client.xlen(outbox) >= 31, 30, "the missing day")
            redis_client.xadd(commands, close_request("r2", "2024-06"))  # type: ignore[arg-type]
            wait_until(lambda: "PeriodClosed" in kinds(), 30, "the close")
        finally:
            assert worker.stop() == 0
    events = {kind: e for kind, e in read_stream(redis_client, outbox)}
    refused = events["MonthCloseRefused"]
    assert refused["request_id"] == "r1" and refused["missing"] == [
        f"{MISSING}: no accrual covers it"
    ]
    assert events["PeriodClosed"]["month"] == "2024-06" and events["FeeTrueUp"]["method"] == (
        "average_daily_net_assets"
    )
    groups = redis_client.xinfo_groups(commands)
    assert [(g["name"], g["pending"]) for g in groups] == [(b"fee-worker-commands", 0)]

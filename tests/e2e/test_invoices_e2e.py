"""The adviser's invoices, published with plain redis-py XADD, matched by a real fee worker.

The seed's portfolio, under average daily net assets, pays Amendment No. 2's 0.90% flat until
Amendment No. 22 (0.88% of the first $500 million, 0.83% over) takes effect on 2006-11-01;
October and November are closed. An October invoice that ties, a November one a cent off
(matched), a November one at the old rate (a break naming Amendment No. 22 and the rate it
implies), and a December one sent before December is closed (matched when it closes). Every
amount is computed here.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import Feeschedule
from test_accrual_periods_e2e import FLAT, NO_22, amendment
from test_fee_worker_e2e import Worker, read_stream, report_fields, wait_until, worker_env

from contracts.wire import encode

pytestmark = pytest.mark.e2e

PID = "SEED"
ASSETS = Decimal(750_000_000)
QUARTER = [date(2006, 10, 1) + timedelta(days=i) for i in range(92)]


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def fee(annual: Decimal, days: int) -> Decimal:
    return cents(annual * days / 365)


OLD = ASSETS * Decimal("0.009")  # 0.90% of $750 million a year
NEW = Decimal(500_000_000) * Decimal("0.0088") + Decimal(250_000_000) * Decimal("0.0083")


def invoice_fields(invoice_id: str, month: str, amount: Decimal) -> dict[str, str]:
    """An InvoiceReceived in the plain wire format, built by hand."""
    data = {
        "type": "InvoiceReceived",
        "event_id": f"ev-{invoice_id}",
        "invoice_id": invoice_id,
        "agreement_id": "met",
        "portfolio_id": PID,
        "month": month,
        "amount": str(amount),
        "currency": "USD",
    }
    return {"type": "InvoiceReceived", "event_id": data["event_id"], "data": json.dumps(data)}


def test_invoices_tie_break_with_a_reason_or_wait_for_their_close(
    redis_url: str,
    prefix: str,
    redis_client: redis.Redis,
    feeschedule: Feeschedule,
    tmp_path: Path,
) -> None:
    tag = "{" + prefix + "}"
    log, inbox, outbox = f"{tag}:agreements", f"{tag}:net-assets", f"{tag}:accruals"
    invoices, outcomes = f"{tag}:invoices", f"{tag}:invoice-outcomes"
    feeschedule.ok(
        "register-agreement", "--agreement", "met", "--fee-method", "average_daily_net_assets"
    )
    for message in (
        amendment("met", 2, date(2006, 1, 1), PID, FLAT),
        amendment("met", 22, date(2006, 11, 1), PID, NO_22),
    ):
        redis_client.xadd(log, encode(message))  # type: ignore[arg-type]
    sent: list[dict[str, str]] = [
        invoice_fields("oct", "2006-10", fee(OLD, 31)),
        invoice_fields("nov-cent", "2006-11", fee(NEW, 30) + Decimal("0.01")),
        invoice_fields("nov-old", "2006-11", fee(OLD, 30)),
    ]
    with worker_env(redis_url, prefix) as env:
        worker = Worker(env, tmp_path / "worker.log")
        try:
            for day in QUARTER:
                redis_client.xadd(inbox, report_fields(PID, day, ASSETS))  # type: ignore[arg-type]
            wait_until(lambda: redis_client.xlen(outbox) >= len(QUARTER), 60, "the accruals")
            for month in ("2006-10", "2006-11"):
                feeschedule.ok("close", "--month", month)
            early = invoice_fields("dec", "2006-12", fee(NEW, 31))
            for fields in (*sent, early):
                redis_client.xadd(invoices, fields)  # type: ignore[arg-type]
            wait_until(lambda: redis_client.xlen(outcomes) >= 3, 30, "three invoice outcomes")
            wait_until(lambda: not _pending(redis_client, invoices), 30, "the invoices settled")
            feeschedule.ok("close", "--month", "2006-12")
        finally:
            assert worker.stop() == 0
    out = {e["invoice_id"]: (kind, e) for kind, e in read_stream(redis_client, outcomes)}
    assert set(out) == {"oct", "nov-cent", "nov-old", "dec"}
    assert out["oct"][0] == "InvoiceMatched" and Decimal(out["oct"][1]["difference"]) == 0
    assert out["nov-cent"][0] == "InvoiceMatched"
    assert Decimal(out["nov-cent"][1]["difference"]) == Decimal("0.01")
    kind, broken = out["nov-old"]
    assert kind == "InvoiceBreak"
    assert Decimal(broken["difference"]) == fee(OLD, 30) - fee(NEW, 30)
    assert Decimal(broken["implied_rate_pct"]) == Decimal("0.9000")
    assert any("Amendment No. 22" in why for why in broken["explanations"])
    assert out["dec"][0] == "InvoiceMatched"  # matched by December's close
    november = json.loads(feeschedule.ok("statement", PID, "--month", "2006-11", "--json"))
    assert {(i["invoice_id"], i["status"]) for i in november["invoices"]} == {
        ("nov-cent", "matched"),
        ("nov-old", "break"),
    }


def _pending(client: redis.Redis, stream: str) -> int:
    groups: Any = client.xinfo_groups(stream)
    return sum(int(g["pending"]) + int(g.get("lag") or 0) for g in groups)

"""The benchmark's baseline: the fee worker's job done by a plain redis-py loop, sharing no code
with the service (it imports nothing from services/ or contracts/, and a unit test checks so).

    python -m benchmarks.plain_loop --redis URL --agreements KEY --group G --consumer C
                                    --lane INPUT ACCRUALS LEDGER_PREFIX [--lane ...]

Per batch: XREADGROUP COUNT 500 over its lanes' input streams, json.loads of each report, its
own three-band marginal fee in Decimal, a FeeAccrued-complete JSON event (every field, and the
value, the worker's FeeAccrued carries for the same report), then XADD of the event, HSET of the
ledger entry (the worker's fields) and one XACK per stream, in one pipeline. No guarantees: no
ledger check before writing, no dedupe, no dead letters, no recovery, no late knowledge.

It reads its schedules from the agreements log once at start (plain XRANGE and json.loads):
each portfolio's tiers and the schedule_ref its events name. It runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import decimal
import json
import signal
import sys
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import redis
import redis.cluster

# The same deterministic event ids as the worker's (uuid5 of kind and accrual id under this
# namespace), so that the two sides' events can be compared field by field.
NAMESPACE = uuid.UUID("6f1c1c2e-52a4-4a4e-9d8e-3f4f0c6a9b11")
CONTEXT = decimal.Context(prec=34, rounding=decimal.ROUND_HALF_EVEN)
CENT = Decimal("0.01")
HUNDRED = Decimal(100)
ZERO = Decimal(0)


def plain(value: Decimal) -> str:
    return f"{value:f}"


def _upper(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


class Schedule:
    """One portfolio's bands (from, to, rate) and the schedule_ref its accruals name."""

    def __init__(self, tiers: list[dict[str, Any]], ref: dict[str, Any]) -> None:
        self.bands = [(Decimal(t["from"]), _upper(t["to"]), Decimal(t["rate_pct"])) for t in tiers]
        self.ref = ref


def read_schedules(client: redis.Redis, agreements: str) -> dict[str, Schedule]:
    """Portfolio -> its schedule, from the AmendmentRecorded entries of the log."""
    out: dict[str, Schedule] = {}
    for entry_id, fields in client.xrange(agreements):
        if fields[b"type"] != b"AmendmentRecorded":
            continue
        amendment = json.loads(fields[b"data"])
        ref = {
            "agreement_id": amendment["agreement_id"],
            "amendment_number": amendment["amendment_number"],
            "effective_date": amendment["effective_date"],
            "event_id": amendment["event_id"],
            "position": entry_id.decode(),
            "waiver": False,
        }
        for change in amendment["changes"]:
            out[change["portfolio_id"]] = Schedule(change["tiers"], ref)
    return out


def price(report: dict[str, Any], schedule: Schedule) -> tuple[str, str, str]:
    """The FeeAccrued event id and data, and the ledger entry, of one report (one day a
    report, ACT/365F, rounded half up to cents: the benchmark's agreement)."""
    net = Decimal(report["net_assets"])
    pid, as_of = report["portfolio_id"], report["as_of"]
    days = report.get("accrual_days", 1)
    with decimal.localcontext(CONTEXT):
        breakdown = []
        annual = ZERO
        for lower, upper, rate in schedule.bands:
            inside = ZERO if net <= lower else (net if upper is None else min(net, upper)) - lower
            charge = inside * rate / HUNDRED
            annual += charge
            breakdown.append(
                {
                    "from": plain(lower),
                    "to": None if upper is None else plain(upper),
                    "rate_pct": plain(rate),
                    "assets_in_band": plain(inside),
                    "annual_charge": plain(charge),
                }
            )
        exact = annual * days / 365
        amount = exact.quantize(CENT, rounding=decimal.ROUND_HALF_UP)
        rate_pct = schedule.bands[0][2] if net == 0 else annual * HUNDRED / net
    accrual_id = f"{pid}:{as_of}"
    event_id = str(uuid.uuid5(NAMESPACE, f"FeeAccrued|{accrual_id}"))
    occurred = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    event = {
        "type": "FeeAccrued",
        "schema_version": 1,
        "event_id": event_id,
        "occurred_at": occurred,
        "accrual_id": accrual_id,
        "portfolio_id": pid,
        "as_of": as_of,
        "net_assets": plain(net),
        "currency": report.get("currency", "USD"),
        "accrual_days": days,
        "day_count": "ACT/365F",
        "year_basis": 365,
        "rounding": "ROUND_HALF_UP:0.01",
        "annual_fee": plain(annual),
        "amount": plain(amount),
        "amount_exact": plain(exact),
        "effective_rate_pct": plain(rate_pct),
        "breakdown": breakdown,
        "schedule_ref": schedule.ref,
        "report_id": report["report_id"],
        "revision": report.get("revision", 0),
    }
    entry = {
        "accrual_id": accrual_id,
        "portfolio_id": pid,
        "as_of": as_of,
        "amount": event["amount"],
        "amount_exact": event["amount_exact"],
        "accrued": event["amount"],
        "net_assets": event["net_assets"],
        "accrual_days": days,
        "currency": event["currency"],
        "day_count": "ACT/365F",
        "rounding": "ROUND_HALF_UP:0.01",
        "report_id": event["report_id"],
        "revision": event["revision"],
        "schedule_ref": schedule.ref,
        "adjustments": [],
    }
    compact = (",", ":")
    return event_id, json.dumps(event, separators=compact), json.dumps(entry, separators=compact)


def run(
    client: redis.Redis,
    schedules: dict[str, Schedule],
    lanes: list[tuple[str, str, str]],
    group: str,
    consumer: str,
    batch: int,
) -> None:
    # One read per partition, as the worker has a subscriber per partition (and as a cluster
    # requires: each partition is its own slot).
    while True:
        done = 0
        for inp, accruals, ledger in lanes:
            reply: Any = client.xreadgroup(group, consumer, {inp: ">"}, count=batch)
            if reply:
                done += settle(client, reply[0][1], inp, accruals, ledger, schedules, group)
        if not done:
            time.sleep(0.001)


def settle(
    client: redis.Redis,
    entries: list[Any],
    stream: str,
    accruals: str,
    ledger: str,
    schedules: dict[str, Schedule],
    group: str,
) -> int:
    """One batch of one partition: fees, events, ledger entries and the XACK, one pipeline."""
    pipe = client.pipeline(transaction=False)
    ids = []
    for entry_id, fields in entries:
        ids.append(entry_id)
        try:
            report = json.loads(fields[b"data"])
            schedule = schedules[report["portfolio_id"]]
            event_id, data, entry = price(report, schedule)
        except (KeyError, ValueError, decimal.InvalidOperation):
            continue  # no dead letters: a bad report is dropped
        pipe.xadd(
            accruals,
            {"type": "FeeAccrued", "event_id": event_id, "schema_version": "1", "data": data},
        )
        pipe.hset(ledger + report["portfolio_id"], report["as_of"], entry)
    pipe.xack(stream, group, *ids)
    pipe.execute()
    return len(ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", required=True)
    parser.add_argument("--agreements", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--consumer", required=True)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--lane", nargs=3, action="append", required=True)
    parser.add_argument("--cluster", action="store_true", help="--redis names a cluster node")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    client: Any = (
        redis.cluster.RedisCluster.from_url(args.redis)
        if args.cluster
        else redis.Redis.from_url(args.redis)
    )
    schedules = read_schedules(client, args.agreements)
    lanes = [(i, a, ledger) for i, a, ledger in args.lane]
    # Ready: the consumer has joined every input's group (the benchmark waits for it).
    for inp, _, _ in lanes:
        client.xgroup_createconsumer(inp, args.group, args.consumer)
    run(client, schedules, lanes, args.group, args.consumer, args.batch)


if __name__ == "__main__":
    main()

"""The Redis reads the site needs beyond the log and the ledgers: dead letters (paged, newest
first), reports waiting unpriced, and consumer-group lag. Read-only commands only (XREVRANGE,
HSCAN, XINFO GROUPS), so the `auditor` ACL user may run every one."""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import islice
from typing import Any

import redis

from services.adapters.connection import LAG_COUNTED, lag_start, text
from services.adapters.keys import Keys
from services.app.operations import name_parts
from services.domain.timeline import position_key

PAGE = 25


def _streams(keys: Keys, lanes: Sequence[Keys], name: str) -> list[str]:
    """A stream of every partition, and the unpartitioned one when there are partitions."""
    return list(dict.fromkeys([getattr(keys, name), *(getattr(lane, name) for lane in lanes)]))


def dead_letters(
    client: redis.Redis, keys: Keys, lanes: Sequence[Keys], before: str | None, size: int = PAGE
) -> dict[str, Any]:
    """One page of dead letters, newest first, from just before `before` (None: the newest);
    the projector's and every partition's, merged by entry id."""
    high = "+" if before is None else "(" + before
    streams = _streams(keys, lanes, "dead_letters")
    rows: list[tuple[Any, Any]] = []
    for stream in streams:
        found: Any = client.xrevrange(stream, max=high, min="-", count=size + 1)
        rows += found
    rows.sort(key=lambda row: position_key(text(row[0])), reverse=True)
    page = []
    for entry_id, fields in rows[:size]:
        decoded = {text(k): text(v) for k, v in fields.items()}
        data = json.loads(decoded.get("data", "{}"))
        page.append(
            {
                "entry_id": text(entry_id),
                "code": data.get("code"),
                "reason": data.get("reason"),
                "source_stream": data.get("source_stream"),
                "source_entry_id": data.get("entry_id"),
                "deliveries": data.get("deliveries"),
                "occurred_at": data.get("occurred_at"),
            }
        )
    return {
        "total": sum(int(client.xlen(stream)) for stream in streams),
        "entries": page,
        "next_before": page[-1]["entry_id"] if len(rows) > size and page else None,
    }


def unpriced(client: redis.Redis, lanes: Sequence[Keys], limit: int = 500) -> list[dict[str, Any]]:
    """Reports parked until a schedule covers their date (portfolio, date, net assets)."""
    rows = (row for k in lanes for row in client.hscan_iter(k.unpriced, count=200))
    out = []
    for name, value in islice(rows, limit):
        pid, as_of = name_parts(text(name))
        report = json.loads(text(value))
        out.append(
            {
                "portfolio_id": pid,
                "as_of": as_of,
                "net_assets": report.get("net_assets"),
                "report_id": report.get("report_id"),
            }
        )
    return sorted(out, key=lambda r: (r["portfolio_id"], r["as_of"]))


def consumer_lag(client: redis.Redis, keys: Keys, lanes: Sequence[Keys]) -> list[dict[str, Any]]:
    """Each consumer group of the streams the services read, with its lag and pending."""
    groups = []
    inputs = [_streams(keys, lanes, name) for name in ("net_assets", "invoices", "commands")]
    for stream in [keys.agreements, *(s for streams in inputs for s in streams)]:
        try:
            reply: Any = client.xinfo_groups(stream)
        except redis.ResponseError:
            continue  # no such stream yet
        for g in reply:
            info = {text(k): v for k, v in g.items()}
            lag = info.get("lag")
            if lag is None:  # Redis before 7, or 7 after an XDEL: count what follows
                rows: Any = client.xrange(stream, lag_start(info), "+", count=LAG_COUNTED)
                lag = len(rows)
            groups.append(
                {
                    "stream": stream,
                    "group": text(info["name"]),
                    "consumers": int(info.get("consumers", 0)),
                    "pending": int(info.get("pending", 0)),
                    "last_delivered": text(info.get("last-delivered-id", b"")),
                    "lag": int(lag),
                }
            )
    return groups

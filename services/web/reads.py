"""The Redis reads the site needs beyond the log and the ledgers: dead letters (paged, newest
first), reports waiting unpriced, and consumer-group lag. Read-only commands only (XREVRANGE,
HSCAN, XINFO GROUPS), so the `auditor` ACL user may run every one."""

from __future__ import annotations

import json
from typing import Any

import redis

from services.adapters.connection import text
from services.adapters.keys import Keys

PAGE = 25


def dead_letters(
    client: redis.Redis, keys: Keys, before: str | None, size: int = PAGE
) -> dict[str, Any]:
    """One page of dead letters, newest first, from just before `before` (None: the newest)."""
    high = "+" if before is None else "(" + before
    rows: Any = client.xrevrange(keys.dead_letters, max=high, min="-", count=size + 1)
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
    more = len(rows) > size
    total: Any = client.xlen(keys.dead_letters)
    return {
        "total": int(total),
        "entries": page,
        "next_before": page[-1]["entry_id"] if more and page else None,
    }


def unpriced(client: redis.Redis, keys: Keys, limit: int = 500) -> list[dict[str, Any]]:
    """Reports parked until a schedule covers their date (portfolio, date, net assets)."""
    out = []
    for name, value in client.hscan_iter(keys.unpriced, count=200):
        pid, _, as_of = text(name).rpartition("|")
        report = json.loads(text(value))
        out.append(
            {
                "portfolio_id": pid,
                "as_of": as_of,
                "net_assets": report.get("net_assets"),
                "report_id": report.get("report_id"),
            }
        )
        if len(out) >= limit:
            break
    return sorted(out, key=lambda r: (r["portfolio_id"], r["as_of"]))


def consumer_lag(client: redis.Redis, keys: Keys) -> list[dict[str, Any]]:
    """Each consumer group of the streams the services read, with its lag and pending."""
    groups = []
    for stream in (keys.agreements, keys.net_assets, keys.invoices, keys.commands):
        try:
            reply: Any = client.xinfo_groups(stream)
        except redis.ResponseError:
            continue  # no such stream yet
        for g in reply:
            info = {text(k): v for k, v in g.items()}
            lag = info.get("lag")
            groups.append(
                {
                    "stream": stream,
                    "group": text(info["name"]),
                    "consumers": int(info.get("consumers", 0)),
                    "pending": int(info.get("pending", 0)),
                    "last_delivered": text(info.get("last-delivered-id", b"")),
                    "lag": None if lag is None else int(lag),
                }
            )
    return groups

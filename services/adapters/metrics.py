"""The Prometheus metrics every service records, and the consumer-group gauges.

Services import the metric objects and record into them; `/metrics` (services/adapters/http.py)
exposes the default registry. The group gauges are read from Redis on each scrape
(`GroupMetrics.refresh`), so they are as fresh as the scrape and cost nothing in between.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis
from prometheus_client import Counter, Gauge, Histogram
from redis.exceptions import RedisError, ResponseError

from services.adapters.connection import text

log = logging.getLogger(__name__)

MESSAGES_PROCESSED = Counter(
    "feeschedule_messages_processed",
    "Stream entries handled to completion (acknowledged).",
    ["service", "stream"],
)
DEAD_LETTERED = Counter(
    "feeschedule_dead_lettered",
    "Stream entries sent to the dead-letter stream (and acknowledged).",
    ["service", "stream"],
)
ADJUSTMENTS = Counter(
    "feeschedule_adjustments",
    "FeeAdjusted events emitted, by reason (amendment, retraction, revised_report).",
    ["reason"],
)
REPORTS_NOT_PRICED = Counter(
    "feeschedule_reports_not_priced",
    "Reports that waited unpriced (ReportHeld) or changed nothing (ReportIgnored), by event.",
    ["event"],
)
BATCH_SECONDS = Histogram(
    "feeschedule_batch_seconds",
    "Time to handle one batch of stream entries, read to acknowledged.",
    ["service"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CONSUMER_LAG = Gauge(
    "feeschedule_consumer_lag",
    "Entries in the stream not yet delivered to the group (XINFO GROUPS lag; Redis >= 7).",
    ["stream", "group"],
)
PENDING = Gauge(
    "feeschedule_pending_entries",
    "Entries delivered to the group and not yet acknowledged (XINFO GROUPS pending).",
    ["stream", "group"],
)
ACCRUAL_GAPS = Gauge(
    "feeschedule_accrual_gap_days",
    "Days between a portfolio's first and last accrued day that no accrual covers.",
    ["portfolio_id"],
)
REDIS_UP = Gauge(
    "feeschedule_redis_up",
    "1 when the last scrape could read Redis (its consumer groups, or PING), else 0.",
    ["service"],
)


class GroupMetrics:
    """Refreshes lag and pending gauges of (stream, group) pairs from XINFO GROUPS."""

    def __init__(
        self, client: aioredis.Redis, groups: Sequence[tuple[str, str]], service: str = ""
    ) -> None:
        self.client = client
        self.groups = list(groups)
        self.service = service

    async def refresh(self) -> bool:
        """Read every stream's groups once; returns False when Redis could not be read."""
        ok = True
        wanted: dict[str, set[str]] = {}
        for stream, group in self.groups:
            wanted.setdefault(stream, set()).add(group)
        if not wanted:
            try:
                await self.client.ping()
            except (RedisError, OSError):
                ok = False
        for stream, names in wanted.items():
            try:
                reply: Any = await self.client.xinfo_groups(stream)
            except (RedisError, OSError) as exc:
                if isinstance(exc, ResponseError) and "no such key" in str(exc).lower():
                    continue  # the stream (and so the group) does not exist yet
                log.warning("metrics: XINFO GROUPS %s failed: %s", stream, exc)
                ok = False
                continue
            for info in reply:
                fields = {text(k): v for k, v in info.items()}
                group = text(fields.get("name", ""))
                if group not in names:
                    continue
                PENDING.labels(stream=stream, group=group).set(int(fields.get("pending") or 0))
                lag = fields.get("lag")
                # Redis 6.2 reports no lag, and Redis 7 none when it cannot tell (after XDEL).
                if lag is not None:
                    CONSUMER_LAG.labels(stream=stream, group=group).set(int(lag))
        if self.service:
            REDIS_UP.labels(service=self.service).set(1 if ok else 0)
        return ok


class ServiceMetrics:
    """One service's series for its input stream, labels bound once.

    A service records per batch, not per entry: `batch_done` is one counter increment and one
    histogram observation, whatever the batch size.
    """

    def __init__(self, service: str, stream: str) -> None:
        self.service = service
        self._processed = MESSAGES_PROCESSED.labels(service=service, stream=stream)
        self._dead_lettered = DEAD_LETTERED.labels(service=service, stream=stream)
        self._batch_seconds = BATCH_SECONDS.labels(service=service)

    def batch_done(self, entries: int, seconds: float) -> None:
        """A batch of `entries` was handled to completion (acknowledged) in `seconds`."""
        self._processed.inc(entries)
        self._batch_seconds.observe(seconds)

    def emitted(self, event_type: str) -> None:
        """One trace event was written: a dead letter, or the event of a report not priced."""
        if event_type == "DeadLetter":
            self._dead_lettered.inc()
        else:
            REPORTS_NOT_PRICED.labels(event=event_type).inc()

    @staticmethod
    def accrual_gaps(counts: Mapping[str, int]) -> None:
        """Each portfolio's count of days no accrual covers (services.app.accruals)."""
        for portfolio_id, days in counts.items():
            ACCRUAL_GAPS.labels(portfolio_id=portfolio_id).set(days)

    @staticmethod
    def adjusted(reason: str, events: int = 1) -> None:
        ADJUSTMENTS.labels(reason=reason).inc(events)  # 0 events: the series exists, at 0

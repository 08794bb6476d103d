"""A ledger key that is not a hash stops only its own portfolio: the catch-up after new
knowledge prices the other portfolios' parked reports, and that one's wait (real Redis)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from contracts.messages import AgreementRegistered, AmendmentRecorded, NetAssetsReported
from services.adapters.keys import Keys
from services.adapters.ledger import RedisLedgerStore
from services.app.ledger import LedgerEntry
from services.app.operations import unpriced_field
from services.app.pricing import Pricer
from services.app.settling import advance_ledger
from services.domain.book import ScheduleBook
from services.mapping import apply_to_book

pytestmark = pytest.mark.integration


def amendment(number: int, effective: date, action: str) -> AmendmentRecorded:
    changes = [
        {
            "action": action,
            "portfolio_id": pid,
            "portfolio_name": f"Fund {pid}",
            "tiers": [{"from": "0", "to": None, "rate_pct": "0.73"}],
        }
        for pid in ("P1", "P2")
    ]
    return AmendmentRecorded.model_validate(
        {
            "agreement_id": "AG",
            "amendment_number": number,
            "effective_date": effective,
            "changes": changes,
        }
    )


async def test_a_broken_ledger_key_leaves_its_reports_parked_and_prices_the_rest(
    redis_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    keys = Keys(prefix)
    book = ScheduleBook()
    pricer = Pricer(book, keys.net_assets)
    apply_to_book(book, AgreementRegistered(agreement_id="AG"), "1-0")
    apply_to_book(book, amendment(1, date(2024, 2, 1), "add"), "2-0")
    day = date(2024, 1, 15)  # before any schedule: both reports were parked
    for pid in ("P1", "P2"):
        report = NetAssetsReported(
            report_id=f"r-{pid}", portfolio_id=pid, as_of=day, net_assets=Decimal("365000000")
        )
        redis_client.hset(keys.unpriced, unpriced_field(pid, day), report.model_dump_json())
    redis_client.set(keys.ledger("P2"), "not a ledger")
    client = aioredis.Redis.from_url(redis_url)
    try:
        store = RedisLedgerStore(client, keys, Keys.fee_worker_group)
        await client.set(keys.worker_checkpoint, "2-0")
        # Learned late: the schedule was in force from January on.
        apply_to_book(book, amendment(2, date(2024, 1, 1), "replace"), "3-0")
        refused, _ = await advance_ledger(pricer, store, "2-0", "3-0")
        assert (refused.status, refused.portfolio_id) == ("refused", "P2")
        done, changed = await advance_ledger(pricer, store, "2-0", "3-0", {"P2"})
        assert (done.status, changed) == ("ok", 1)
        assert await store.checkpoint() == "3-0"
    finally:
        await client.aclose()
    ledger: Any = redis_client.hgetall(keys.ledger("P1"))
    entry = LedgerEntry.from_json(ledger[day.isoformat().encode()])
    assert entry.amount == "7300.00"  # 365,000,000 x 0.73% / 365
    parked: Any = redis_client.hkeys(keys.unpriced)
    assert parked == [unpriced_field("P2", day).encode()]

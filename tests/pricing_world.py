"""A pricing world for unit tests with no Redis: a book, its pricer and the in-memory ledger
(the twin of settle.lua, tests/ledger_port_cases.py), driven through the handlers the fee worker
calls (`settle_entries`, `advance_ledger`)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from contracts.messages import AgreementRegistered, AmendmentRecorded, Message, NetAssetsReported
from contracts.wire import encode
from services.adapters.memory_ledger import InMemoryLedgerStore, Stream
from services.app.ledger import LedgerEntry
from services.app.pricing import Pricer
from services.app.settling import advance_ledger, settle_entries
from services.domain.book import ScheduleBook
from services.domain.fees import FeeSchedule, accrue
from services.mapping import apply_to_book

RATE_1 = [{"from": "0", "to": None, "rate_pct": "0.90"}]
RATE_2 = [{"from": "0", "to": None, "rate_pct": "0.50"}]
JAN = [date(2024, 1, d) for d in range(1, 32)]


@dataclass(frozen=True)
class Entry:
    entry_id: str
    fields: Mapping[bytes, bytes]
    deliveries: int = 1


def fee(tiers: list[dict[str, Any]], assets: str, day: date) -> Decimal:
    return accrue(FeeSchedule.from_json(tiers), Decimal(assets), day).amount


class World:
    """A book, its pricer and an in-memory ledger priced against the log so far."""

    def __init__(self, portfolio_id: str = "P1", **terms: Any) -> None:
        self.portfolio_id = portfolio_id  # the one portfolio the world prices
        self.book = ScheduleBook()
        self.pricer = Pricer(self.book, "in")
        self.ledger = InMemoryLedgerStore()
        self.position = 0
        self.entries = 0
        self.log(AgreementRegistered.model_validate({"agreement_id": "AG", **terms}))

    def log(self, message: Message) -> None:
        self.position += 1
        apply_to_book(self.book, message, f"{self.position}-0")

    def amend(self, number: int, effective: date, tiers: list[dict[str, Any]], action: str) -> None:
        change = {"action": action, "portfolio_id": self.portfolio_id, "portfolio_name": "Fund One"}
        self.log(
            AmendmentRecorded.model_validate(
                {
                    "agreement_id": "AG",
                    "amendment_number": number,
                    "effective_date": effective,
                    "changes": [change | {"tiers": tiers}],
                }
            )
        )

    async def advance(self) -> int:
        """The worker's catch-up: the ledger brought to what the book knows now."""
        checkpoint = await self.ledger.checkpoint()
        result, changed = await advance_ledger(
            self.pricer, self.ledger, checkpoint, f"{self.position}-0"
        )
        assert result.status == "ok"
        return changed

    def report(self, day: date, assets: str, revision: int = 0, report_id: str = "r") -> Entry:
        self.entries += 1
        message = NetAssetsReported(
            report_id=report_id,
            portfolio_id=self.portfolio_id,
            as_of=day,
            net_assets=Decimal(assets),
            revision=revision,
        )
        fields = {k.encode(): v.encode() for k, v in encode(message).items()}
        return Entry(f"{self.entries}-0", fields)

    async def settle(self, entries: Sequence[Entry], *, delivered: bool = True) -> None:
        if delivered:
            self.ledger.pending.update(e.entry_id for e in entries)
        checkpoint = await self.ledger.checkpoint()
        settled = await settle_entries(self.pricer, self.ledger, entries, checkpoint)
        assert settled.unsettled == [], settled.result

    def amounts(self) -> dict[str, Decimal]:
        return {d: Decimal(LedgerEntry.from_json(v).amount) for d, v in self.entry_texts().items()}

    def entry_texts(self) -> dict[str, str]:
        return self.ledger.ledgers.get(self.portfolio_id, {})

    def entry(self, day: date) -> LedgerEntry:
        return LedgerEntry.from_json(self.entry_texts()[day.isoformat()])

    def events(self, stream: Stream) -> list[dict[str, Any]]:
        return [{"_type": e["type"], **json.loads(e["data"])} for e in self.ledger.streams[stream]]

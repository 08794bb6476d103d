"""The in-memory ledger keeps the storage invariants settle.lua keeps (tests/ledger_port_cases.py).

Every case but 'refused' (a ledger key holding something other than a hash), which only Redis
can meet.
"""

from __future__ import annotations

from ledger_port_cases import LedgerStoreCases, Stream

from services.adapters.memory_ledger import InMemoryLedgerStore


class TestInMemoryLedgerStore(LedgerStoreCases):
    def create_store(self) -> InMemoryLedgerStore:
        self.store = InMemoryLedgerStore()
        self.delivered = 0
        return self.store

    def create_partitions(self, count: int) -> list[InMemoryLedgerStore]:
        stores = [InMemoryLedgerStore() for _ in range(count)]
        for store in stores:
            store.elsewhere = [other for other in stores if other is not store]
        return stores

    async def deliver(self, count: int) -> list[str]:
        ids = [f"{self.delivered + i + 1}-0" for i in range(count)]
        self.delivered += count
        self.store.pending.update(ids)
        return ids

    async def pending(self) -> set[str]:
        return set(self.store.pending)

    async def events(self, stream: Stream) -> list[tuple[str, str]]:
        return [(e["type"], e["event_id"]) for e in self.store.streams[stream]]

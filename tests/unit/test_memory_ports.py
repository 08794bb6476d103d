"""The in-memory event log and read model pass the port cases of tests/log_port_cases.py,
without Redis."""

from __future__ import annotations

from log_port_cases import ReadModelStoreCases

from services.adapters.memory import InMemoryEventLog, InMemoryReadModel


class TestInMemoryPorts(ReadModelStoreCases):
    def create_ports(self) -> tuple[InMemoryEventLog, InMemoryReadModel]:
        self.memory_log = InMemoryEventLog()
        return self.memory_log, InMemoryReadModel(self.memory_log)

    def append_raw(self, fields: dict[str, str]) -> str:
        entries = self.memory_log._entries
        entry_id = f"{len(entries) + 1}-0"
        entries.append((entry_id, {k.encode(): v.encode() for k, v in fields.items()}))
        return entry_id

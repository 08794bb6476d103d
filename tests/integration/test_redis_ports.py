"""The Redis event store and read model pass the port cases of tests/log_port_cases.py, on a
real Redis, each test under its own key prefix."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from log_port_cases import ReadModelStoreCases

from services.adapters.eventstore import EventStore
from services.adapters.keys import Keys
from services.adapters.readmodel import ReadModel

pytestmark = pytest.mark.integration


class TestRedisPorts(ReadModelStoreCases):
    @pytest.fixture(autouse=True)
    def _ports(self, redis_client: redis.Redis, prefix: str) -> None:
        self.redis, self.keys = redis_client, Keys(prefix)
        self.log, self.store = self.create_ports()

    def create_ports(self) -> tuple[EventStore, ReadModel]:
        return EventStore(self.redis, self.keys), ReadModel(self.redis, self.keys)

    def append_raw(self, fields: dict[str, str]) -> str:
        entry_id: Any = self.redis.xadd(self.keys.agreements, fields)  # type: ignore[arg-type]
        return str(entry_id.decode())

"""The agreements log as an event store: guarded appends and reads of one agreement's events.

One Lua script (EVALSHA) appends an event, checks the agreement's expected version and records
the idempotency key in a single atomic step, so two writers can never both succeed and a retried
command never records twice. The log stream is the audit record: nothing here trims it.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from typing import Any

import redis

from contracts.messages import Message
from contracts.wire import decode, encode
from services.adapters.connection import text
from services.adapters.keys import Keys
from services.app.ports import AppendResult, RawEntry, VersionConflict

__all__ = ["AppendResult", "EventStore", "VersionConflict"]

_APPEND_LUA = resources.files("services.adapters").joinpath("eventstore_append.lua").read_text()


def agreement_of(message: Message) -> str:
    agreement_id = getattr(message, "agreement_id", None)
    if not isinstance(agreement_id, str):
        raise TypeError(f"{message.type} is not an agreements-log event")
    return agreement_id


class EventStore:
    """Appends to and reads from the agreements log under one key prefix."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self._append = client.register_script(_APPEND_LUA)

    def append(
        self, message: Message, expected_version: int, idempotency_key: str | None = None
    ) -> AppendResult:
        """Append `message` if its agreement is at `expected_version`; else VersionConflict."""
        agreement_id = agreement_of(message)
        fields = [item for pair in encode(message).items() for item in pair]
        reply: Any = self._append(
            keys=[
                self.keys.agreements,
                self.keys.agreement_versions,
                self.keys.agreement_events(agreement_id),
                self.keys.idempotency,
            ],
            args=[agreement_id, expected_version, idempotency_key or "", *fields],
        )
        status, entry_id, version = (text(v) for v in reply)
        if status == "conflict":
            raise VersionConflict(agreement_id, expected_version, int(version))
        return AppendResult(entry_id, int(version), duplicate=status == "duplicate")

    def duplicate_of(self, idempotency_key: str, agreement_id: str) -> AppendResult | None:
        """The entry a key already recorded, if any (a retry must report it, not fail)."""
        seen = self.recorded(idempotency_key)
        if seen is None:
            return None
        index: Any = self.client.lpos(self.keys.agreement_events(agreement_id), seen)
        return AppendResult(seen, 0 if index is None else int(index) + 1, duplicate=True)

    def version(self, agreement_id: str) -> int:
        raw: Any = self.client.hget(self.keys.agreement_versions, agreement_id)
        return int(raw or 0)

    def events_of(self, agreement_id: str, after: int = 0) -> list[tuple[str, Message]]:
        """One agreement's events in the order they were recorded, with their log positions.

        `after` skips the first events: a writer holding the agreement at version `after`
        reads only what was recorded since (a version is the count of the agreement's events).
        """
        ids: Any = self.client.lrange(self.keys.agreement_events(agreement_id), after, -1)
        pipe = self.client.pipeline(transaction=False)
        for entry_id in ids:
            pipe.xrange(self.keys.agreements, min=entry_id, max=entry_id, count=1)
        return [
            (text(entry_id), decode(fields)) for rows in pipe.execute() for entry_id, fields in rows
        ]

    def read(self, after: str | None = None, until: str = "+") -> Iterator[tuple[str, Message]]:
        """The whole log (or a range of it) in global order, decoded."""
        while rows := self.entries(after, until, 1000):
            yield from ((entry_id, decode(fields)) for entry_id, fields in rows)
            after = rows[-1][0]

    def recorded(self, idempotency_key: str) -> str | None:
        seen: Any = self.client.hget(self.keys.idempotency, idempotency_key)
        return None if seen is None else text(seen)

    def entries(self, after: str | None, until: str, count: int) -> list[RawEntry]:
        # XRANGE's exclusive start ("(id") needs Redis 6.2, which the embedded server has.
        start = "-" if after is None else "(" + after
        rows: Any = self.client.xrange(self.keys.agreements, min=start, max=until, count=count)
        return [(text(entry_id), fields) for entry_id, fields in rows]

    def last_id(self) -> str | None:
        newest: Any = self.client.xrevrange(self.keys.agreements, count=1)
        return text(newest[0][0]) if newest else None

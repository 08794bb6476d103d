"""Reading the agreements log: a range of entries, decoded to messages (no consumer group).

The audit replay, the fee worker's schedule follower and the projector's rebuild all read
the log through here, so an entry is decoded the same way everywhere.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import redis
import redis.asyncio as aioredis

from contracts.messages import Message
from contracts.wire import decode
from services.adapters.connection import text


def _after(entry_id: str) -> str:
    # XRANGE's exclusive start ("(id") needs Redis 6.2, which the embedded server has.
    return "(" + entry_id


def read_log(
    client: redis.Redis,
    stream: str,
    *,
    after: str | None = None,
    until: str = "+",
    page: int = 1000,
) -> Iterator[tuple[str, Message]]:
    """Every (entry id, message) after `after` (exclusive) up to `until`, in log order."""
    start = "-" if after is None else _after(after)
    while True:
        rows: Any = client.xrange(stream, min=start, max=until, count=page)
        for entry_id, fields in rows:
            yield text(entry_id), decode(fields)
        if len(rows) < page:
            return
        start = _after(text(rows[-1][0]))


async def aread_log(
    client: aioredis.Redis,
    stream: str,
    *,
    after: str | None = None,
    until: str = "+",
    page: int = 1000,
) -> AsyncIterator[tuple[str, Message]]:
    """The asyncio twin of `read_log`."""
    start = "-" if after is None else _after(after)
    while True:
        rows: Any = await client.xrange(stream, min=start, max=until, count=page)
        for entry_id, fields in rows:
            yield text(entry_id), decode(fields)
        if len(rows) < page:
            return
        start = _after(text(rows[-1][0]))

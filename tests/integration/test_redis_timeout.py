"""How long the services' clients wait for a reply: FEES_REDIS_TIMEOUT_MS, not the client
library's default (redis-py 8 gives up after 5 s), tried on a Redis of the test's own whose
writes are paused (CLIENT PAUSE ... WRITE), as during a failover."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
import redis

from services.adapters.connection import async_client, sync_client
from services.adapters.redis_server import EmbeddedRedisUnavailable, embedded_redis
from services.settings import Settings

PAUSE_MS = 1500


@pytest.fixture
def paused_url() -> Iterator[str]:
    """A Redis of this test's own: pausing its writes disturbs no other test."""
    try:
        with embedded_redis() as url:
            yield url
    except EmbeddedRedisUnavailable as exc:
        pytest.skip(str(exc))


def pause_writes(url: str) -> None:
    admin = redis.Redis.from_url(url)
    admin.client_pause(PAUSE_MS, all=False)
    admin.close()


def test_the_default_waits_a_minute_not_the_libraries_five_seconds() -> None:
    client = sync_client(Settings(redis_url="redis://127.0.0.1:1/0"))
    assert client.connection_pool.connection_kwargs["socket_timeout"] == 60
    unlimited = sync_client(Settings(redis_url="redis://127.0.0.1:1/0", redis_timeout_ms=0))
    assert unlimited.connection_pool.connection_kwargs["socket_timeout"] is None


def test_a_write_waits_through_a_pause_shorter_than_the_timeout(paused_url: str) -> None:
    client = sync_client(Settings(redis_url=paused_url, redis_timeout_ms=PAUSE_MS * 4))
    client.ping()
    pause_writes(paused_url)
    started = time.monotonic()
    client.set("k", "v")
    assert time.monotonic() - started >= PAUSE_MS / 1000 * 0.8  # it did wait for the pause
    assert client.get("k") == b"v"


def test_a_write_fails_once_the_timeout_passes(paused_url: str) -> None:
    client = sync_client(Settings(redis_url=paused_url, redis_timeout_ms=200, block_ms=100))
    client.ping()
    pause_writes(paused_url)
    with pytest.raises(redis.TimeoutError):
        client.set("k", "v")


def test_the_asyncio_client_takes_the_same_timeout(paused_url: str) -> None:
    async def write(timeout_ms: int) -> None:
        client = async_client(
            Settings(redis_url=paused_url, redis_timeout_ms=timeout_ms, block_ms=100)
        )
        try:
            await client.ping()
            pause_writes(paused_url)
            await client.set("k", "v")
        finally:
            await client.aclose()

    with pytest.raises(redis.TimeoutError):
        asyncio.run(write(200))
    time.sleep(PAUSE_MS / 1000)  # the first pause ends
    asyncio.run(write(PAUSE_MS * 4))

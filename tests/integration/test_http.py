"""/health and /metrics of `serve_http`, with a real HTTP client against a real Redis."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator, Sequence

import httpx2
import pytest
import redis.asyncio as aioredis

from services.adapters.consumer import ensure_group
from services.adapters.http import serve_http
from services.adapters.keys import Keys
from services.adapters.metrics import BATCH_SECONDS, MESSAGES_PROCESSED
from services.settings import Settings

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _serving(
    redis_url: str, groups: Sequence[tuple[str, str]], service: str = "fee-worker"
) -> AsyncIterator[str]:
    port = _free_port()
    settings = Settings(redis_url=redis_url, http_port=port, http_host="127.0.0.1")
    client = aioredis.Redis.from_url(redis_url)
    stop = asyncio.Event()
    task = asyncio.create_task(serve_http(settings, service, client, groups, stop))
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):  # until it listens
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                    break
            except OSError:
                await asyncio.sleep(0.02)
        yield base
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)
        await client.aclose()


@pytest.fixture
async def group(redis_url: str, prefix: str) -> AsyncIterator[tuple[str, str]]:
    keys = Keys(prefix)
    client = aioredis.Redis.from_url(redis_url)
    await ensure_group(client, keys.net_assets, keys.fee_worker_group)
    yield keys.net_assets, keys.fee_worker_group
    await client.delete(keys.net_assets)
    await client.aclose()


def _sample(text: str, name: str, stream: str, group: str) -> float | None:
    labels = rf'\{{group="{re.escape(group)}",stream="{re.escape(stream)}"\}}'
    found = re.search(rf"^{name}{labels} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


async def test_health_is_ok_when_redis_answers(redis_url: str) -> None:
    async for base in _serving(redis_url, []):
        async with httpx2.AsyncClient() as http:
            response = await http.get(f"{base}/health")
            missing = await http.get(f"{base}/nothing-here")
    assert response.status_code == 200
    assert response.json() == {"service": "fee-worker", "status": "ok", "redis": "ok"}
    assert missing.status_code == 404


async def test_only_get_and_head_are_answered(redis_url: str) -> None:
    async for base in _serving(redis_url, []):
        async with httpx2.AsyncClient() as http:
            head = await http.head(f"{base}/health")
            post = await http.post(f"{base}/metrics")
    assert head.status_code == 200 and head.content == b""
    assert post.status_code == 405


async def test_health_is_503_when_redis_is_unreachable() -> None:
    closed = f"redis://127.0.0.1:{_free_port()}/0"  # nothing listens there
    async for base in _serving(closed, []):
        async with httpx2.AsyncClient() as http:
            response = await http.get(f"{base}/health")
            metrics = await http.get(f"{base}/metrics")
    assert response.status_code == 503
    assert response.json()["status"] == "unhealthy"
    assert response.json()["redis"] == "unreachable"
    # Metrics still answer, and say Redis could not be read.
    assert metrics.status_code == 200
    assert 'feeschedule_redis_up{service="fee-worker"} 0.0' in metrics.text


async def test_metrics_show_pending_entries_of_a_group(
    redis_url: str, group: tuple[str, str]
) -> None:
    stream, group_name = group
    MESSAGES_PROCESSED.labels(service="fee-worker", stream=stream).inc(3)
    BATCH_SECONDS.labels(service="fee-worker").observe(0.02)
    client = aioredis.Redis.from_url(redis_url)
    try:
        async for base in _serving(redis_url, [group]):
            async with httpx2.AsyncClient() as http:
                before = (await http.get(f"{base}/metrics")).text
                for n in range(3):
                    await client.xadd(stream, {"n": str(n)})
                queued = (await http.get(f"{base}/metrics")).text
                # Read without acknowledging: the entries are now pending in the group.
                await client.xreadgroup(group_name, "w1", {stream: ">"}, count=10)
                after = (await http.get(f"{base}/metrics")).text
    finally:
        await client.aclose()
    for name in (
        "feeschedule_messages_processed_total",
        "feeschedule_dead_lettered_total",
        "feeschedule_adjustments_total",
        "feeschedule_batch_seconds_bucket",
        "feeschedule_consumer_lag",
        "feeschedule_pending_entries",
    ):
        assert f"# TYPE {name.removesuffix('_total').removesuffix('_bucket')}" in after, name
    assert f'feeschedule_messages_processed_total{{service="fee-worker",stream="{stream}"}}' in (
        after
    )
    assert _sample(before, "feeschedule_pending_entries", stream, group_name) == 0
    assert _sample(after, "feeschedule_pending_entries", stream, group_name) == 3
    lag_queued = _sample(queued, "feeschedule_consumer_lag", stream, group_name)
    lag_after = _sample(after, "feeschedule_consumer_lag", stream, group_name)
    if lag_queued is not None:  # Redis >= 7 reports lag; 6.2 does not
        assert (lag_queued, lag_after) == (3, 0)


async def test_two_services_of_one_process_share_the_server(
    redis_url: str, group: tuple[str, str], prefix: str
) -> None:
    """`run all`: projector and fee worker call serve_http with the same port; both answer."""
    keys = Keys(prefix)
    port = _free_port()
    settings = Settings(redis_url=redis_url, http_port=port)
    client = aioredis.Redis.from_url(redis_url)
    await ensure_group(client, keys.agreements, keys.projector_group)
    await client.xadd(keys.agreements, {"type": "AgreementRegistered"})
    await client.xreadgroup(keys.projector_group, "p1", {keys.agreements: ">"})
    stops = [asyncio.Event(), asyncio.Event()]
    projector_groups = [(keys.agreements, keys.projector_group)]
    tasks = [
        asyncio.create_task(serve_http(settings, "projector", client, projector_groups, stops[0])),
        asyncio.create_task(serve_http(settings, "fee-worker", client, [group], stops[1])),
    ]
    try:
        await asyncio.sleep(0.2)
        assert not any(t.done() for t in tasks), [t.exception() for t in tasks if t.done()]
        async with httpx2.AsyncClient() as http:
            health = (await http.get(f"http://127.0.0.1:{port}/health")).json()
            metrics = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    finally:
        for stop in stops:
            stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=5)
        await client.delete(keys.agreements)
        await client.aclose()
    assert health["service"] == "projector,fee-worker" and health["status"] == "ok"
    assert _sample(metrics, "feeschedule_pending_entries", keys.agreements, "projector") == 1
    assert _sample(metrics, "feeschedule_pending_entries", group[0], group[1]) == 0

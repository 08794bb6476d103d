"""/docs/asyncapi: the AsyncAPI document as HTML rendered by the service itself (no CDN)."""

from __future__ import annotations

import redis.asyncio as aioredis
import yaml
from starlette.testclient import TestClient

from services.adapters.http import HealthServer


def test_docs_asyncapi_shows_every_channel_and_schema_with_no_outside_link() -> None:
    client = aioredis.Redis.from_url("redis://127.0.0.1:1/0")  # never asked: no Redis needed
    page = TestClient(HealthServer("test", client).app()).get("/docs/asyncapi")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    with open("contracts/asyncapi.yaml") as f:
        doc = yaml.safe_load(f)
    for key in doc["channels"]:
        assert f'id="channel-{key}"' in page.text
    for name in doc["components"]["schemas"]:
        assert f'id="schema-{name}"' in page.text
    assert "<script" not in page.text and "https://unpkg" not in page.text
    assert "net_assets" in page.text and "FeeAccrued" in page.text

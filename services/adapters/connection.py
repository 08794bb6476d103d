"""Redis connections from settings (URL, ACL user, password, TLS by rediss://)."""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio as aioredis

from services.settings import Settings


def _kwargs(settings: Settings) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if settings.redis_username:
        extra["username"] = settings.redis_username
    password = settings.password()
    if password:
        extra["password"] = password
    return extra


def require_url(settings: Settings) -> str:
    if not settings.redis_url:
        raise RuntimeError(
            "no Redis: set FEES_REDIS_URL or REDIS_URL (e.g. redis://127.0.0.1:6379/0)"
        )
    return settings.redis_url


def sync_client(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(require_url(settings), **_kwargs(settings))


def async_client(settings: Settings) -> aioredis.Redis:
    return aioredis.Redis.from_url(require_url(settings), **_kwargs(settings))

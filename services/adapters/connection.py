"""Redis connections from settings (URL, ACL user, password, TLS by rediss://)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import redis
import redis.asyncio as aioredis

from services.settings import Settings

if TYPE_CHECKING:
    from faststream.redis import RedisBroker


def credentials(settings: Settings) -> dict[str, Any]:
    """ACL user and password from settings, as keyword arguments of a client or broker."""
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


def redis_broker(settings: Settings) -> RedisBroker:
    """A FastStream Redis broker for a service; per-message access logs only at DEBUG."""
    # Imported here: the recorder's and the auditor's commands never need a broker, and
    # FastStream is about a third of what `feeschedule amend` spends importing.
    from faststream.redis import RedisBroker

    return RedisBroker(require_url(settings), log_level=logging.DEBUG, **credentials(settings))


def sync_client(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(require_url(settings), **credentials(settings))


def async_client(settings: Settings) -> aioredis.Redis:
    return aioredis.Redis.from_url(require_url(settings), **credentials(settings))


def text(value: bytes | str) -> str:
    """A reply, entry id or field as text (the clients return bytes)."""
    return value.decode() if isinstance(value, bytes) else value

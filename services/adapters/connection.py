"""Redis connections from settings (URL, ACL user, password, TLS by rediss://), and how their
replies read (text, a consumer group's lag).

With `FEES_REDIS_CLUSTER=1` every client is redis-py's cluster client and the broker
FastStream's `RedisClusterBroker`; `redis_url` then names any one node (the others are
discovered from it), with the same credentials and TLS on every node. The code above this
module stays the same on both: every key one script or transaction touches shares a hash tag,
so each such step is on one slot (README, "Redis Cluster").
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import redis
import redis.asyncio as aioredis
import redis.asyncio.cluster
import redis.cluster
from redis.connection import HiredisRespSerializer
from redis.utils import HIREDIS_AVAILABLE

if HIREDIS_AVAILABLE:
    import hiredis

from services.domain.errors import UsageProblem
from services.settings import Settings

if TYPE_CHECKING:
    from faststream.redis import RedisBroker


def client_options(settings: Settings) -> dict[str, Any]:
    """ACL user, password and reply timeout from settings, as keyword arguments of a client or
    broker (one set for every connection the services make)."""
    given = {"username": settings.redis_username, "password": settings.password()}
    timeout = settings.redis_timeout_ms / 1000 if settings.redis_timeout_ms else None
    return {name: value for name, value in given.items() if value} | {"socket_timeout": timeout}


def require_url(settings: Settings) -> str:
    """The Redis to run on, or the refusal to start without one (the command line prints it
    as one line, exit status 2)."""
    if not settings.redis_url:
        raise UsageProblem(
            "no Redis: set FEES_REDIS_URL or REDIS_URL (e.g. redis://127.0.0.1:6379/0)"
        )
    return settings.redis_url


def redis_broker(settings: Settings) -> RedisBroker:
    """A FastStream Redis broker for a service; per-message access logs only at DEBUG.

    On a cluster, `RedisClusterBroker` (a `RedisBroker`: the services' subscribers are the
    same). It reads host and port from the URL as its one startup node, and turns rediss://
    into RedisCluster's own `ssl` flag.
    """
    # Imported here: the recorder's and the auditor's commands never need a broker, and
    # FastStream is about a third of what `feeschedule amend` spends importing.
    from faststream.redis import RedisBroker, RedisClusterBroker

    broker = RedisClusterBroker if settings.redis_cluster else RedisBroker
    return broker(require_url(settings), log_level=logging.DEBUG, **client_options(settings))


def sync_client(settings: Settings) -> redis.Redis:
    """A client of the settings' Redis: `redis.Redis`, or `redis.cluster.RedisCluster`.

    The cluster client is cast to `redis.Redis`: it is not a subclass, but it has the same
    command methods (both mix in redis-py's command classes) and pipelines, routing each
    command by its key's slot, so every caller works with either without knowing which.
    """
    kind = redis.cluster.RedisCluster if settings.redis_cluster else redis.Redis
    return cast(redis.Redis, kind.from_url(require_url(settings), **client_options(settings)))


def async_client(settings: Settings) -> aioredis.Redis:
    """The asyncio twin of `sync_client` (`redis.asyncio.cluster.RedisCluster` on a cluster,
    cast for the same reason), packing its commands with hiredis (`packed_by_hiredis`)."""
    url, options = require_url(settings), client_options(settings)
    if settings.redis_cluster:
        cluster = redis.asyncio.cluster.RedisCluster.from_url(url, **options)
        # The nodes it discovers are made with these arguments (only the startup node exists).
        kwargs = cluster.connection_kwargs
        kwargs["connection_class"] = packed_by_hiredis(kwargs["connection_class"])
        return cast(aioredis.Redis, cluster)
    client = aioredis.Redis.from_url(url, **options)
    pool = client.connection_pool
    pool.connection_class = packed_by_hiredis(pool.connection_class)
    return client


class _HiredisPacking:
    """Packs a command with hiredis, each argument as it is.

    redis-py's asyncio connections packed in Python before 8.2 (redis-py issue 4176), about
    1 us an argument and more for long ones; from 8.2 they pack with hiredis after encoding
    every argument in Python, still 6 times as long as here for a settle step of 125 accruals
    (ten arguments each; benchmarks/bench_packing.py, 2026-12-04, redis-py 8.2.0).
    """

    # redis-py 8.2 gave it an __init__ without annotations; earlier releases have none.
    _serializer = HiredisRespSerializer()  # type: ignore[no-untyped-call,unused-ignore]

    def pack_command(self, *args: Any) -> list[bytes]:
        # hiredis takes str, bytes, int, float and memoryview as they are. redis-py's
        # serializer first copies every argument to turn a bytearray into bytes (2% of the
        # worker's time, over a settle step's thousands): here only what hiredis refuses, or a
        # command name of two words, goes through it.
        name = args[0]
        if type(name) is str and " " not in name:
            try:
                return [hiredis.pack_command(args)]
            except TypeError:
                pass
        packed: list[bytes] = self._serializer.pack(*args)
        return packed


class HiredisPackedConnection(_HiredisPacking, aioredis.Connection):
    pass


class HiredisPackedSSLConnection(_HiredisPacking, aioredis.SSLConnection):
    pass


_PACKED_BY_HIREDIS: dict[type[Any], type[Any]] = {
    aioredis.Connection: HiredisPackedConnection,
    aioredis.SSLConnection: HiredisPackedSSLConnection,
}


def packed_by_hiredis(connection_class: type[Any]) -> type[Any]:
    """The connection class of a URL (TCP or TLS) packing with hiredis, if hiredis is there;
    any other (a Unix socket's) as it is."""
    if not HIREDIS_AVAILABLE:
        return connection_class
    return _PACKED_BY_HIREDIS.get(connection_class, connection_class)


def each_node(client: redis.Redis) -> list[tuple[str, redis.Redis]]:
    """(host:port, a client of that node alone) of every node: on a cluster each primary and
    replica (for what a cluster keeps per node, such as ACL users), else the one server."""
    if isinstance(client, redis.cluster.RedisCluster):
        nodes = sorted(client.get_nodes(), key=lambda node: str(node.name))
        return [(str(node.name), client.get_redis_connection(node)) for node in nodes]
    kwargs = client.connection_pool.connection_kwargs
    return [(f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}", client)]


def text(value: bytes | str) -> str:
    """A reply, entry id or field as text (the clients return bytes)."""
    return value.decode() if isinstance(value, bytes) else value


# Where Redis does not say a consumer group's lag (before 7, or 7 after an XDEL), the entries
# after its last delivered one are counted instead, at most this many.
LAG_COUNTED = 100_000


def lag_start(group: Mapping[str, Any]) -> str:
    """Where a consumer group's undelivered entries begin, as XRANGE's `min`, from its XINFO
    GROUPS fields (names as text): just after its last delivered entry."""
    return "(" + text(group.get("last-delivered-id") or "0-0")

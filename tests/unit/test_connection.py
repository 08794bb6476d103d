"""services.adapters.connection: the client and broker kinds settings choose, without a server.

A cluster's clients and broker take the URL's node as where to discover the others from, and
the same credentials and TLS as a single server (the cluster itself: tests/integration/
test_cluster.py)."""

from __future__ import annotations

from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
import redis.asyncio.cluster
from faststream.redis import RedisBroker, RedisClusterBroker
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import DataError

from services.adapters.connection import (
    HiredisPackedConnection,
    async_client,
    redis_broker,
    sync_client,
)
from services.settings import Settings


def settings(url: str, cluster: bool) -> Settings:
    return Settings(
        redis_url=url, redis_cluster=cluster, redis_username="fee-worker", redis_password="pw"
    )


def test_one_server_gets_plain_clients_and_broker() -> None:
    chosen = settings("redis://127.0.0.1:6399/0", cluster=False)
    assert type(sync_client(chosen)) is redis.Redis
    assert type(async_client(chosen)) is aioredis.Redis
    broker = redis_broker(chosen)
    assert isinstance(broker, RedisBroker) and not isinstance(broker, RedisClusterBroker)


async def test_a_cluster_gets_cluster_clients_with_the_same_credentials_and_tls() -> None:
    client: Any = async_client(settings("rediss://node1:7000/0", cluster=True))
    assert isinstance(client, redis.asyncio.cluster.RedisCluster)
    kwargs = client.connection_kwargs
    assert (kwargs["username"], kwargs["password"]) == ("fee-worker", "pw")
    assert issubclass(kwargs["connection_class"], SSLConnection)
    assert kwargs["connection_class"] is not SSLConnection  # packing with hiredis (below)
    nodes = client.nodes_manager.startup_nodes.values()
    assert [(n.host, n.port) for n in nodes] == [("node1", 7000)]
    await client.aclose()


def test_a_cluster_gets_faststreams_cluster_broker_with_the_same_credentials_and_tls() -> None:
    broker = redis_broker(settings("rediss://node1:7000/0", cluster=True))
    assert isinstance(broker, RedisClusterBroker)
    options = broker.config.broker_config.connection._options
    assert (options["username"], options["password"], options["ssl"]) == ("fee-worker", "pw", True)
    assert [(n.host, n.port) for n in options["startup_nodes"]] == [("node1", 7000)]
    plain = redis_broker(settings("redis://node1:7000/0", cluster=True))
    assert "ssl" not in plain.config.broker_config.connection._options


# ---- packing commands ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("redis://127.0.0.1:6399/0", Connection),
        ("rediss://127.0.0.1:6399/0", SSLConnection),
    ],
)
def test_async_connections_keep_the_url_s_kind_and_pack_with_hiredis(
    url: str, kind: type[Connection]
) -> None:
    pool: Any = async_client(settings(url, cluster=False)).connection_pool
    assert issubclass(pool.connection_class, kind)
    assert pool.connection_class is not kind


def test_a_unix_socket_keeps_its_connection() -> None:
    pool: Any = async_client(settings("unix:///tmp/redis.sock", cluster=False)).connection_pool
    assert pool.connection_class is UnixDomainSocketConnection


COMMANDS: list[tuple[Any, ...]] = [
    ("EVALSHA", "a" * 40, 2, "{fees}:k1", "{fees}:k2", "A", "2026-01-02", "x" * 7000),
    ("CONFIG GET", "maxmemory"),  # a command name of two words goes as two arguments
    ("HSET", b"key", "caf\u00e9 \u20ac", 3.5, 0, b"\x00\xff"),
    ("XADD", "stream", "*", "data", '{"a": "1\n2"}'),
    ("HSET", "key", bytearray(b"ab"), memoryview(b"cd")),  # what hiredis refuses: converted
    (b"GET", "key"),
]


@pytest.mark.parametrize("command", COMMANDS)
def test_hiredis_packs_the_bytes_redis_py_s_own_packer_does(command: tuple[Any, ...]) -> None:
    packed = b"".join(HiredisPackedConnection().pack_command(*command))
    assert packed == b"".join(Connection().pack_command(*command))
    name = command[0] if isinstance(command[0], str) else command[0].decode()
    assert packed.startswith(b"*%d\r\n" % (len(command) + (" " in name)))


@pytest.mark.parametrize("value", [True, None, object()])
def test_what_neither_packer_takes_is_refused_as_redis_py_refuses_it(value: object) -> None:
    with pytest.raises(DataError):
        Connection().pack_command("SET", "k", value)
    with pytest.raises(DataError):
        HiredisPackedConnection().pack_command("SET", "k", value)

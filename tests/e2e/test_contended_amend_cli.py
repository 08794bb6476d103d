"""Fifty `feeschedule amend` processes on one agreement at once: every amendment is recorded.

Left alone, fifty processes starting on two cores reach Redis seconds apart and rarely clash,
so the test makes them clash: on a Redis server of its own it pauses writes (CLIENT PAUSE
WRITE; reads go on) until every process has read the agreement at version 1 and is held at its
append. Released together, one wins and 49 clash, and they keep clashing as they retry. None
may fail, and the log must hold one event per amendment with no gap in versions.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from conftest import FEESCHEDULE, Feeschedule

from services.adapters.eventstore import EventStore
from services.adapters.keys import Keys
from services.adapters.redis_server import EmbeddedRedisUnavailable, embedded_redis

pytestmark = pytest.mark.e2e

WRITERS = 50
AGREEMENT = "contended"
# Fifty interpreters starting on two cores: most of the run is their start-up.
RUN_TIMEOUT_S = 120.0


@pytest.fixture
def private_redis() -> Iterator[redis.Redis]:
    """A Redis server of this test's own: pausing its writes disturbs no other test."""
    try:
        with embedded_redis() as url:
            client = redis.Redis.from_url(url)
            yield client
            client.close()
    except EmbeddedRedisUnavailable as exc:
        pytest.skip(str(exc))


def amendment_file(folder: Path, number: int) -> Path:
    """Amendment No. `number` adding a portfolio of its own, in the shape `amend --file` takes."""
    reading = {
        "document_title": f"Amendment No. {number} to Management Agreement (test reading)",
        "amendment_number": number,
        "effective_date": "2006-05-01",
        "changes": [
            {
                "action": "add",
                "portfolio": f"Contended Portfolio {number}",
                "formerly": None,
                "schedule": {"tiers": [{"from": "0", "to": None, "rate_pct": "0.90"}]},
                "period": None,
                "parseable": True,
                "note": None,
            }
        ],
    }
    path = folder / f"amendment-{number}.json"
    path.write_text(json.dumps(reading))
    return path


def start_all(feeschedule: Feeschedule, files: list[Path]) -> list[subprocess.Popen[str]]:
    env = {
        **os.environ,
        "FEES_REDIS_URL": feeschedule.redis_url,
        "FEES_PREFIX": feeschedule.prefix,
        "COLUMNS": "220",
    }
    return [
        subprocess.Popen(
            [str(FEESCHEDULE), "amend", "--file", str(path), "--agreement", AGREEMENT],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for path in files
    ]


def held_at_append(client: redis.Redis) -> int:
    """Connections whose append (the EVALSHA) the write pause is holding."""
    return sum(1 for c in client.client_list() if "b" in c["flags"] and c["cmd"] == "evalsha")


def wait_until_all_held(
    client: redis.Redis, procs: list[subprocess.Popen[str]], deadline: float
) -> int:
    """Until every process waits at its append, or one has exited, or time is up."""
    held = held_at_append(client)
    while held < len(procs) and time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            break
        time.sleep(0.05)
        held = held_at_append(client)
    return held


def collect(procs: list[subprocess.Popen[str]], deadline: float) -> list[tuple[int, str, str]]:
    """(exit status, stdout, stderr) of each process."""
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=max(deadline - time.monotonic(), 0.1))
        results.append((proc.returncode, out, err))
    return results


def test_fifty_concurrent_amend_processes_all_record_without_a_gap(
    prefix: str, tmp_path: Path, private_redis: redis.Redis
) -> None:
    url = private_redis.get_connection_kwargs()
    feeschedule = Feeschedule(f"redis://{url['host']}:{url['port']}/0", prefix)
    feeschedule.ok("register-agreement", "--agreement", AGREEMENT)
    files = [amendment_file(tmp_path, n) for n in range(1, WRITERS + 1)]
    deadline = time.monotonic() + RUN_TIMEOUT_S

    private_redis.client_pause(int(RUN_TIMEOUT_S * 1000), all=False)  # writes only
    procs = start_all(feeschedule, files)
    try:
        held = wait_until_all_held(private_redis, procs, deadline)
        private_redis.client_unpause()
        results = collect(procs, deadline)
    finally:
        private_redis.client_unpause()
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    failed = [(code, err.strip()) for code, _, err in results if code != 0 or err.strip()]
    assert failed == []
    assert held == WRITERS  # all had read version 1: all but one clashed at least once
    # Each process reports the version its amendment made; together 2..51, no gap, no repeat
    # (version 1 is the registration).
    reported = sorted(
        int(m.group(1)) for _, out, _ in results for m in [re.search(r"version (\d+)", out)] if m
    )
    assert reported == list(range(2, WRITERS + 2))

    store = EventStore(private_redis, Keys(prefix))
    events = store.events_of(AGREEMENT)
    assert [type(e).__name__ for _, e in events] == ["AgreementRegistered"] + [
        "AmendmentRecorded"
    ] * WRITERS
    numbers = sorted(getattr(e, "amendment_number", -1) for _, e in events[1:])
    assert numbers == list(range(1, WRITERS + 1))
    assert store.version(AGREEMENT) == WRITERS + 1
    assert private_redis.xlen(Keys(prefix).agreements) == WRITERS + 1

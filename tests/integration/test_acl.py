"""Each role's Redis ACL user, on a real server: allowed its own keys and commands, denied the rest.

Users get this test's key prefix and a unique name suffix, and are deleted afterwards (the
server may be shared). On Redis >= 7 the rules use selectors and read-only keys, so the
read/write split inside a role's own keys is proved too; Redis 6.2 cannot express it (see
services/ops/acl.py) and those tests are skipped there with that reason.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from conftest import FEESCHEDULE
from redis.exceptions import NoPermissionError, ResponseError
from test_fee_worker_support import TIERS_A, amend, register

from contracts.messages import AgreementRegistered
from services.adapters.consumer import ensure_group
from services.adapters.eventstore import EventStore
from services.adapters.keys import Keys
from services.adapters.metrics import PENDING, GroupMetrics
from services.adapters.readmodel import ReadModel
from services.fee_worker.commands import _portfolio_id
from services.ops.acl import (
    CLUSTER_CONNECTION,
    CONNECTION,
    ROLE_GRANTS,
    ROLES,
    build_user,
    key_names,
    key_pattern,
    supports_selectors,
)

pytestmark = pytest.mark.integration

PASSWORD = "s3cret-for-tests"

Connect = Callable[[str], redis.Redis]


@pytest.fixture
def server_version(redis_client: redis.Redis) -> str:
    info: Any = redis_client.info("server")
    return str(info["redis_version"])


@pytest.fixture
def needs_selectors(server_version: str) -> None:
    if not supports_selectors(server_version):
        pytest.skip(
            f"Redis {server_version} has no ACL selectors or read-only keys (7.0+): "
            "a role's read/write split within its own keys cannot be expressed"
        )


@pytest.fixture
def acl_users(redis_client: redis.Redis, prefix: str, server_version: str) -> Iterator[str]:
    """Creates every role's user; yields the user-name suffix. Deletes them afterwards."""
    suffix = f"-{prefix}"
    try:
        for role in ROLES:
            user = build_user(
                role, prefix, PASSWORD, user_suffix=suffix, server_version=server_version
            )
            redis_client.execute_command(*shlex.split(user.setuser()))
        yield suffix
    finally:
        redis_client.acl_deluser(*(role + suffix for role in ROLES))


@pytest.fixture
def connect(redis_url: str, acl_users: str) -> Iterator[Connect]:
    clients: list[redis.Redis] = []

    def _connect(role: str) -> redis.Redis:
        client = redis.Redis.from_url(redis_url, username=role + acl_users, password=PASSWORD)
        clients.append(client)
        return client

    yield _connect
    for client in clients:
        client.close()


def denied(call: Callable[[], object]) -> str:
    """Runs a call that the ACL must refuse; returns the refusal."""
    with pytest.raises(ResponseError) as caught:
        call()
    error = caught.value
    # Direct commands fail with NOPERM; commands run inside a script with a script error.
    assert isinstance(error, NoPermissionError) or "can't access" in str(error), str(error)
    return str(error)


def test_every_key_in_keys_py_belongs_to_a_role() -> None:
    """A key added to services/adapters/keys.py must be given to a role in services/ops/acl.py."""
    claimed = {n for spec in ROLE_GRANTS.values() for g in spec.grants for n in (*g.write, *g.read)}
    assert "agreements" in key_names() and "dedupe" in key_names()
    unclaimed = set(key_names()) - claimed
    assert not unclaimed, f"keys no ACL role may use: {sorted(unclaimed)}"
    assert key_pattern(Keys("p"), "ledger") == "{p}:ledger:*"


# ---- recorder ------------------------------------------------------------------------------


def test_recorder_appends_through_the_event_store(connect: Connect, prefix: str) -> None:
    keys = Keys(prefix)
    store = EventStore(connect("recorder"), keys)
    registered = AgreementRegistered(agreement_id="AGR-1", trust="Met Investors Series Trust")
    first = store.append(registered, expected_version=0, idempotency_key="doc-1")
    again = store.append(registered, expected_version=0, idempotency_key="doc-1")
    assert (first.version, again.duplicate, again.entry_id) == (1, True, first.entry_id)
    assert [entry_id for entry_id, _ in store.events_of("AGR-1")] == [first.entry_id]
    assert store.version("AGR-1") == 1


def test_recorder_is_denied_everything_but_the_log(connect: Connect, prefix: str) -> None:
    keys = Keys(prefix)
    recorder = connect("recorder")
    denied(lambda: recorder.xadd(keys.net_assets, {"a": "1"}))
    denied(lambda: recorder.xadd(keys.accruals, {"a": "1"}))
    denied(lambda: recorder.xrange(keys.net_assets))
    denied(lambda: recorder.get(keys.read_model_pointer))
    denied(lambda: recorder.hset(keys.ledger("P1"), "2006-11-01", "{}"))
    # The log is the audit record: the recorder can append, never delete or trim.
    recorder.xadd(keys.agreements, {"type": "probe"})
    denied(lambda: recorder.delete(keys.agreements))
    denied(lambda: recorder.xtrim(keys.agreements, maxlen=0))
    denied(lambda: recorder.xdel(keys.agreements, "0-1"))
    denied(lambda: recorder.flushdb())
    denied(lambda: recorder.keys("*"))


# ---- projector -----------------------------------------------------------------------------


async def test_projector_consumes_the_log_and_writes_the_read_model(
    redis_url: str, connect: Connect, acl_users: str, prefix: str, redis_client: redis.Redis
) -> None:
    keys = Keys(prefix)
    redis_client.xadd(keys.agreements, {"type": "AgreementRegistered"})
    client = aioredis.Redis.from_url(redis_url, username="projector" + acl_users, password=PASSWORD)
    try:
        await ensure_group(client, keys.agreements, keys.projector_group)
        reply: Any = await client.xreadgroup(
            keys.projector_group, "c1", {keys.agreements: ">"}, count=10
        )
        entry_id = reply[0][1][0][0]
        assert await client.xpending(keys.agreements, keys.projector_group)
        await client.xautoclaim(keys.agreements, keys.projector_group, "c2", 0)
        assert await client.xack(keys.agreements, keys.projector_group, entry_id) == 1
        assert len(await client.xrange(keys.agreements)) == 1
    finally:
        await client.aclose()
    projector = connect("projector")
    generation = keys.read_model("g1")
    projector.hset(f"{generation}:portfolios", "P1", "{}")
    projector.set(f"{generation}:checkpoint", "0-1")
    projector.set(keys.read_model_pointer, "g1")
    projector.delete(keys.read_model("g0") + ":portfolios")
    projector.xadd(keys.dead_letters, {"reason": "cannot project"})
    # A swap script that declares the pointer and the log, like the projector's own.
    swap = projector.register_script(
        "local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)\n"
        "redis.call('SET', KEYS[1], ARGV[1])\n"
        "return #last"
    )
    assert swap(keys=[keys.read_model_pointer, keys.agreements], args=["g2"]) == 1
    assert projector.get(keys.read_model_pointer) == b"g2"


def test_projector_is_denied_other_roles_keys(connect: Connect, prefix: str) -> None:
    keys = Keys(prefix)
    projector = connect("projector")
    denied(lambda: projector.xadd(keys.accruals, {"a": "1"}))
    denied(lambda: projector.hset(keys.ledger("P1"), "2006-11-01", "{}"))
    denied(lambda: projector.xrange(keys.net_assets))
    denied(lambda: projector.hset(keys.agreement_versions, "AGR-1", "9"))
    denied(lambda: projector.get(Keys(prefix + "x").read_model_pointer))
    denied(lambda: projector.flushdb())


@pytest.mark.usefixtures("needs_selectors")
def test_projector_cannot_change_the_log(connect: Connect, prefix: str) -> None:
    keys = Keys(prefix)
    projector = connect("projector")
    denied(lambda: projector.xadd(keys.agreements, {"type": "forged"}))
    denied(lambda: projector.delete(keys.agreements))
    denied(lambda: projector.delete(keys.dead_letters))
    script = "return redis.call('DEL', KEYS[1])"
    denied(lambda: projector.eval(script, 1, keys.agreements))


# ---- fee worker ----------------------------------------------------------------------------


async def test_fee_worker_consumes_net_assets_and_writes_its_outputs(
    redis_url: str, connect: Connect, acl_users: str, prefix: str, redis_client: redis.Redis
) -> None:
    keys = Keys(prefix)
    redis_client.xadd(keys.lane(3).net_assets, {"type": "NetAssetsReported"})
    redis_client.xadd(keys.agreements, {"type": "AmendmentRecorded"})
    client = aioredis.Redis.from_url(
        redis_url, username="fee-worker" + acl_users, password=PASSWORD
    )
    try:
        stream = keys.lane(3).net_assets
        await ensure_group(client, stream, keys.fee_worker_group)
        await ensure_group(client, keys.net_assets, keys.fee_worker_group)
        reply: Any = await client.xreadgroup(keys.fee_worker_group, "w1", {stream: ">"})
        # The worker's own /metrics reads its groups with its own user.
        metrics = GroupMetrics(client, [(stream, keys.fee_worker_group)])
        assert await metrics.refresh()
        pending = PENDING.labels(stream=stream, group=keys.fee_worker_group)._value.get()
        assert pending == 1
        assert await client.xack(stream, keys.fee_worker_group, reply[0][1][0][0]) == 1
        assert await client.ping()
    finally:
        await client.aclose()
    worker = connect("fee-worker")
    assert len(worker.xrange(keys.agreements)) == 1
    worker.xadd(keys.accruals, {"type": "FeeAccrued"})
    worker.xadd(keys.dead_letters, {"reason": "bad net assets"})
    worker.hset(keys.ledger("P1"), "2006-11-01", "{}")
    worker.sadd(keys.ledger_portfolios, "P1")
    worker.hset(keys.unpriced, "P1|2006-11-01", "{}")
    worker.hdel(keys.unpriced, "P1|2006-11-01")
    worker.set(keys.worker_checkpoint, "0-1")
    assert worker.set(keys.dedupe("R1:0"), "1", nx=True)
    # The atomic step: accrual, ledger entry and dedupe key in one script.
    step = worker.register_script(
        "redis.call('XADD', KEYS[1], '*', 'type', 'FeeAccrued')\n"
        "redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])\n"
        "return redis.call('SET', KEYS[3], '1', 'NX') and 1 or 0"
    )
    keys_used = [keys.accruals, keys.ledger("P1"), keys.dedupe("R2:0")]
    assert step(keys=keys_used, args=["2006-11-02", "{}"]) == 1


def test_fee_worker_is_denied_other_roles_keys(connect: Connect, prefix: str) -> None:
    keys = Keys(prefix)
    worker = connect("fee-worker")
    denied(lambda: worker.hset(keys.read_model("g1") + ":portfolios", "P1", "{}"))
    denied(lambda: worker.set(keys.read_model_pointer, "g9"))
    denied(lambda: worker.hincrby(keys.agreement_versions, "AGR-1", 1))
    denied(lambda: worker.hget(keys.idempotency, "doc-1"))
    denied(lambda: worker.xadd(Keys(prefix + "x").accruals, {"a": "1"}))
    denied(lambda: worker.flushdb())


@pytest.mark.usefixtures("needs_selectors")
def test_fee_worker_cannot_change_the_log_or_its_input(
    connect: Connect, prefix: str, redis_client: redis.Redis
) -> None:
    keys = Keys(prefix)
    redis_client.xadd(keys.agreements, {"type": "AmendmentRecorded"})
    worker = connect("fee-worker")
    denied(lambda: worker.xadd(keys.agreements, {"type": "forged"}))
    denied(lambda: worker.delete(keys.agreements))
    denied(lambda: worker.xadd(keys.net_assets, {"type": "NetAssetsReported"}))
    denied(lambda: worker.delete(keys.net_assets))
    # Its own output streams are append-only.
    worker.xadd(keys.accruals, {"type": "FeeAccrued"})
    denied(lambda: worker.delete(keys.accruals))
    denied(lambda: worker.xdel(keys.accruals, "0-1"))
    denied(lambda: worker.delete(keys.dead_letters))
    forge = "return redis.call('XADD', KEYS[2], '*', 'type', 'forged')"
    denied(lambda: worker.eval(forge, 2, keys.accruals, keys.agreements))
    assert redis_client.xlen(keys.agreements) == 1


# ---- auditor -------------------------------------------------------------------------------


def test_auditor_reads_everything_and_writes_nothing(
    connect: Connect, prefix: str, redis_client: redis.Redis
) -> None:
    keys = Keys(prefix)
    redis_client.xadd(keys.agreements, {"type": "AgreementRegistered"})
    redis_client.hset(keys.ledger("P1"), "2006-11-01", "{}")
    redis_client.sadd(keys.ledger_portfolios, "P1")
    redis_client.set(keys.read_model_pointer, "g1")
    auditor = connect("auditor")
    assert auditor.xlen(keys.agreements) == 1
    assert len(auditor.xrange(keys.agreements)) == len(auditor.xrevrange(keys.agreements)) == 1
    assert auditor.xinfo_stream(keys.agreements)["length"] == 1
    assert auditor.hgetall(keys.ledger("P1")) == {b"2006-11-01": b"{}"}
    assert auditor.smembers(keys.ledger_portfolios) == {b"P1"}
    assert auditor.get(keys.read_model_pointer) == b"g1"
    assert auditor.lrange(keys.agreement_events("AGR-1"), 0, -1) == []
    denied(lambda: auditor.xadd(keys.agreements, {"type": "forged"}))
    denied(lambda: auditor.delete(keys.agreements))
    denied(lambda: auditor.set(keys.read_model_pointer, "g2"))
    denied(lambda: auditor.hset(keys.ledger("P1"), "2006-11-01", "{}"))
    denied(lambda: auditor.xgroup_create(keys.agreements, "audit", id="0"))
    denied(lambda: auditor.eval("return 1", 0))
    denied(lambda: auditor.get(Keys(prefix + "x").read_model_pointer))
    denied(lambda: auditor.keys("*"))


def test_granted_commands_exist_and_auditor_has_no_write_command(
    redis_client: redis.Redis,
) -> None:
    """Every granted command is one the server knows; none of the auditor's writes."""
    for role, spec in ROLE_GRANTS.items():
        granted = (*(c for g in spec.grants for c in g.commands), *CLUSTER_CONNECTION)
        names = {c.split("|")[0] for c in granted} | set(CONNECTION)
        info: Any = redis_client.execute_command("COMMAND", "INFO", *sorted(names))
        # redis-py parses COMMAND INFO into {name: {...}}; a None entry is an unknown command.
        known = info if isinstance(info, dict) else {}
        assert set(known) >= names, f"{role}: unknown {names - set(known)}"
        if role == "auditor":
            writes = {n for n, d in known.items() if "write" in {_s(f) for f in d["flags"]}}
            assert not writes, f"auditor is granted write commands {writes}"


def _s(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# ---- the operator's path: `feeschedule acl print` piped into the server --------------------


def test_acl_print_output_creates_working_users(
    redis_url: str, redis_client: redis.Redis, prefix: str, server_version: str
) -> None:
    suffix = f"-cli-{prefix}"
    env = {**os.environ, "FEES_PREFIX": prefix}
    env.update({f"FEES_ACL_{r.upper().replace('-', '_')}_PASSWORD": f"pw-{r}" for r in ROLES})
    result = subprocess.run(
        [
            *(str(FEESCHEDULE), "acl", "print", "--password-from-env"),
            *("--user-suffix", suffix, "--server-version", server_version),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = result.stdout.splitlines()
    assert len(lines) == len(ROLES)
    assert not any(f"pw-{r}" in result.stdout for r in ROLES), "a password was printed"
    try:
        for line in lines:
            assert redis_client.execute_command(*shlex.split(line)) in (b"OK", "OK", True)
        keys = Keys(prefix)
        auditor = redis.Redis.from_url(
            redis_url, username="auditor" + suffix, password="pw-auditor"
        )
        try:
            assert auditor.xlen(keys.agreements) == 0
            denied(lambda: auditor.xadd(keys.agreements, {"type": "forged"}))
        finally:
            auditor.close()
    finally:
        redis_client.acl_deluser(*(role + suffix for role in ROLES))


def test_the_auditor_finds_a_portfolio_by_name_from_the_log_alone(
    connect: Connect, prefix: str, redis_client: redis.Redis
) -> None:
    """The read model answers through scripts, which the auditor may not run: `accruals`
    then finds the portfolio by a replay of the log, which needs reads only."""
    keys = Keys(prefix)
    register(redis_client, keys)
    amend(redis_client, keys, 1, date(2024, 1, 1), TIERS_A)  # P1, named "Fund P1"
    ReadModel(redis_client, keys).rebuild()
    auditor = connect("auditor")
    denied(lambda: ReadModel(auditor, keys).lookup("Fund P1"))
    assert _portfolio_id(auditor, keys, "Fund P1") == "P1"


def test_the_auditor_is_told_in_one_line_that_the_read_model_needs_scripts(
    acl_users: str, prefix: str, redis_url: str, redis_client: redis.Redis
) -> None:
    keys = Keys(prefix)
    register(redis_client, keys)
    amend(redis_client, keys, 1, date(2024, 1, 1), TIERS_A)
    ReadModel(redis_client, keys).rebuild()
    env = {
        **os.environ,
        "FEES_REDIS_URL": redis_url,
        "FEES_PREFIX": prefix,
        "FEES_REDIS_USERNAME": "auditor" + acl_users,
        "FEES_REDIS_PASSWORD": PASSWORD,
    }
    ask = [str(FEESCHEDULE), "schedule", "Fund P1", "--on", "2024-06-01", "--json"]
    replayed = subprocess.run(ask, env=env, capture_output=True, text=True, timeout=60)
    assert replayed.returncode == 0, replayed.stderr
    fast = subprocess.run(
        [*ask, "--source", "read-model"], env=env, capture_output=True, text=True, timeout=60
    )
    assert fast.returncode == 2
    assert fast.stderr.strip() == (
        "error: source: 'read-model' runs the read model's scripts (EVALSHA), which this Redis"
        " user may not (the auditor role may not); --source replay reads the log alone"
    )

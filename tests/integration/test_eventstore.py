"""The event store on a real Redis: version guard under contention, idempotency, reads."""

from __future__ import annotations

import threading
from datetime import date

import pytest
import redis

from contracts.messages import AgreementRegistered, AmendmentRecorded, AmendmentRetracted
from services.adapters.eventstore import AppendResult, EventStore, VersionConflict
from services.adapters.keys import Keys
from services.app.recording import Recorder, rebuild_agreement
from services.domain.errors import DomainError

pytestmark = pytest.mark.integration

TIERS = [{"from": "0", "to": None, "rate_pct": "0.75"}]


def amendment(
    number: int, pid: str = "p1", action: str = "add", **extra: object
) -> AmendmentRecorded:
    return AmendmentRecorded.model_validate(
        {
            "agreement_id": "a1",
            "amendment_number": number,
            "effective_date": extra.pop("effective_date", date(2006, 1, 1)),
            "changes": [
                {
                    "action": action,
                    "portfolio_id": pid,
                    "portfolio_name": pid.upper(),
                    "tiers": TIERS,
                }
            ],
            **extra,
        }
    )


def test_twenty_concurrent_writers_at_one_version_exactly_one_wins(
    redis_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    keys = Keys(prefix)
    EventStore(redis_client, keys).append(AgreementRegistered(agreement_id="a1"), 0)
    barrier = threading.Barrier(20)
    outcomes: list[AppendResult | VersionConflict] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        client = redis.Redis.from_url(redis_url)  # its own connection
        store = EventStore(client, keys)
        barrier.wait()
        try:
            result: AppendResult | VersionConflict = store.append(amendment(n), 1)
        except VersionConflict as exc:
            result = exc
        with lock:
            outcomes.append(result)
        client.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(1, 21)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    wins = [o for o in outcomes if isinstance(o, AppendResult)]
    clashes = [o for o in outcomes if isinstance(o, VersionConflict)]
    assert len(wins) == 1 and wins[0].version == 2 and not wins[0].duplicate
    assert len(clashes) == 19
    assert all((c.agreement_id, c.expected, c.actual) == ("a1", 1, 2) for c in clashes)
    assert "expected version 1" in str(clashes[0]) and "at 2" in str(clashes[0])
    assert redis_client.xlen(keys.agreements) == 2
    assert EventStore(redis_client, keys).version("a1") == 2


def test_same_idempotency_key_twice_records_one_event(
    prefix: str, redis_client: redis.Redis
) -> None:
    store = EventStore(redis_client, Keys(prefix))
    store.append(AgreementRegistered(agreement_id="a1"), 0)
    first = store.append(amendment(1), 1, idempotency_key="cmd-42")
    # The retry carries the stale expected version: it must still be reported, not refused.
    again = store.append(amendment(1), 1, idempotency_key="cmd-42")
    assert not first.duplicate and again.duplicate
    assert again.entry_id == first.entry_id and again.version == first.version == 2
    assert redis_client.xlen(Keys(prefix).agreements) == 2
    assert [m.type for _, m in store.events_of("a1")] == [
        "AgreementRegistered",
        "AmendmentRecorded",
    ]


def test_events_of_reads_one_agreement_in_order_and_log_reads_all(
    prefix: str, redis_client: redis.Redis
) -> None:
    store = EventStore(redis_client, Keys(prefix))
    store.append(AgreementRegistered(agreement_id="a1"), 0)
    store.append(AgreementRegistered(agreement_id="b2"), 0)
    store.append(amendment(1), 1)
    store.append(AmendmentRetracted(agreement_id="a1", amendment_number=1, reason="typo"), 2)
    events = store.events_of("a1")
    assert [type(m).__name__ for _, m in events] == [
        "AgreementRegistered",
        "AmendmentRecorded",
        "AmendmentRetracted",
    ]
    positions = [p for p, _ in store.read()]
    assert len(positions) == 4 and positions == sorted(
        positions, key=lambda p: tuple(map(int, p.split("-")))
    )
    # Plain fields, readable without FastStream.
    _, fields = redis_client.xrange(Keys(prefix).agreements, count=1)[0]
    assert set(fields) == {b"type", b"event_id", b"schema_version", b"data"}


def test_recorder_enforces_rules_and_treats_retries_as_retries(
    prefix: str, redis_client: redis.Redis
) -> None:
    store = EventStore(redis_client, Keys(prefix))
    recorder = Recorder(store)
    with pytest.raises(DomainError, match="not registered"):
        recorder.record(amendment(1))
    recorder.record(AgreementRegistered(agreement_id="a1"))
    assert recorder.record(AgreementRegistered(agreement_id="a1")).duplicate
    with pytest.raises(DomainError, match="already registered"):
        recorder.record(AgreementRegistered(agreement_id="a1", trust="Other"))
    recorder.record(amendment(1), idempotency_key="filing:x")
    assert recorder.record(amendment(1), idempotency_key="filing:x").duplicate
    with pytest.raises(DomainError, match=r"amendment_number: 1 is already recorded"):
        recorder.record(amendment(1), idempotency_key="filing:y")
    with pytest.raises(
        DomainError, match=r"changes\[0\].portfolio_id: 'p9' is not on the schedule"
    ):
        recorder.record(amendment(2, pid="p9", action="revise"))
    with pytest.raises(DomainError, match="nothing to retract"):
        recorder.record(AmendmentRetracted(agreement_id="a1", amendment_number=7, reason="x"))
    recorder.record(AmendmentRetracted(agreement_id="a1", amendment_number=1, reason="x"))
    agreement = rebuild_agreement(store, "a1")
    assert agreement.version == 3 and agreement.retracted == {1}
    assert redis_client.xlen(Keys(prefix).agreements) == 3

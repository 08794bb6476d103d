"""The recorder under contention, on a real Redis: writers that clash retry until a deadline.

Many writers on one agreement all get recorded, with no gap in versions; a retried filing is
still recorded once; a writer that other writers outpace past its deadline gives up with one
line that says it can be retried, having recorded nothing; a retry reads only new events.
"""

from __future__ import annotations

import json
import random
import threading
import time
from datetime import date
from pathlib import Path

import pytest
import redis

from contracts.messages import AgreementRegistered, AmendmentRecorded, Message
from services.adapters.eventstore import AppendResult, EventStore, VersionConflict
from services.adapters.keys import Keys
from services.app.recording import (
    MAX_BACKOFF_S,
    ContendedTooLong,
    Recorder,
    backoff_delays,
    catch_up,
    rebuild_agreement,
)

pytestmark = pytest.mark.integration

AGREEMENT = "a1"
WRITERS = 50


def amendment(number: int, pid: str | None = None) -> AmendmentRecorded:
    pid = pid or f"p{number}"
    return AmendmentRecorded.model_validate(
        {
            "agreement_id": AGREEMENT,
            "amendment_number": number,
            "effective_date": date(2006, 1, 1),
            "changes": [
                {
                    "action": "add",
                    "portfolio_id": pid,
                    "portfolio_name": pid.upper(),
                    "tiers": [{"from": "0", "to": None, "rate_pct": "0.75"}],
                }
            ],
        }
    )


class CountingStore(EventStore):
    """A real store that counts the version clashes its appends meet."""

    clashes = 0
    lock = threading.Lock()

    def append(
        self, message: Message, expected_version: int, idempotency_key: str | None = None
    ) -> AppendResult:
        try:
            return super().append(message, expected_version, idempotency_key)
        except VersionConflict:
            with CountingStore.lock:
                CountingStore.clashes += 1
            raise


class OutpacedStore(EventStore):
    """A real store on which a rival writer records first just before each of its appends."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        super().__init__(client, keys)
        self.rival = EventStore(client, keys)
        self.rivals = 0

    def append(
        self, message: Message, expected_version: int, idempotency_key: str | None = None
    ) -> AppendResult:
        self.rivals += 1
        rival = amendment(1000 + self.rivals, pid=f"rival-{self.rivals}")
        self.rival.append(rival, self.version(AGREEMENT))
        return super().append(message, expected_version, idempotency_key)


Outcome = AppendResult | Exception | None


def in_threads(
    redis_url: str, keys: Keys, commands: list[tuple[AmendmentRecorded, str]]
) -> list[Outcome]:
    """Record each (command, key) from a thread of its own, all released at once; the outcomes
    in the order of `commands` (None: the thread did not finish)."""
    barrier = threading.Barrier(len(commands))
    outcomes: list[Outcome] = [None] * len(commands)

    def writer(i: int, command: AmendmentRecorded, key: str) -> None:
        client = redis.Redis.from_url(redis_url)  # its own connection, as a process would
        recorder = Recorder(CountingStore(client, keys))
        barrier.wait()
        try:
            outcomes[i] = recorder.record(command, idempotency_key=key)
        except Exception as exc:
            outcomes[i] = exc
        client.close()

    threads = [threading.Thread(target=writer, args=(i, *pair)) for i, pair in enumerate(commands)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return outcomes


def test_fifty_threads_record_distinct_amendments_all_succeed_without_a_gap(
    redis_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    keys = Keys(prefix)
    Recorder(EventStore(redis_client, keys)).record(AgreementRegistered(agreement_id=AGREEMENT))
    CountingStore.clashes = 0
    commands = [(amendment(n), f"filing:{n}") for n in range(1, WRITERS + 1)]

    outcomes = in_threads(redis_url, keys, commands)

    assert [o for o in outcomes if not isinstance(o, AppendResult)] == []
    results = [o for o in outcomes if isinstance(o, AppendResult)]
    assert sorted(r.version for r in results) == list(range(2, WRITERS + 2))
    assert not any(r.duplicate for r in results)
    assert CountingStore.clashes > 0  # they did contend
    events = EventStore(redis_client, keys).events_of(AGREEMENT)
    numbers = sorted(getattr(e, "amendment_number", -1) for _, e in events[1:])
    assert numbers == list(range(1, WRITERS + 1))
    assert redis_client.xlen(keys.agreements) == WRITERS + 1


def test_one_filing_retried_by_twenty_contending_writers_is_recorded_once(
    redis_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    keys = Keys(prefix)
    Recorder(EventStore(redis_client, keys)).record(AgreementRegistered(agreement_id=AGREEMENT))
    # The same filing twenty times (same key) among twenty other filings.
    same = amendment(7)
    commands = [(same, "filing:same")] * 20 + [
        (amendment(n), f"filing:{n}") for n in range(100, 120)
    ]

    outcomes = in_threads(redis_url, keys, commands)

    assert [o for o in outcomes if not isinstance(o, AppendResult)] == []
    of_same = [o for o in outcomes[:20] if isinstance(o, AppendResult)]
    assert sorted(r.duplicate for r in of_same) == [False] + [True] * 19
    assert len({r.entry_id for r in of_same}) == 1
    events = EventStore(redis_client, keys).events_of(AGREEMENT)
    sevens = [p for p, e in events if getattr(e, "amendment_number", None) == 7]
    assert len(sevens) == 1 and len(events) == 1 + 1 + 20


def test_a_clash_outliving_the_deadline_raises_one_line_and_records_nothing(
    prefix: str, redis_client: redis.Redis
) -> None:
    keys = Keys(prefix)
    EventStore(redis_client, keys).append(AgreementRegistered(agreement_id=AGREEMENT), 0)
    store = OutpacedStore(redis_client, keys)
    deadline = 0.3
    started = time.monotonic()
    with pytest.raises(ContendedTooLong) as raised:
        Recorder(store, deadline_s=deadline).record(amendment(1))
    elapsed = time.monotonic() - started

    clash = raised.value
    assert isinstance(clash, VersionConflict)
    (line,) = str(clash).splitlines()
    assert f"agreement {AGREEMENT!r}" in line and "nothing was recorded" in line
    assert "can be retried" in line and f"{clash.tries} tries in 0.3 s" in line
    # A time budget, not a count: with waits of at most 2, 4, 8 .. ms it tried many times.
    assert clash.tries > 3 and clash.tries == store.rivals
    assert deadline <= elapsed < deadline + 1.0
    events = EventStore(redis_client, keys).events_of(AGREEMENT)
    assert [getattr(e, "amendment_number", None) for _, e in events[1:]] == [
        1000 + n for n in range(1, store.rivals + 1)
    ]


def test_the_cli_reports_a_clash_outliving_the_deadline_in_one_line_with_status_1(
    prefix: str,
    redis_client: redis.Redis,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import services.recorder.commands as commands
    from services.cli import main

    keys = Keys(prefix)
    EventStore(redis_client, keys).append(AgreementRegistered(agreement_id=AGREEMENT), 0)
    # The command's own recorder, on a store where a rival always records first.
    store = OutpacedStore(redis_client, keys)
    monkeypatch.setattr(commands, "_recorder", lambda *_: Recorder(store, deadline_s=0.05))
    reading = tmp_path / "amendment.json"
    tiers = [{"from": "0", "to": None, "rate_pct": "0.90"}]
    change = {"action": "add", "portfolio": "Fund One", "schedule": {"tiers": tiers}}
    reading.write_text(
        json.dumps({"amendment_number": 1, "effective_date": "2006-01-01", "changes": [change]})
    )
    monkeypatch.setattr(
        "sys.argv", ["feeschedule", "amend", "--file", str(reading), "--agreement", AGREEMENT]
    )

    with pytest.raises(SystemExit) as exited:
        main()

    assert exited.value.code == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: agreement {AGREEMENT!r}: other writers recorded first")
    assert line.endswith("nothing was recorded, and the command can be retried")
    assert store.rivals >= 1 and redis_client.xlen(keys.agreements) == 1 + store.rivals


def test_the_deadline_comes_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.recorder.commands import _recorder

    monkeypatch.setenv("FEES_REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("FEES_RECORD_DEADLINE_MS", "2500")
    assert _recorder().deadline_s == 2.5
    monkeypatch.delenv("FEES_RECORD_DEADLINE_MS")
    assert _recorder().deadline_s == 30.0


def test_a_retry_reads_only_the_events_recorded_since(
    prefix: str, redis_client: redis.Redis
) -> None:
    keys = Keys(prefix)
    store = EventStore(redis_client, keys)
    recorder = Recorder(store)
    recorder.record(AgreementRegistered(agreement_id=AGREEMENT))
    for n in range(1, 4):
        recorder.record(amendment(n))
    assert [getattr(e, "amendment_number", None) for _, e in store.events_of(AGREEMENT, 2)] == [
        2,
        3,
    ]
    assert store.events_of(AGREEMENT, after=4) == []
    # Caught up in steps, the aggregate is the one a full rebuild gives.
    stepwise = rebuild_agreement(store, AGREEMENT)
    recorder.record(amendment(4))
    catch_up(store, stepwise)
    whole = rebuild_agreement(store, AGREEMENT)
    assert stepwise.version == whole.version == 5
    assert stepwise.amendments == whole.amendments
    assert set(stepwise.timelines) == set(whole.timelines) == {"p1", "p2", "p3", "p4"}


def test_the_backoff_grows_from_a_few_milliseconds_and_is_capped() -> None:
    delays = backoff_delays(random.Random(7))
    waits = [next(delays) for _ in range(40)]
    ceilings = [min(MAX_BACKOFF_S, 0.002 * 2**n) for n in range(40)]
    assert all(0 <= w <= c for w, c in zip(waits, ceilings, strict=True))
    assert max(waits[:3]) <= 0.008 and max(waits) <= MAX_BACKOFF_S
    assert len({round(w, 6) for w in waits[10:]}) == 30  # jittered, not one fixed wait

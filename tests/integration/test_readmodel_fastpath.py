"""The rebuild's fast path (trusted amendments) never folds a malformed entry silently, and a
rebuild through it equals a rebuild that validates every entry in full."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
import redis

from contracts.messages import AgreementRegistered, AmendmentRecorded, AmendmentRetracted
from contracts.wire import encode
from services.adapters.eventstore import EventStore
from services.adapters.keys import Keys
from services.adapters.readmodel import ReadModel, TrustedAmendments

pytestmark = pytest.mark.integration

PARTS = ("portfolios", "names", "amendments", "agreements", "now")


def amendment(number: int, changes: list[dict[str, Any]]) -> AmendmentRecorded:
    return AmendmentRecorded.model_validate(
        {
            "agreement_id": "a1",
            "amendment_number": number,
            "effective_date": date(2001, 1, 1) + timedelta(days=37 * (number % 9)),
            "changes": changes,
        }
    )


def tiers(rate: str) -> list[dict[str, Any]]:
    return [
        {"from": "0", "to": "500000000", "rate_pct": rate},
        {"from": "500000000", "to": None, "rate_pct": "0.40"},
    ]


def set_schedule(pid: str, rate: str, action: str = "revise") -> dict[str, Any]:
    return {
        "action": action,
        "portfolio_id": pid,
        "portfolio_name": pid.title(),
        "tiers": tiers(rate),
    }


def valid_log(client: redis.Redis, keys: Keys) -> int:
    """Recorded through the event store: every kind of change, a retraction. Returns the
    agreement's version."""
    store = EventStore(client, keys)
    version = 0

    def append(message: Any) -> None:
        nonlocal version
        store.append(message, version)
        version += 1

    append(AgreementRegistered(agreement_id="a1", trust="Trust One"))
    append(amendment(1, [set_schedule("p1", "0.50", "add"), set_schedule("p2", "0.60", "add")]))
    append(amendment(2, [set_schedule("p3", "0.70", "add")]))
    append(amendment(3, [set_schedule("p1", "0.55")]))
    append(amendment(4, [{"action": "rename", "portfolio_id": "p2", "new_name": "Pee Two"}]))
    waiver = {
        "action": "waiver",
        "portfolio_id": "p3",
        "portfolio_name": None,
        "tiers": tiers("0.65"),
        "period": {"from": "2002-01-01", "to": "2002-12-31"},
    }
    append(amendment(5, [waiver]))
    append(amendment(6, [{"action": "remove", "portfolio_id": "p3"}]))
    append(amendment(7, [set_schedule("p2", "0.61")]))
    append(AmendmentRetracted(agreement_id="a1", amendment_number=3, reason="recorded in error"))
    append(amendment(8, [set_schedule("p1", "0.52"), set_schedule("p4", "0.80", "add")]))
    return version


def malformed(
    template: AmendmentRecorded, mutate: Callable[[dict[str, Any]], None]
) -> dict[str, str]:
    """An entry in exactly the recorder's fields, its data changed by `mutate`."""
    fields = encode(template)
    data = json.loads(fields["data"])
    mutate(data)
    return fields | {"data": json.dumps(data)}


def negative_rate(d: dict[str, Any]) -> None:
    d["changes"][0]["tiers"][0]["rate_pct"] = "-0.50"


def missing_name(d: dict[str, Any]) -> None:
    del d["changes"][0]["portfolio_name"]


def rate_as_list(d: dict[str, Any]) -> None:
    d["changes"][0]["tiers"][0]["rate_pct"] = ["0.50"]


def unknown_key(d: dict[str, Any]) -> None:
    d["changes"][0]["period"] = {"from": "2002-01-01", "to": "2002-12-31"}


def bad_date(d: dict[str, Any]) -> None:
    d["effective_date"] = "2001-02-30"


def id_with_space(d: dict[str, Any]) -> None:
    d["changes"][0]["portfolio_id"] = "p 1"


MALFORMED = [negative_rate, missing_name, rate_as_list, unknown_key, bad_date, id_with_space]


def hashes(client: redis.Redis, read_model: ReadModel) -> dict[str, str]:
    gen = read_model.current()
    assert gen is not None
    out = {}
    for part in PARTS:
        raw: Any = client.hgetall(read_model.gen_key(gen, part))
        out[part] = hashlib.sha256(repr(sorted(raw.items())).encode()).hexdigest()
    out["checkpoint"] = read_model.checkpoint(gen)
    return out


def dead_letters(client: redis.Redis, keys: Keys) -> list[str]:
    rows: Any = client.xrange(keys.dead_letters)
    return sorted(json.loads(f[b"data"])["entry_id"] for _, f in rows)


@pytest.mark.parametrize("mutate", MALFORMED, ids=lambda f: f.__name__)
def test_a_malformed_entry_in_the_recorders_shape_is_not_trusted(
    redis_client: redis.Redis, prefix: str, mutate: Callable[[dict[str, Any]], None]
) -> None:
    keys = Keys(prefix)
    valid_log(redis_client, keys)
    entry = malformed(amendment(9, [set_schedule("p1", "0.50")]), mutate)
    bad_id = redis_client.xadd(keys.agreements, entry).decode()  # type: ignore[arg-type, union-attr]
    rows: Any = redis_client.xrange(keys.agreements)
    checked = TrustedAmendments().page(rows)

    assert checked[-1] is None  # the malformed one goes down the slow path
    assert sum(c is not None for c in checked) == 8  # every valid amendment is trusted

    trusted_model = ReadModel(redis_client, keys)
    trusted_model.rebuild()
    trusted, letters = hashes(redis_client, trusted_model), dead_letters(redis_client, keys)
    assert letters == [bad_id]  # not folded: dead-lettered with its reason
    redis_client.delete(keys.dead_letters)

    ReadModel(redis_client, keys).rebuild(trust_log=False)
    assert hashes(redis_client, trusted_model) == trusted
    assert dead_letters(redis_client, keys) == letters


def test_a_rebuild_over_a_mixed_log_equals_one_that_validates_everything(
    redis_client: redis.Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    version = valid_log(redis_client, keys)
    store = EventStore(redis_client, keys)
    bad = []
    for i, mutate in enumerate(MALFORMED):
        template = amendment(20 + i, [set_schedule(f"p{i % 4 + 1}", "0.50")])
        bad.append(redis_client.xadd(keys.agreements, malformed(template, mutate)))  # type: ignore[arg-type]
        store.append(amendment(40 + i, [set_schedule(f"p{i % 3 + 1}", f"0.{30 + i}")]), version)
        version += 1
    # A well-formed amendment in a key order of its own: folded like the recorder's.
    sorted_keys = encode(amendment(60, [set_schedule("p5", "0.90", "add")]))
    sorted_keys["data"] = json.dumps(json.loads(sorted_keys["data"]), sort_keys=True)
    redis_client.xadd(keys.agreements, sorted_keys)  # type: ignore[arg-type]
    rows: Any = redis_client.xrange(keys.agreements)

    read_model = ReadModel(redis_client, keys)
    read_model.rebuild()
    fast = hashes(redis_client, read_model)
    fast_letters = dead_letters(redis_client, keys)
    redis_client.delete(keys.dead_letters)
    read_model.rebuild(trust_log=False)

    assert hashes(redis_client, read_model) == fast
    assert dead_letters(redis_client, keys) == fast_letters
    assert fast_letters == sorted(b.decode() for b in bad)
    assert fast["checkpoint"] == rows[-1][0].decode()
    answer = read_model.answer_now("P5", date(2030, 1, 1))
    assert answer is not None and answer[1]["tiers"][0]["rate_pct"] == "0.90"


def test_a_parallel_rebuild_equals_the_single_process_rebuild(
    redis_client: redis.Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    version = valid_log(redis_client, keys)
    store = EventStore(redis_client, keys)

    def append(message: Any) -> None:
        nonlocal version
        store.append(message, version)
        version += 1

    # Portfolios of both partitions (p1-p3 hash to one of 2, p4-p5 to the other) in one
    # amendment; a name claimed by portfolios of both; retractions of amendments spanning both.
    append(amendment(30, [set_schedule("p5", "0.75", "add"), set_schedule("p2", "0.62")]))
    append(amendment(31, [{"action": "rename", "portfolio_id": "p4", "new_name": "Shared"}]))
    append(amendment(32, [{"action": "rename", "portfolio_id": "p1", "new_name": "Shared"}]))
    append(AmendmentRetracted(agreement_id="a1", amendment_number=30, reason="wrong"))
    append(AmendmentRetracted(agreement_id="a1", amendment_number=31, reason="wrong"))
    append(amendment(33, [set_schedule("p4", "0.81"), set_schedule("p1", "0.51")]))
    for mutate in MALFORMED:
        template = amendment(50, [set_schedule("p4", "0.50"), set_schedule("p1", "0.50")])
        redis_client.xadd(keys.agreements, malformed(template, mutate))  # type: ignore[arg-type]
    # An entry whose ids cannot be read off its bytes (an escape): every worker folds it.
    escaped = encode(amendment(34, [set_schedule("p5", "0.77")]))
    escaped["data"] = escaped["data"].replace('"p5"', '"\\u00705"')
    assert "\\u00705" in escaped["data"]
    redis_client.xadd(keys.agreements, escaped)  # type: ignore[arg-type]

    read_model = ReadModel(redis_client, keys)
    read_model.rebuild()
    single, letters = hashes(redis_client, read_model), dead_letters(redis_client, keys)
    assert len(letters) == len(MALFORMED)
    for workers in (2, 3):
        redis_client.delete(keys.dead_letters)
        result = read_model.rebuild(workers=workers)
        assert result.events == redis_client.xlen(keys.agreements)
        assert hashes(redis_client, read_model) == single
        assert dead_letters(redis_client, keys) == letters  # each written once
    answer = read_model.answer_now("shared", date(2030, 1, 1))
    assert answer is not None and answer[0] == "p4"  # the later id wins, in either rebuild
    answer = read_model.answer_now("p5", date(2030, 1, 1))
    assert answer is not None and answer[1]["tiers"][0]["rate_pct"] == "0.77"


def test_the_one_change_reading_equals_the_json_reading(
    redis_client: redis.Redis, prefix: str
) -> None:
    """The commonest entry is read off its text; what it reads is what the JSON path reads."""
    keys = Keys(prefix)
    valid_log(redis_client, keys)
    rows: Any = redis_client.xrange(keys.agreements)
    trusted, by_json = TrustedAmendments(), TrustedAmendments()
    read_off_text = 0
    for _, fields in rows:
        if fields[b"type"] != b"AmendmentRecorded":
            continue
        text = trusted._one_change(fields[b"data"].decode(), fields[b"event_id"])
        parsed = json.loads(fields[b"data"])
        accepted = by_json._accept(parsed, fields[b"event_id"])
        assert accepted
        if text is not None:
            read_off_text += 1
            (change,) = parsed["changes"]  # its tiers made canonical text by `_accept`
            assert text == (
                parsed["event_id"],
                parsed["agreement_id"],
                parsed["amendment_number"],
                parsed["effective_date"],
                change["action"],
                change["portfolio_id"],
                change["portfolio_name"],
                change["tiers"],
                parsed["occurred_at"][:-1] + "+00:00",
            )
    assert read_off_text == 3  # amendments 2, 3 and 7: one change that sets a schedule
    # A digit JSON does not know, an escape, a second change: not read off the text.
    data = encode(amendment(9, [set_schedule("p1", "0.50")]))["data"]
    for odd in (
        data.replace('"amendment_number":9', '"amendment_number":\u0669'),
        data.replace('"P1"', '"P\\u0031"'),
        data.replace("}]}", '},{"action":"remove","portfolio_id":"p2"}]}'),
    ):
        assert odd != data
        event_id = json.loads(data)["event_id"].encode()
        assert trusted._one_change(odd, event_id) is None

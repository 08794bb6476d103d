"""A rebuild folds every entry as the live projector does: its result equals the read model
followed entry by entry, and an entry that is malformed, or that the domain's rules reject, is
dead-lettered with its code and never folded."""

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
from services.adapters.readmodel import ReadModel

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


class Log:
    """Appends through the event store, as the recorder does."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.store = EventStore(client, keys)
        self.version = 0

    def append(self, message: Any) -> None:
        self.store.append(message, self.version)
        self.version += 1


def valid_log(client: redis.Redis, keys: Keys) -> Log:
    """Every kind of change, and a retraction."""
    log = Log(client, keys)
    log.append(AgreementRegistered(agreement_id="a1", trust="Trust One"))
    log.append(amendment(1, [set_schedule("p1", "0.50", "add"), set_schedule("p2", "0.60", "add")]))
    log.append(amendment(2, [set_schedule("p3", "0.70", "add")]))
    log.append(amendment(3, [set_schedule("p1", "0.55")]))
    log.append(amendment(4, [{"action": "rename", "portfolio_id": "p2", "new_name": "Pee Two"}]))
    waiver = {
        "action": "waiver",
        "portfolio_id": "p3",
        "portfolio_name": None,
        "tiers": tiers("0.65"),
        "period": {"from": "2002-01-01", "to": "2002-12-31"},
    }
    log.append(amendment(5, [waiver]))
    log.append(amendment(6, [{"action": "remove", "portfolio_id": "p3"}]))
    log.append(amendment(7, [set_schedule("p2", "0.61")]))
    log.append(AmendmentRetracted(agreement_id="a1", amendment_number=3, reason="in error"))
    log.append(amendment(8, [set_schedule("p1", "0.52"), set_schedule("p4", "0.80", "add")]))
    return log


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


def band_gap(d: dict[str, Any]) -> None:
    d["changes"][0]["tiers"][1]["from"] = "600000000"


def first_band_above_zero(d: dict[str, Any]) -> None:
    d["changes"][0]["tiers"][0]["from"] = "1"


# Well-formed messages whose schedules the domain refuses (`FeeSchedule`).
REJECTED = [band_gap, first_band_above_zero]


def hashes(client: redis.Redis, read_model: ReadModel) -> dict[str, str]:
    gen = read_model.current()
    assert gen is not None
    out = {}
    for part in PARTS:
        raw: Any = client.hgetall(read_model.gen_key(gen, part))
        out[part] = hashlib.sha256(repr(sorted(raw.items())).encode()).hexdigest()
    out["checkpoint"] = read_model.checkpoint(gen)
    return out


def dead_letters(client: redis.Redis, keys: Keys) -> dict[str, str]:
    """Entry id -> code of every dead letter, emptying the stream."""
    rows: Any = client.xrange(keys.dead_letters)
    client.delete(keys.dead_letters)
    letters = [json.loads(f[b"data"]) for _, f in rows]
    assert all(letter["consumer"] == "projector" for letter in letters)
    ids = [letter["entry_id"] for letter in letters]
    assert len(set(ids)) == len(ids)  # each written once
    return {letter["entry_id"]: letter["code"] for letter in letters}


def followed(client: redis.Redis, keys: Keys) -> tuple[dict[str, str], dict[str, str]]:
    """The read model as the projector builds it, a few entries at a time: (hashes, letters)."""
    read_model = ReadModel(client, keys)
    read_model.catch_up(page=3, on_poison=read_model.dead_letter)
    return hashes(client, read_model), dead_letters(client, keys)


def test_a_rebuild_equals_the_read_model_followed_entry_by_entry(
    redis_client: redis.Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    log = valid_log(redis_client, keys)
    # Portfolios in one amendment; a name claimed by two portfolios; retractions of amendments
    # spanning several portfolios; an id written with an escape.
    log.append(amendment(30, [set_schedule("p5", "0.75", "add"), set_schedule("p2", "0.62")]))
    log.append(amendment(31, [{"action": "rename", "portfolio_id": "p4", "new_name": "Shared"}]))
    log.append(amendment(32, [{"action": "rename", "portfolio_id": "p1", "new_name": "Shared"}]))
    log.append(AmendmentRetracted(agreement_id="a1", amendment_number=30, reason="wrong"))
    log.append(AmendmentRetracted(agreement_id="a1", amendment_number=31, reason="wrong"))
    log.append(amendment(33, [set_schedule("p4", "0.81"), set_schedule("p1", "0.51")]))
    escaped = encode(amendment(34, [set_schedule("p5", "0.77")]))
    escaped["data"] = escaped["data"].replace('"p5"', '"\\u00705"')
    redis_client.xadd(keys.agreements, escaped)  # type: ignore[arg-type]
    # A well-formed amendment in a key order of its own.
    sorted_keys = encode(amendment(60, [set_schedule("p6", "0.90", "add")]))
    sorted_keys["data"] = json.dumps(json.loads(sorted_keys["data"]), sort_keys=True)
    redis_client.xadd(keys.agreements, sorted_keys)  # type: ignore[arg-type]

    incremental, letters = followed(redis_client, keys)
    read_model = ReadModel(redis_client, keys)
    result = read_model.rebuild()

    assert result.events == redis_client.xlen(keys.agreements)
    assert hashes(redis_client, read_model) == incremental
    assert dead_letters(redis_client, keys) == letters == {}
    answer = read_model.answer_now("shared", date(2030, 1, 1))
    assert answer is not None and answer[0] == "p4"  # the later id wins the name
    answer = read_model.answer_now("p5", date(2030, 1, 1))
    assert answer is not None and answer[1]["tiers"][0]["rate_pct"] == "0.77"
    answer = read_model.answer_now("P6", date(2030, 1, 1))
    assert answer is not None and answer[1]["tiers"][0]["rate_pct"] == "0.90"


@pytest.mark.parametrize("mutate", MALFORMED + REJECTED, ids=lambda f: f.__name__)
def test_an_entry_that_cannot_be_folded_is_dead_lettered_and_never_folded(
    redis_client: redis.Redis, prefix: str, mutate: Callable[[dict[str, Any]], None]
) -> None:
    keys = Keys(prefix)
    log = valid_log(redis_client, keys)
    clean, _ = followed(redis_client, keys)
    entry = malformed(amendment(9, [set_schedule("p1", "0.50")]), mutate)
    bad_id = redis_client.xadd(keys.agreements, entry).decode()  # type: ignore[arg-type, union-attr]
    log.append(amendment(9, [set_schedule("p2", "0.66")]))
    code = "rejected_by_rules" if mutate in REJECTED else "invalid_event"

    incremental, letters = followed(redis_client, keys)
    assert letters == {bad_id: code}
    read_model = ReadModel(redis_client, keys)
    read_model.rebuild()
    assert hashes(redis_client, read_model) == incremental
    assert dead_letters(redis_client, keys) == letters
    found = read_model.lookup("p1")  # p1 is as it was before the bad entry
    assert found is not None and len(found.document["versions"]) == 3
    assert incremental["portfolios"] != clean["portfolios"]  # p2's amendment was folded


def test_a_rebuild_of_an_empty_log_is_an_empty_read_model(
    redis_client: redis.Redis, prefix: str
) -> None:
    read_model = ReadModel(redis_client, Keys(prefix))
    result = read_model.rebuild()
    assert result.events == 0 and read_model.current() == result.generation
    assert read_model.lookup("p1") is None


def test_a_parallel_rebuild_equals_the_single_process_rebuild(
    redis_client: redis.Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    log = valid_log(redis_client, keys)
    # Portfolios of both shares of 2 (p1-p3 hash to one, p4-p5 to the other) in one amendment;
    # a name claimed by portfolios of both; retractions of amendments spanning both.
    log.append(amendment(30, [set_schedule("p5", "0.75", "add"), set_schedule("p2", "0.62")]))
    log.append(amendment(31, [{"action": "rename", "portfolio_id": "p4", "new_name": "Shared"}]))
    log.append(amendment(32, [{"action": "rename", "portfolio_id": "p1", "new_name": "Shared"}]))
    log.append(AmendmentRetracted(agreement_id="a1", amendment_number=30, reason="wrong"))
    log.append(AmendmentRetracted(agreement_id="a1", amendment_number=31, reason="wrong"))
    log.append(amendment(33, [set_schedule("p4", "0.81"), set_schedule("p1", "0.51")]))
    for mutate in MALFORMED + REJECTED:  # unfoldable entries naming portfolios of both shares
        template = amendment(50, [set_schedule("p4", "0.50"), set_schedule("p1", "0.50")])
        redis_client.xadd(keys.agreements, malformed(template, mutate))  # type: ignore[arg-type]

    read_model = ReadModel(redis_client, keys)
    read_model.rebuild()
    single, letters = hashes(redis_client, read_model), dead_letters(redis_client, keys)
    assert len(letters) == len(MALFORMED + REJECTED)
    for workers in (2, 3):
        result = read_model.rebuild(workers=workers)
        assert result.events == redis_client.xlen(keys.agreements)
        assert hashes(redis_client, read_model) == single
        assert dead_letters(redis_client, keys) == letters  # each written once
    answer = read_model.answer_now("shared", date(2030, 1, 1))
    assert answer is not None and answer[0] == "p4"  # the later id wins, in either rebuild

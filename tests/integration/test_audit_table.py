"""Table-driven audit: 20 amendments recorded out of effective-date order, then every listed
(portfolio, date, as-known-at) answered by the replay and by the read model, which must agree.

The expected answers were worked out by hand from the recording table below; read a row as
"on DATE, as the log knew it after recording step K, PORTFOLIO paid RATE set by Amendment N".
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import redis

from contracts.messages import AgreementRegistered, AmendmentRecorded, AmendmentRetracted
from services.adapters.eventstore import EventStore
from services.adapters.keys import Keys
from services.adapters.readmodel import ReadModel
from services.app.audit import Source, schedule_on
from services.app.recording import Recorder
from services.domain.timeline import KnownAt

pytestmark = pytest.mark.integration

AGREEMENT = "trust-a"
T0 = datetime(2020, 1, 1, tzinfo=UTC)
NAMES = {
    "alpha": "Alpha Portfolio",
    "beta": "Beta Portfolio",
    "gamma": "Gamma Portfolio",
    "delta": "Delta Portfolio",
    "epsilon": "Epsilon Portfolio",
}


def flat(rate: str) -> list[dict[str, Any]]:
    return [{"from": "0", "to": None, "rate_pct": rate}]


B_TIERED = [
    {"from": "0", "to": "100000000", "rate_pct": "0.60"},
    {"from": "100000000", "to": None, "rate_pct": "0.55"},
]


def sets(action: str, pid: str, tiers: list[dict[str, Any]], name: str | None = None) -> Any:
    return {
        "action": action,
        "portfolio_id": pid,
        "portfolio_name": name or NAMES[pid],
        "tiers": tiers,
    }


FIRST = (("alpha", "0.50"), ("beta", "0.60"), ("gamma", "0.70"), ("delta", "0.80"))
# Recording order (step k is recorded on day k after T0). Effective dates jump backwards.
STEPS: list[tuple[int, str, list[Any]] | tuple[str, int]] = [
    (1, "2001-01-01", [sets("add", p, flat(r)) for p, r in FIRST]),
    (2, "2003-01-01", [sets("revise", "alpha", flat("0.45"))]),
    (3, "2002-01-01", [sets("revise", "alpha", flat("0.48"))]),  # retroactive
    (4, "2002-06-01", [sets("revise", "beta", B_TIERED)]),
    (5, "2004-01-01", [{"action": "rename", "portfolio_id": "gamma",
                        "new_name": "Gamma Prime Portfolio", "former_name": "Gamma Portfolio"}]),
    (6, "2004-01-01", [{"action": "remove", "portfolio_id": "delta"}]),
    (7, "2003-06-01", [{"action": "waiver", "portfolio_id": "alpha", "tiers": flat("0.30"),
                        "period": {"from": "2003-07-01", "to": "2003-12-31"}}]),
    (8, "2005-01-01", [sets("revise", "gamma", flat("0.65"), "Gamma Prime Portfolio")]),
    (9, "2001-06-01", [sets("revise", "beta", flat("0.58"))]),  # retroactive
    (10, "2005-01-01", [sets("revise", "alpha", flat("0.40"))]),
    (11, "2006-01-01", [sets("revise", "beta", flat("0.50"))]),
    (12, "2006-01-01", [sets("add", "epsilon", flat("1.00"))]),
    (13, "2002-03-01", [sets("revise", "gamma", flat("0.72"))]),  # retroactive
    (14, "2007-01-01", [sets("revise", "alpha", flat("0.35"))]),
    (15, "2007-01-01", [sets("revise", "epsilon", flat("0.95"))]),
    (16, "2008-01-01", [sets("revise", "beta", flat("0.45"))]),
    (17, "2006-06-01", [sets("revise", "gamma", flat("0.60"), "Gamma Prime Portfolio")]),
    (18, "2008-01-01", [sets("revise", "alpha", flat("0.33"))]),
    ("retract", 14),  # step 19
    (19, "2009-01-01", [sets("revise", "epsilon", flat("0.90"))]),  # step 20
    (20, "2004-06-01", [sets("revise", "alpha", flat("0.42"))]),  # step 21, retroactive
]  # fmt: skip

NOW = None
# (portfolio as asked, date, known after step K (None: now), expected schedule, amendment No.)
# Schedules: a flat rate, "0.60|100M|0.55" for two bands, "waiver 0.30", "removed", or None.
ROWS: list[tuple[str, str, int | None, str | None, int | None]] = [
    ("alpha", "2000-12-31", NOW, None, None),
    ("alpha", "2001-01-01", NOW, "0.50", 1),
    ("alpha", "2002-01-01", NOW, "0.48", 3),
    ("alpha", "2002-06-01", 2, "0.50", 1),  # No.3 not yet recorded
    ("alpha", "2002-06-01", 3, "0.48", 3),
    ("alpha", "2002-12-31", NOW, "0.48", 3),
    ("alpha", "2003-01-01", NOW, "0.45", 2),
    ("alpha", "2003-07-01", NOW, "waiver 0.30", 7),
    ("alpha", "2003-08-01", 6, "0.45", 2),  # the waiver came later
    ("alpha", "2003-12-31", NOW, "waiver 0.30", 7),
    ("alpha", "2004-01-01", NOW, "0.45", 2),
    ("alpha", "2004-07-01", 20, "0.45", 2),  # No.20 not yet recorded
    ("alpha", "2004-07-01", NOW, "0.42", 20),
    ("alpha", "2005-01-01", NOW, "0.40", 10),
    ("alpha", "2007-06-01", 14, "0.35", 14),
    ("alpha", "2007-06-01", 18, "0.35", 14),  # retraction not yet recorded
    ("alpha", "2007-06-01", NOW, "0.40", 10),  # No.14 retracted
    ("Alpha Portfolio", "2008-01-01", NOW, "0.33", 18),
    ("beta", "2001-07-01", 8, "0.60", 1),
    ("beta", "2001-07-01", NOW, "0.58", 9),
    ("beta", "2002-06-01", NOW, "0.60|100M|0.55", 4),
    ("beta", "2006-01-01", NOW, "0.50", 11),
    ("beta", "2009-01-01", NOW, "0.45", 16),
    ("gamma", "2002-02-28", NOW, "0.70", 1),
    ("gamma", "2002-03-01", 12, "0.70", 1),
    ("gamma", "2002-03-01", NOW, "0.72", 13),
    ("Gamma Prime Portfolio", "2004-06-01", NOW, "0.72", 13),  # renamed; fee unchanged
    ("gamma portfolio", "2005-06-01", NOW, "0.65", 8),  # former name, any case
    ("gamma", "2006-06-01", NOW, "0.60", 17),
    ("delta", "2003-12-31", NOW, "0.80", 1),
    ("delta", "2004-01-01", 5, "0.80", 1),
    ("delta", "2004-01-01", NOW, "removed", 6),
    ("epsilon", "2005-12-31", NOW, None, None),
    ("epsilon", "2006-01-01", NOW, "1.00", 12),
    ("epsilon", "2010-01-01", 19, "0.95", 15),
    ("epsilon", "2010-01-01", NOW, "0.90", 19),
]


def shown(answer: dict[str, Any]) -> str | None:
    if answer["removed"]:
        return "removed"
    tiers = answer["tiers"]
    if tiers is None:
        return None
    text = "|".join(
        t["rate_pct"] if t["to"] is None else f"{t['rate_pct']}|{int(t['to']) // 1_000_000}M"
        for t in tiers
    )
    return f"waiver {text}" if answer["set_by"]["waiver"] else text


@pytest.fixture
def recorded(prefix: str, redis_client: redis.Redis) -> list[str]:
    """Record the table (the read model following along); returns each step's log position."""
    keys = Keys(prefix)
    recorder = Recorder(EventStore(redis_client, keys))
    read_model = ReadModel(redis_client, keys)
    recorder.record(
        AgreementRegistered(agreement_id=AGREEMENT, agreement_date=date(2000, 1, 1), occurred_at=T0)
    )
    positions: list[str] = []
    for step, row in enumerate(STEPS, start=1):
        at = T0 + timedelta(days=step)
        if row[0] == "retract":
            command: Any = AmendmentRetracted(
                agreement_id=AGREEMENT, amendment_number=row[1], reason="recorded in error",
                occurred_at=at,
            )  # fmt: skip
        else:
            number, effective, changes = row  # type: ignore[misc]
            command = AmendmentRecorded.model_validate(
                {
                    "agreement_id": AGREEMENT,
                    "amendment_number": number,
                    "effective_date": effective,
                    "changes": changes,
                    "occurred_at": at,
                }
            )
        positions.append(recorder.record(command).entry_id)
        read_model.catch_up()  # as the projector would, one delivery at a time
    return positions


def known(step: int | None, positions: list[str], by_position: bool) -> KnownAt:
    if step is None:
        return None
    if by_position:
        return positions[step - 1]
    return T0 + timedelta(days=step, hours=12)


@pytest.mark.parametrize("by_position", [False, True], ids=["as-known-at", "at-position"])
def test_every_row_from_replay_and_read_model(
    by_position: bool, recorded: list[str], prefix: str, redis_client: redis.Redis
) -> None:
    keys = Keys(prefix)
    assert len([s for s in STEPS if s[0] != "retract"]) == 20
    failures = []
    for portfolio, day, step, expected, number in ROWS:
        known_at = known(step, recorded, by_position)
        on = date.fromisoformat(day)
        log, read_model = EventStore(redis_client, keys), ReadModel(redis_client, keys)
        answers = [
            schedule_on(Source(source, log, read_model), portfolio, on, known_at)
            for source in ("replay", "read-model")
        ]
        replay, model = answers
        got = (shown(replay), replay["set_by"] and replay["set_by"]["amendment_number"])
        if got != (expected, number):
            failures.append(
                f"{portfolio} on {day} after step {step}: {got} != {(expected, number)}"
            )
        replay.pop("source"), model.pop("source")
        if replay != model:
            failures.append(f"{portfolio} on {day}: replay {replay} != read model {model}")
    assert not failures, "\n".join(failures)


def test_a_rebuilt_read_model_equals_the_followed_one(
    recorded: list[str], prefix: str, redis_client: redis.Redis
) -> None:
    read_model = ReadModel(redis_client, Keys(prefix))
    before = read_model.current()
    assert before is not None
    followed = redis_client.hgetall(read_model.gen_key(before, "portfolios"))
    result = read_model.rebuild()
    assert result.previous == before and result.events == len(STEPS) + 1
    rebuilt = redis_client.hgetall(read_model.gen_key(result.generation, "portfolios"))
    assert rebuilt == followed and len(rebuilt) == 5
    assert not redis_client.exists(read_model.gen_key(before, "portfolios"))  # old one dropped

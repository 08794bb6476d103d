"""The projector's use cases (`services.app.projection`) on the in-memory ports, no Redis:
redelivery changes nothing, a writer that lost a race folds again on the new checkpoint, late
knowledge (a retroactive amendment) changes the answers as known now and not as known before,
and what the domain refuses is dead-lettered, never folded."""

from __future__ import annotations

from datetime import date
from typing import Any

from log_port_cases import AID, amendment

from contracts.messages import AgreementRegistered
from contracts.wire import encode
from services.adapters.memory import InMemoryEventLog, InMemoryReadModel
from services.app import projection
from services.domain.book import ScheduleBook


def seeded() -> tuple[InMemoryEventLog, InMemoryReadModel, list[str]]:
    log = InMemoryEventLog()
    ids = [
        log.append(AgreementRegistered(agreement_id=AID), 0).entry_id,
        log.append(amendment(1, "p1", "0.50", "add"), 1).entry_id,
    ]
    return log, InMemoryReadModel(log), ids


def rate(store: InMemoryReadModel, on: date) -> str | None:
    found = store.answer_now("p1", on)
    assert found is not None
    tiers = found[1]["tiers"]
    return None if tiers is None else str(tiers[0]["rate_pct"])


def test_a_redelivered_entry_changes_nothing() -> None:
    log, store, ids = seeded()
    assert projection.catch_up(log, store, ids[-1]) == 2
    held = dict(store.generations[store.ensure_current()].parts["portfolios"])
    assert projection.catch_up(log, store, ids[-1]) == 0
    assert projection.catch_up(log, store, ids[0]) == 0
    assert store.generations[store.ensure_current()].parts["portfolios"] == held


class RacedOnce(InMemoryReadModel):
    """A read model another projector writes to between this one's load and save, once."""

    raced = False

    def save(
        self, generation: str, expected: str, checkpoint: str, book: ScheduleBook, **kw: Any
    ) -> bool:
        if not self.raced:
            self.raced = True
            rival = InMemoryReadModel(self.log)
            rival.generations, rival.pointer = self.generations, self.pointer
            projection.catch_up(self.log, rival, page=1)
        return super().save(generation, expected, checkpoint, book, **kw)


def test_a_writer_that_lost_the_race_folds_again_from_the_new_checkpoint() -> None:
    log, _, _ = seeded()
    log.append(amendment(2, "p1", "0.40", effective=date(2020, 6, 1)), 2)
    store = RacedOnce(log)
    assert projection.catch_up(log, store, page=10) == 0  # the rival folded everything
    gen = store.ensure_current()
    assert store.raced and store.checkpoint(gen) == log.last_id()
    assert rate(store, date(2020, 7, 1)) == "0.40"
    versions = store.lookup("p1")
    assert versions is not None and len(versions.timeline.versions) == 2  # folded once


def test_late_knowledge_changes_the_answer_now_not_what_was_known_before() -> None:
    log, store, ids = seeded()
    projection.catch_up(log, store)
    before = ids[-1]
    # Recorded later, effective earlier: the schedule of 2020-03-01 was 0.45 all along.
    log.append(amendment(2, "p1", "0.45", effective=date(2020, 3, 1)), 2)
    projection.catch_up(log, store)
    assert rate(store, date(2020, 2, 1)) == "0.50"
    assert rate(store, date(2020, 3, 1)) == "0.45"
    found = store.lookup("p1")
    assert found is not None
    then = found.timeline.schedule_on(date(2020, 3, 1), known_at=before)
    assert then.schedule is not None and str(then.schedule.tiers[0].rate_pct) == "0.50"


def test_what_the_domain_refuses_is_dead_lettered_and_never_folded() -> None:
    log, store, _ = seeded()
    gap = encode(amendment(2, "p1", "0.40"))
    gap["data"] = gap["data"].replace('{"from":"0"', '{"from":"5"')  # first band not from 0
    log._entries.append(("3-0", {k.encode(): v.encode() for k, v in gap.items()}))
    letters: list[tuple[str, str]] = []
    projection.catch_up(log, store, on_poison=lambda i, f, r, code: letters.append((i, code)))
    assert letters == [("3-0", "rejected_by_rules")]
    assert rate(store, date(2020, 3, 1)) == "0.50"
    assert store.checkpoint(store.ensure_current()) == "3-0"

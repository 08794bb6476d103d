"""What every `EventLog` and every `ReadModelStore` must do, as reusable test cases.

A subclass makes the ports (`create_ports`: a log, and a read model over it);
tests/unit/test_memory_ports.py runs these against the in-memory twins and
tests/integration/test_redis_ports.py against Redis, so the two cannot drift. The read-model
cases go through the projector's use cases (`services.app.projection`), as the service does.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import date
from typing import Any

import pytest

from contracts.messages import AgreementRegistered, AmendmentRecorded, AmendmentRetracted
from contracts.wire import encode
from services.app import projection
from services.app.ports import EventLog, ReadModelStore, VersionConflict

AID = "a1"


def amendment(number: int, pid: str, rate: str, action: str = "revise", **extra: Any) -> Any:
    change = {
        "action": action,
        "portfolio_id": pid,
        "portfolio_name": extra.pop("name", f"Fund {pid.upper()}"),
        "tiers": [{"from": "0", "to": None, "rate_pct": rate}],
    }
    return AmendmentRecorded.model_validate(
        {
            "agreement_id": AID,
            "amendment_number": number,
            "effective_date": extra.pop("effective", date(2020, number, 1)),
            "changes": [change],
        }
    )


class EventLogCases(ABC):
    @abstractmethod
    def create_ports(self) -> tuple[EventLog, ReadModelStore]: ...

    def append_raw(self, fields: dict[str, str]) -> str:
        """An entry written past the guarded append (a bad client); its entry id."""
        raise NotImplementedError

    @pytest.fixture(autouse=True)
    def _ports(self) -> None:
        self.log, self.store = self.create_ports()

    def record(self, *messages: Any) -> list[str]:
        ids = []
        for message in messages:
            version = len(self.log.events_of(message.agreement_id))
            ids.append(self.log.append(message, version).entry_id)
        return ids

    def test_append_checks_the_expected_version(self) -> None:
        first = self.log.append(AgreementRegistered(agreement_id=AID), 0)
        assert (first.version, first.duplicate) == (1, False)
        with pytest.raises(VersionConflict) as clash:
            self.log.append(amendment(1, "p1", "0.50", "add"), 0)
        assert (clash.value.expected, clash.value.actual) == (0, 1)
        assert self.log.append(amendment(1, "p1", "0.50", "add"), 1).version == 2

    def test_a_key_seen_before_appends_nothing_and_names_its_entry(self) -> None:
        first = self.log.append(AgreementRegistered(agreement_id=AID), 0, "k1")
        again = self.log.append(AgreementRegistered(agreement_id=AID), 5, "k1")
        assert (again.entry_id, again.version, again.duplicate) == (first.entry_id, 1, True)
        assert self.log.recorded("k1") == first.entry_id and self.log.recorded("k2") is None
        assert self.log.duplicate_of("k1", AID) == again
        assert len(self.log.entries(None, "+", 10)) == 1

    def test_events_of_one_agreement_after_a_version_and_entries_in_log_order(self) -> None:
        ids = self.record(
            AgreementRegistered(agreement_id=AID),
            AgreementRegistered(agreement_id="b2"),
            amendment(1, "p1", "0.50", "add"),
        )
        assert [p for p, _ in self.log.events_of(AID)] == [ids[0], ids[2]]
        assert [p for p, _ in self.log.events_of(AID, after=1)] == [ids[2]]
        assert [i for i, _ in self.log.entries(None, "+", 2)] == ids[:2]
        assert [i for i, _ in self.log.entries(ids[0], ids[1], 10)] == [ids[1]]
        assert self.log.last_id() == ids[-1]


class ReadModelStoreCases(EventLogCases):
    def seed(self) -> list[str]:
        return self.record(
            AgreementRegistered(agreement_id=AID),
            amendment(1, "p1", "0.50", "add"),
            amendment(2, "p2", "0.60", "add"),
            amendment(3, "p1", "0.45", name="Fund One"),
        )

    def answer(self, name_or_id: str, on: date) -> tuple[str, str | None]:
        found = self.store.answer_now(name_or_id, on)
        assert found is not None, name_or_id
        pid, answer = found
        return pid, None if answer["tiers"] is None else answer["tiers"][0]["rate_pct"]

    def test_catch_up_folds_the_log_and_answers_by_any_name(self) -> None:
        ids = self.seed()
        assert projection.catch_up(self.log, self.store, page=2) == 4
        gen = self.store.current()
        assert gen is not None and self.store.checkpoint(gen) == ids[-1]
        assert self.answer("p1", date(2020, 2, 15)) == ("p1", "0.50")
        assert self.answer("fund one", date(2020, 3, 1)) == ("p1", "0.45")
        assert self.answer("Fund P1", date(2019, 1, 1)) == ("p1", None)
        assert self.store.answer_now("nobody", date(2020, 3, 1)) is None
        found = self.store.lookup("FUND  P2")
        assert found is not None and found.portfolio_id == "p2" and found.checkpoint == ids[-1]
        assert found.timeline.schedule_on(date(2020, 3, 1)).schedule is not None
        assert projection.catch_up(self.log, self.store) == 0  # nothing new: nothing changes

    def test_a_retraction_withdraws_only_its_amendment(self) -> None:
        self.seed()
        projection.catch_up(self.log, self.store)
        self.record(AmendmentRetracted(agreement_id=AID, amendment_number=3, reason="typo"))
        assert projection.catch_up(self.log, self.store) == 1
        assert self.answer("p1", date(2020, 3, 1)) == ("p1", "0.50")
        assert self.answer("p2", date(2020, 3, 1)) == ("p2", "0.60")

    def test_a_save_on_a_moved_checkpoint_writes_nothing(self) -> None:
        self.seed()
        gen = self.store.ensure_current()
        book = self.store.load(gen, [])
        assert self.store.save(gen, "", "9-0", book, require_current=True)
        assert not self.store.save(gen, "", "10-0", book, require_current=True)
        assert self.store.checkpoint(gen) == "9-0"

    def test_a_rebuild_equals_the_followed_model_and_swaps_it_in(self) -> None:
        self.seed()
        projection.catch_up(self.log, self.store, page=1)
        followed = self.store.current()
        self.record(AmendmentRetracted(agreement_id=AID, amendment_number=2, reason="typo"))
        projection.catch_up(self.log, self.store, page=1)
        before = {pid: self.store.lookup(pid) for pid in ("p1", "p2")}
        result = projection.rebuild(self.log, self.store)
        assert (result.previous, result.events) == (followed, 5)
        assert self.store.current() == result.generation != followed
        for pid, old in before.items():
            new = self.store.lookup(pid)
            assert old is not None and new is not None and new.document == old.document
        assert self.answer("p2", date(2020, 3, 1)) == ("p2", None)

    def test_an_unreadable_entry_is_dead_lettered_and_passed(self) -> None:
        self.seed()
        bad = encode(amendment(4, "p1", "0.40"))
        bad["data"] = bad["data"].replace('"0.40"', "0.40")  # a JSON number, not a string
        bad_id = self.append_raw(bad)
        letters: list[tuple[str, str]] = []
        projection.catch_up(
            self.log, self.store, on_poison=lambda i, f, why, code: letters.append((i, code))
        )
        assert letters == [(bad_id, "invalid_event")]
        gen = self.store.current()
        assert gen is not None and self.store.checkpoint(gen) == bad_id
        assert self.answer("p1", date(2020, 5, 1)) == ("p1", "0.45")

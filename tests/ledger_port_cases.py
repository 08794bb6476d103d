"""The storage invariants every `LedgerStore` keeps, as one reusable test case.

A subclass makes the store (`create_store`) and says how to deliver input entries and how to
see what the port itself does not show: the output streams and the entries still pending.
tests/unit/test_memory_ledger.py runs these against the in-memory twin, and
tests/integration/test_redis_ledger.py against Redis (settle.lua), so the two cannot drift.
"""

from __future__ import annotations

import asyncio
import json
from abc import ABC, abstractmethod
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Literal

from contracts.messages import NetAssetsReported
from services.app.ledger import LedgerStore
from services.app.operations import (
    Accrue,
    Ack,
    CloseMonth,
    DropInvoice,
    Emit,
    ExpectEntry,
    ExpectLength,
    HoldInvoice,
    Op,
    Park,
    Revise,
    Unpark,
    invoice_field,
    unpriced_field,
)

Stream = Literal["accruals", "report_outcomes", "dead_letters", "invoice_outcomes"]
D1, D2 = "2024-01-02", "2024-01-03"
FRI, SAT, SUN, MON = "2024-01-05", "2024-01-06", "2024-01-07", "2024-01-08"


def report(as_of: str = D1, revision: int = 0, portfolio_id: str = "P1") -> NetAssetsReported:
    """The same report (to the byte, as parked) for the same arguments."""
    return NetAssetsReported(
        event_id=f"e-{portfolio_id}-{as_of}-{revision}",
        occurred_at=datetime(2024, 1, 4, tzinfo=UTC),
        report_id=f"r{revision}",
        portfolio_id=portfolio_id,
        as_of=date.fromisoformat(as_of),
        net_assets=Decimal("600000000"),
        revision=revision,
    )


def event(kind: str, event_id: str) -> dict[str, str]:
    data = json.dumps({"type": kind, "event_id": event_id})
    return {"type": kind, "event_id": event_id, "schema_version": "1", "data": data}


def accrue(
    as_of: str, ledger: str, ack: str | None, *, unpriced: tuple[str, str] | None = None
) -> Accrue:
    fee = event("FeeAccrued", f"acc-{as_of}-{ledger}")
    return Accrue("P1", as_of, ledger, report(as_of), fee, ack, unpriced)


def revise(as_of: str, expected: str, ledger: str, ack: str | None = None) -> Revise:
    return Revise("P1", as_of, expected, ledger, event("FeeAdjusted", f"adj-{ledger}"), ack)


def park(as_of: str, revision: int, ack: str | None, expected: str | None = None) -> Park:
    held = event("ReportHeld", f"held-{as_of}-{revision}")
    return Park("P1", as_of, report(as_of, revision), held, ack, expected)


def dead_letter(ack: str) -> Emit:
    return Emit("dead_letters", event("DeadLetter", f"dead-{ack}"), ack)


class LedgerStoreCases(ABC):
    """Every test starts from an empty store."""

    @abstractmethod
    def create_store(self) -> LedgerStore: ...

    @abstractmethod
    def create_partitions(self, count: int) -> list[LedgerStore]:
        """The stores of `count` partitions, each reading the others' ledgers elsewhere."""

    @abstractmethod
    async def deliver(self, count: int) -> list[str]:
        """Ids of `count` new input entries, delivered to a consumer (so pending)."""

    @abstractmethod
    async def pending(self) -> set[str]:
        """The input entries delivered and not yet acknowledged."""

    @abstractmethod
    async def events(self, stream: Stream) -> list[tuple[str, str]]:
        """(type, event_id) of each entry of an output stream, in order."""

    async def _ledger(self, store: LedgerStore, pid: str = "P1") -> dict[str, str]:
        return (await store.read_ledgers([pid]))[pid]

    async def test_the_lease_is_held_by_one_worker_until_dropped_or_lapsed(self) -> None:
        store = self.create_store()
        assert await store.take_lease("w1", 60_000)
        assert not await store.take_lease("w2", 60_000)
        assert await store.take_lease("w1", 60_000)  # its own: extended
        await store.drop_lease("w2")  # not w2's to drop
        assert not await store.take_lease("w2", 60_000)
        await store.drop_lease("w1")
        assert await store.take_lease("w2", 50)
        await asyncio.sleep(0.12)
        assert await store.take_lease("w1", 60_000)  # w2's lapsed

    async def test_a_stale_checkpoint_writes_nothing(self) -> None:
        store = self.create_store()
        (entry,) = await self.deliver(1)
        assert await store.checkpoint() == ""
        stale = await store.settle([accrue(D1, "one", entry)], "5-0", "6-0")
        assert (stale.status, stale.detail) == ("stale", "")
        assert await self._ledger(store) == {}
        assert await self.events("accruals") == []
        assert await self.pending() == {entry}
        assert await store.checkpoint() == ""

        moved = await store.settle([], "", "5-0")
        assert moved.status == "ok" and await store.checkpoint() == "5-0"
        again = await store.settle([accrue(D1, "one", entry)], "")
        assert (again.status, again.detail) == ("stale", "5-0")
        assert await self._ledger(store) == {}

    async def test_an_accrual_is_written_only_if_its_date_has_none(self) -> None:
        store = self.create_store()
        first, second = await self.deliver(2)
        result = await store.settle([accrue(D1, "one", first)], "")
        assert (result.status, result.conflicts) == ("ok", [])
        assert await self._ledger(store) == {D1: "one"}
        assert await self.events("accruals") == [("FeeAccrued", f"acc-{D1}-one")]
        assert await self.pending() == {second}

        late = accrue(D1, "two", second)
        result = await store.settle([late, accrue(D2, "three", None)], "")
        # Left for the pricer to judge: what the date already holds, and the entry still pending.
        assert (result.status, result.conflicts) == ("ok", [(late, "ledger", "one")])
        assert await self._ledger(store) == {D1: "one", D2: "three"}
        assert [e for _, e in await self.events("accruals")] == [f"acc-{D1}-one", f"acc-{D2}-three"]
        assert await self.pending() == {second}

    async def test_an_accrual_whose_period_reaches_a_covered_day_is_not_written(self) -> None:
        store = self.create_store()
        first, second, third = await self.deliver(3)
        # A Friday covering its weekend; then a Sunday report, and a Monday one.
        friday = replace(accrue(FRI, "fri", first), covers=(FRI, SAT, SUN))
        assert (await store.settle([friday], "")).conflicts == []
        sunday = replace(accrue(SUN, "sun", second), covers=(SUN,))
        monday = replace(accrue(MON, "mon", third), covers=(MON,))
        result = await store.settle([sunday, monday], "")
        # Left for the pricer: the entry of the accrual that holds the day.
        assert (result.status, result.conflicts) == ("ok", [(sunday, "coverage", "fri")])
        assert await self._ledger(store) == {FRI: "fri", MON: "mon"}
        assert await self.pending() == {second}

    async def test_a_revised_period_claims_its_new_days_and_gives_back_the_rest(self) -> None:
        store = self.create_store()
        (entry,) = await self.deliver(1)
        friday = replace(accrue(FRI, "fri", None), covers=(FRI, SAT, SUN))
        await store.settle([friday], "")
        shorter = replace(revise(FRI, "fri", "fri-1"), covers=(FRI,), releases=(SAT, SUN))
        assert (await store.settle([shorter], "")).conflicts == []
        # Saturday is free again; a period reaching back onto Friday is not.
        saturday = replace(accrue(SAT, "sat", None), covers=(SAT, SUN))
        assert (await store.settle([saturday], "")).conflicts == []
        longer = replace(revise(FRI, "fri-1", "fri-2", entry), covers=(FRI, SAT))
        result = await store.settle([longer], "")
        assert result.conflicts == [(longer, "coverage", "sat")]
        assert await self._ledger(store) == {FRI: "fri-1", SAT: "sat"}
        assert await self.pending() == {entry}

    async def test_a_revision_is_compare_and_set_and_a_failed_one_writes_nothing(self) -> None:
        store = self.create_store()
        (entry,) = await self.deliver(1)
        await store.settle([accrue(D1, "one", None)], "")

        result = await store.settle([revise(D1, "one", "two")], "")
        assert result.status == "ok"
        assert await self._ledger(store) == {D1: "two"}
        assert (await self.events("accruals"))[-1] == ("FeeAdjusted", "adj-two")

        # Planned on "one", but the entry is "two" now: the whole step is refused.
        stale_plan: list[Op] = [accrue(D2, "new", entry), revise(D1, "one", "three", entry)]
        result = await store.settle(stale_plan, "", "9-0")
        assert result.status == "conflict"
        assert await self._ledger(store) == {D1: "two"}
        assert len(await self.events("accruals")) == 2
        assert await self.pending() == {entry}
        assert await store.checkpoint() == ""

    async def test_a_park_is_written_if_absent_and_replaced_only_by_compare_and_set(self) -> None:
        store = self.create_store()
        a, b, c = await self.deliver(3)
        name = unpriced_field("P1", D1)
        assert (await store.settle([park(D1, 1, a)], "")).status == "ok"
        parked = report(D1, 1).model_dump_json()
        assert await store.read_unpriced() == {name: parked}
        assert await self.events("report_outcomes") == [("ReportHeld", f"held-{D1}-1")]

        other = park(D1, 2, b)  # planned as if nothing were parked
        result = await store.settle([other], "")
        assert result.conflicts == [(other, "unpriced", parked)]
        assert await self.pending() == {b, c}

        result = await store.settle([park(D1, 2, c, expected=parked)], "")
        assert (result.status, result.conflicts) == ("ok", [])
        assert await store.read_unpriced() == {name: report(D1, 2).model_dump_json()}
        assert await self.pending() == {b}
        assert len(await self.events("report_outcomes")) == 2

    async def test_a_park_of_an_accrued_date_is_left_to_the_pricer(self) -> None:
        store = self.create_store()
        (entry,) = await self.deliver(1)
        await store.settle([accrue(D1, "one", None)], "")
        late = park(D1, 3, entry)
        result = await store.settle([late], "")
        assert result.conflicts == [(late, "ledger", "one")]
        assert await store.read_unpriced() == {}
        assert await self.events("report_outcomes") == []
        assert await self.pending() == {entry}

    async def test_an_accrual_of_a_parked_report_drops_it_only_if_it_is_still_that_one(
        self,
    ) -> None:
        store = self.create_store()
        name = unpriced_field("P1", D1)
        await store.settle([park(D1, 1, None), park(D2, 1, None)], "")
        parked = report(D1, 1).model_dump_json()
        result = await store.settle(
            [
                accrue(D1, "one", None, unpriced=(name, parked)),
                accrue(D2, "two", None, unpriced=(unpriced_field("P1", D2), "something else")),
            ],
            "",
        )
        assert result.status == "ok"
        assert await self._ledger(store) == {D1: "one", D2: "two"}
        assert await store.read_unpriced() == {
            unpriced_field("P1", D2): report(D2, 1).model_dump_json()
        }

    async def test_an_entrys_outcome_is_written_by_the_step_that_acknowledges_it(self) -> None:
        store = self.create_store()
        letter, held = await self.deliver(2)
        for _ in range(2):  # as when two workers settle one claimed entry
            result = await store.settle([dead_letter(letter)], "")
            assert (result.status, result.conflicts) == ("ok", [])
        assert await self.events("dead_letters") == [("DeadLetter", f"dead-{letter}")]

        await store.settle([park(D1, 1, held)], "")
        again = park(D1, 1, held, expected=report(D1, 1).model_dump_json())
        assert (await store.settle([again], "")).conflicts == []
        assert len(await self.events("report_outcomes")) == 1
        assert await self.pending() == set()

    async def test_an_unpark_drops_only_the_report_expected(self) -> None:
        store = self.create_store()
        await store.settle([park(D1, 1, None), park(D2, 1, None)], "")
        d1, d2 = unpriced_field("P1", D1), unpriced_field("P1", D2)
        unparks = [Unpark(d1, report(D1, 1).model_dump_json()), Unpark(d2, "not it")]
        assert (await store.settle(unparks, "")).status == "ok"
        assert set(await store.read_unpriced()) == {d2}

    async def test_an_ack_takes_an_entry_out_of_the_pending_set_and_writes_nothing(self) -> None:
        store = self.create_store()
        gone, kept = await self.deliver(2)
        assert (await store.settle([Ack(gone)], "")).status == "ok"
        assert await self.pending() == {kept}
        for stream in ("accruals", "report_outcomes", "dead_letters"):
            assert await self.events(stream) == []

    async def test_a_length_precondition_guards_the_whole_step(self) -> None:
        store = self.create_store()
        (entry,) = await self.deliver(1)
        await store.settle([accrue(D1, "one", None), park(D2, 1, None)], "")
        ok = [ExpectLength("P1", 1), ExpectLength(None, 1), ExpectLength("P2", 0)]
        assert (await store.settle(ok, "")).status == "ok"

        for wrong in (ExpectLength("P1", 0), ExpectLength(None, 0)):
            result = await store.settle([wrong, dead_letter(entry)], "", "7-0")
            assert result.status == "conflict"
        assert await self.events("dead_letters") == []
        assert await self.pending() == {entry}
        assert await store.checkpoint() == ""

    async def test_an_entry_precondition_guards_the_whole_step(self) -> None:
        store = self.create_store()
        (entry,) = await self.deliver(1)
        await store.settle([accrue(D1, "one", None)], "")
        ok = [
            ExpectEntry("P1", D1, "one"),
            ExpectEntry("P1", D2, None),
            ExpectEntry("P2", D1, None),
        ]
        assert (await store.settle(ok, "")).status == "ok"

        for wrong in (ExpectEntry("P1", D1, "two"), ExpectEntry("P1", D1, None)):
            result = await store.settle([wrong, dead_letter(entry)], "", "7-0")
            assert result.status == "conflict"
        assert await self.events("dead_letters") == []
        assert await self.pending() == {entry}
        assert await store.checkpoint() == ""

    async def test_a_revision_without_an_event_rewrites_the_entry_and_emits_nothing(self) -> None:
        store = self.create_store()
        (entry,) = await self.deliver(1)
        await store.settle([accrue(D1, "one", None)], "")
        quiet = Revise("P1", D1, "one", "two", {}, entry)
        assert (await store.settle([quiet], "")).status == "ok"
        assert await self._ledger(store) == {D1: "two"}
        assert await self.events("accruals") == [("FeeAccrued", "acc-2024-01-02-one")]
        assert await self.pending() == set()

    async def test_the_days_covered_are_each_accruals_date_and_the_rest_of_its_period(
        self,
    ) -> None:
        store = self.create_store()
        weekend = replace(accrue(FRI, "fri", None), covers=(FRI, SAT, SUN))
        other = Accrue(
            "P2", D1, "p2", report(D1, portfolio_id="P2"), event("FeeAccrued", "p2"), None
        )
        await store.settle([weekend, other, accrue(D1, "d1", None)], "")
        assert await store.covered_days() == {"P1": {D1, FRI, SAT, SUN}, "P2": {D1}}

    async def test_a_month_is_closed_once_and_a_second_close_writes_nothing(self) -> None:
        store = self.create_store()
        events = (event("FeeTrueUp", "t-1"), event("PeriodClosed", "c-1"))
        close = CloseMonth("P1", "2024-01", "P1:2024-01", events)
        assert (await store.settle([close], "")).status == "ok"
        assert await self.events("accruals") == [("FeeTrueUp", "t-1"), ("PeriodClosed", "c-1")]
        assert await store.closed_months("P1") == {"2024-01": "P1:2024-01"}  # its record
        assert await store.closed_months("P2") == {}
        again = CloseMonth("P1", "2024-01", "P1:2024-01", (event("FeeTrueUp", "t-2"),))
        result = await store.settle([again, accrue(D1, "one", None)], "")
        assert result.status == "conflict"
        assert len(await self.events("accruals")) == 2
        assert await self._ledger(store) == {}

    async def test_a_portfolios_closed_months_are_its_own_whatever_the_ids_hold(self) -> None:
        """An id may hold '|', which joins a closed month's name: "P1|B"'s months are not P1's."""
        store = self.create_store()
        for pid, month in (("P1", "2024-01"), ("P1|B", "2024-02"), ("P1|2024-03", "2024-04")):
            events = (event("PeriodClosed", f"c-{pid}"),)
            close = CloseMonth(pid, month, f"{pid}:{month}", events)
            assert (await store.settle([close], "")).status == "ok"
        assert await store.closed_months("P1") == {"2024-01": "P1:2024-01"}
        assert await store.closed_months("P1|B") == {"2024-02": "P1|B:2024-02"}
        assert await store.closed_periods() == {
            "P1": {"2024-01"},
            "P1|B": {"2024-02"},
            "P1|2024-03": {"2024-04"},
        }

    async def test_a_step_closes_a_month_and_goes_on_with_the_operations_after_it(self) -> None:
        store = self.create_store()
        [ack] = await self.deliver(1)
        events = (event("FeeTrueUp", "t-1"), event("PeriodClosed", "c-1"))
        close = CloseMonth("P1", "2023-12", "P1:2023-12", events)
        result = await store.settle([close, accrue(D1, "one", ack), Ack(None)], "")
        assert (result.status, result.conflicts) == ("ok", [])
        kinds = [kind for kind, _ in await self.events("accruals")]
        assert kinds == ["FeeTrueUp", "PeriodClosed", "FeeAccrued"]
        assert await self._ledger(store) == {D1: "one"}
        assert await self.pending() == set()

    async def test_an_invoice_waits_for_its_month_acknowledged_and_is_let_go_after(
        self,
    ) -> None:
        store = self.create_store()
        (entry,) = await self.deliver(1)
        hold = HoldInvoice("P1|2024-01|inv-1", '{"invoice_id":"inv-1"}', entry, "P1|2024-01")
        assert (await store.settle([hold], "")).status == "ok"
        assert await store.waiting_invoices("P1", "2024-01") == {
            "P1|2024-01|inv-1": '{"invoice_id":"inv-1"}'
        }
        assert await store.waiting_invoices("P1", "2024-02") == {}
        assert await self.pending() == set()
        # Names are opaque to the store: it finds each by the start the month's names share,
        # today's (invoice_field) and those kept before (as "P1|2024-01|inv-1").
        today = HoldInvoice(invoice_field("P1", "2024-01", "inv-3"), "{}", None, "P1|2024-01")
        assert (await store.settle([today], "")).status == "ok"
        assert set(await store.waiting_invoices("P1", "2024-01")) == {
            "P1|2024-01|inv-1",
            invoice_field("P1", "2024-01", "inv-3"),
        }
        await store.settle([DropInvoice(invoice_field("P1", "2024-01", "inv-3"))], "")
        # Settled again (a redelivery), it keeps nothing more: the entry is acknowledged.
        await store.settle([HoldInvoice("P1|2024-01|inv-1", "other", entry, "P1|2024-01")], "")
        assert (await store.waiting_invoices("P1", "2024-01"))["P1|2024-01|inv-1"] != "other"
        matched = Emit("invoice_outcomes", event("InvoiceMatched", "m-1"), None)
        await store.settle([matched, DropInvoice("P1|2024-01|inv-1")], "")
        assert await store.waiting_invoices("P1", "2024-01") == {}
        assert await self.events("invoice_outcomes") == [("InvoiceMatched", "m-1")]
        # Once the month is closed, keeping an invoice for it fails the step.
        close = CloseMonth("P1", "2024-01", "record", (event("FeeTrueUp", "t-1"),))
        await store.settle([close], "")
        late = HoldInvoice("P1|2024-01|inv-2", "{}", None, "P1|2024-01")
        assert (await store.settle([late], "")).status == "conflict"
        assert await store.waiting_invoices("P1", "2024-01") == {}

    async def test_what_the_worker_has_not_settled_is_counted(self) -> None:
        store = self.create_store()
        assert await store.unsettled() == 0
        first, _second = await self.deliver(2)
        assert await store.unsettled() == 2
        await store.settle([Ack(first)], "")
        assert await store.unsettled() == 1

    async def test_the_checkpoint_moves_with_a_step_that_is_written(self) -> None:
        store = self.create_store()
        await store.settle([accrue(D1, "one", None)], "", "3-0")
        assert await store.checkpoint() == "3-0"
        await store.settle([accrue(D2, "two", None)], "3-0")  # '' keeps it
        assert await store.checkpoint() == "3-0"
        assert await self._ledger(store) == {D1: "one", D2: "two"}

    async def test_ledgers_are_read_per_portfolio(self) -> None:
        store = self.create_store()
        await store.settle([accrue(D1, "one", None)], "")
        assert await store.read_ledgers([]) == {}
        assert await store.read_ledgers(["P1", "P2"]) == {"P1": {D1: "one"}, "P2": {}}

    async def test_the_other_partitions_ledgers_are_read_merged_and_never_ones_own(self) -> None:
        first, second, third = self.create_partitions(3)
        await first.settle([accrue(D1, "one", None)], "")
        await second.settle([accrue(D2, "two", None)], "")
        assert await third.read_elsewhere(["P1", "P2"]) == {
            "P1": {D1: "one", D2: "two"},
            "P2": {},
        }
        assert await first.read_elsewhere(["P1"]) == {"P1": {D2: "two"}}
        assert await first.read_ledgers(["P1"]) == {"P1": {D1: "one"}}
        assert await self.create_store().read_elsewhere(["P1"]) == {"P1": {}}  # one partition

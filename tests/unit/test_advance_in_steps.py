"""Late knowledge over a large ledger is settled in steps (services.app.settling.advance_ledger):
stand-alone adjustments first under the old checkpoint, the rest with the checkpoint's move.
In memory, no Redis."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from pricing_world import RATE_1, RATE_2, World, fee

from services.adapters.memory_ledger import InMemoryLedgerStore
from services.app import settling
from services.app.ledger import SettleResult
from services.app.operations import Op

DAYS = [date(2024, 1, 1) + timedelta(days=i) for i in range(60)]


class CountingLedger(InMemoryLedgerStore):
    """The in-memory ledger, recording each step's size and the checkpoint it moved to."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[tuple[int, str]] = []
        self.before_step: Any = None

    async def settle(
        self, ops: Any, expected_checkpoint: str, new_checkpoint: str = ""
    ) -> SettleResult:
        if self.before_step is not None:
            await self.before_step(len(self.steps))
        self.steps.append((len(ops), new_checkpoint))
        return await super().settle(ops, expected_checkpoint, new_checkpoint)


async def priced_world(monkeypatch: pytest.MonkeyPatch) -> tuple[World, CountingLedger]:
    monkeypatch.setattr(settling, "ADVANCE_STEP", 7)
    world = World()
    world.ledger = ledger = CountingLedger()
    world.amend(1, date(2024, 1, 1), RATE_1, "add")
    await world.settle(
        [world.report(d, str(100_000_000 + i), report_id=f"r{i}") for i, d in enumerate(DAYS)]
    )
    world.amend(2, date(2024, 1, 11), RATE_2, "revise")
    ledger.steps.clear()
    return world, ledger


async def test_fifty_adjustments_go_in_steps_of_seven_and_the_last_moves_the_checkpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world, ledger = await priced_world(monkeypatch)
    assert await world.advance() == 50
    sizes = [size for size, _ in ledger.steps]
    assert sizes[:7] == [7] * 7 and all(moved == "" for _, moved in ledger.steps[:-1])
    assert ledger.steps[-1][1] == f"{world.position}-0"
    adjusted = [e for e in world.events("accruals") if e["_type"] == "FeeAdjusted"]
    assert sorted(e["as_of"] for e in adjusted) == [d.isoformat() for d in DAYS[10:]]
    for i, d in enumerate(DAYS):
        want = fee(RATE_2 if d >= date(2024, 1, 11) else RATE_1, str(100_000_000 + i), d)
        assert world.amounts()[d.isoformat()] == want


async def test_a_report_landing_between_steps_is_planned_again_and_adjusted_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world, ledger = await priced_world(monkeypatch)
    late_day = date(2024, 3, 30)
    landed: list[Op] = []

    async def before(step: int) -> None:
        # A worker that has not read amendment 2 accrues a day on the old rate between steps.
        if step == 3 and not landed:
            entry = world.report(late_day, "200000000", report_id="late")
            old = World()
            old.amend(1, date(2024, 1, 1), RATE_1, "add")
            landed.extend(old.pricer.plan_batch([entry]))
            await InMemoryLedgerStore.settle(ledger, landed, await ledger.checkpoint())

    ledger.before_step = before
    result, _ = await settling.advance_ledger(
        world.pricer, ledger, await ledger.checkpoint(), f"{world.position}-0"
    )
    assert result.status == "conflict"  # the last step's preconditions saw the new entry
    assert world.amounts()[late_day.isoformat()] == fee(RATE_1, "200000000", late_day)
    assert await world.advance() >= 1  # planned again: the late day, and what was left
    adjusted = [e["as_of"] for e in world.events("accruals") if e["_type"] == "FeeAdjusted"]
    assert sorted(adjusted) == sorted([d.isoformat() for d in DAYS[10:]] + [late_day.isoformat()])
    assert world.amounts()[late_day.isoformat()] == fee(RATE_2, "200000000", late_day)

"""The fee worker's use cases: plan a batch with the `Pricer`, settle it through a
`LedgerStore`, resolve what conflicted, settle again; price group days whose wait is over;
bring a ledger to what the agreements log knows (late knowledge), in steps when it is large.

Each takes the pricer and the ledger port; the FastStream service (services.fee_worker) and
the tests call them alike, on Redis or in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from contracts.messages import NetAssetsReported
from services.app.ledger import LedgerStore, SettleResult
from services.app.operations import Accrue, Op, Park, Revise
from services.app.pricing import E, Incoming, Pricer


@dataclass(frozen=True, slots=True)
class Settled:
    """What a settle attempt left: the entries still to settle (none: done), and the answer of
    the step that stopped it (`stale`: the checkpoint to catch up with; `refused`: whose ledger
    cannot be written)."""

    unsettled: list[Incoming]
    result: SettleResult


def _overlaps_only(result: SettleResult) -> bool:
    return bool(result.conflicts) and all(w == "coverage" for _, w, _ in result.conflicts)


async def follow_up(
    pricer: Pricer,
    ledger: LedgerStore,
    entries: Sequence[Incoming],
    first: SettleResult,
    checkpoint: str,
) -> Settled:
    """After a step has answered: the accruals and parks it left (their date already held a
    report) are judged, the higher revision winning, and settled in a second step.

    Unsettled are every entry when the step wrote nothing, and the ones it left when the
    second step did not go through.
    """
    if first.status != "ok":
        return Settled(list(entries), first)
    if not first.conflicts:
        return Settled([], first)
    pricer.closed = await ledger.closed_periods()  # what resolving may adjust is booked by it
    second = await ledger.settle(pricer.resolve(first.conflicts), checkpoint)
    if second.status == "ok" and _overlaps_only(second):
        # A revised report whose new period reaches another's days: its dead letter.
        second = await ledger.settle(pricer.resolve(second.conflicts), checkpoint)
    if second.status == "ok" and not second.conflicts:
        return Settled([], second)
    waiting = {op.ack for op, _, _ in first.conflicts}
    return Settled([e for e in entries if e.entry_id in waiting], second)


async def settle_entries(
    pricer: Pricer,
    ledger: LedgerStore,
    entries: Sequence[Incoming],
    checkpoint: str,
    refused: Mapping[str, str] | None = None,
) -> Settled:
    """Plan entries and settle them, conflicts resolved (one attempt; see `follow_up`).

    `refused`: portfolio -> why its ledger cannot be written; its reports are dead-lettered
    with that reason, so the others settle.
    """
    ops = pricer.plan_batch(entries)
    if refused:
        ops = [
            pricer.reject(entry, "settle_failed", refused[op.portfolio_id])
            if isinstance(op, Accrue | Park) and op.portfolio_id in refused
            else op
            for entry, op in zip(entries, ops, strict=True)
        ]
    plain, later = split_in_context(pricer, entries, ops)
    first = await ledger.settle([op for _, op in plain], checkpoint)
    settled = await follow_up(pricer, ledger, [e for e, _ in plain], first, checkpoint)
    if settled.unsettled or not later:
        return Settled([*settled.unsettled, *(e for e, _ in later)], settled.result)
    return await settle_in_context(pricer, ledger, later, checkpoint)


def split_in_context(
    pricer: Pricer, entries: Sequence[E], ops: Sequence[Op]
) -> tuple[list[tuple[E, Op]], list[tuple[E, Op]]]:
    """A batch's entries and their operations: those settled together, and those to settle one
    by one on their ledger as read (`settle_in_context`)."""
    plain: list[tuple[E, Op]] = []
    later: list[tuple[E, Op]] = []
    for entry, op in zip(entries, ops, strict=True):
        (later if pricer.in_context(op) else plain).append((entry, op))
    return plain, later


async def settle_in_context(
    pricer: Pricer,
    ledger: LedgerStore,
    planned: Sequence[tuple[Incoming, Op]],
    checkpoint: str,
) -> Settled:
    """Reports whose accrual depends on their ledger (month-to-date rounding, a prior-day fee
    base, a group's day), one step each: planned again on the ledger as read (from the report
    its batch's operation holds), applied only while it is unchanged.

    Unsettled are the entries from the first whose step did not go through.
    """
    pricer.closed = await ledger.closed_periods()
    for i, (entry, op) in enumerate(planned):
        assert isinstance(op, Accrue | Park)  # split_in_context's: only these are in context
        ledgers = await ledger.read_ledgers(pricer.context_of(op))
        parked = await ledger.read_unpriced() if pricer.reads_parked(op) else None
        ops = pricer.plan_in_context(op, ledgers, parked)
        settled = await follow_up(
            pricer, ledger, [entry], await ledger.settle(ops, checkpoint), checkpoint
        )
        if settled.unsettled:
            return Settled([*settled.unsettled, *(e for e, _ in planned[i + 1 :])], settled.result)
    return Settled([], SettleResult("ok"))


async def price_provisionally(
    pricer: Pricer,
    ledger: LedgerStore,
    checkpoint: str,
    due: Callable[[NetAssetsReported], bool],
) -> tuple[SettleResult, int]:
    """Price provisionally every group day whose wait is over (`due`), on the members that
    reported; also: how many accruals it wrote."""
    unpriced = await ledger.read_unpriced()
    members = pricer.groups_waiting(unpriced)
    if not members:
        return SettleResult("ok"), 0
    ops = pricer.plan_provisional(await ledger.read_ledgers(members), unpriced, due)
    written = sum(1 for op in ops if isinstance(op, Accrue | Revise))
    if not written:
        return SettleResult("ok"), 0
    return await ledger.settle(ops, checkpoint), written


# Operations per step when late knowledge adjusts a large ledger: a recomputation of a million
# accruals is settled in steps of this size rather than one Lua call of a million arguments.
ADVANCE_STEP = 5000


async def advance_ledger(
    pricer: Pricer,
    ledger: LedgerStore,
    checkpoint: str,
    position: str,
    unwritable: Collection[str] = (),
) -> tuple[SettleResult, int]:
    """Bring the ledger, priced against log position `checkpoint`, to what the book knows at
    `position`: every entry the new knowledge changes is adjusted and every parked report it
    covers priced, in the step that moves the checkpoint. Also: how many it adjusted or priced.
    `unwritable`: portfolios whose ledger a step refused; their parked reports wait.

    A large plan goes ahead in steps: adjustments that stand alone (each a compare-and-set on
    its entry, with its FeeAdjusted) first, under the old checkpoint; the last step holds the
    rest and every precondition, and moves the checkpoint. Should a step meet a change, the
    caller plans again; an entry adjusted already is then left as it is (its amount is right).
    """
    affected = pricer.affected(checkpoint or None)
    pricer.closed = await ledger.closed_periods()
    ledgers = await ledger.read_ledgers(affected)
    unpriced = await ledger.read_unpriced()
    elsewhere = await ledger.read_elsewhere(pricer.members_elsewhere(affected, ledgers))
    ops = pricer.plan_advance(affected, ledgers, unpriced, unwritable, elsewhere)
    changed = sum(1 for op in ops if isinstance(op, Revise | Accrue))
    if len(ops) > ADVANCE_STEP:
        alone = {pid for pid in affected if not pricer.contextual(pid)}
        ahead = [op for op in ops if _stands_alone(op, alone)]
        ops = [op for op in ops if not _stands_alone(op, alone)]
        for start in range(0, len(ahead), ADVANCE_STEP):
            result = await ledger.settle(ahead[start : start + ADVANCE_STEP], checkpoint)
            if result.status != "ok" or result.conflicts:
                return SettleResult("conflict", detail="an entry changed while it was adjusted"), 0
    return await ledger.settle(ops, checkpoint, position), changed


def _stands_alone(op: Op, alone: Collection[str]) -> bool:
    """An adjustment that can be settled before the rest of its plan: a plain revision of an
    entry whose amount depends on no other entry (its portfolio is in `alone`), claiming or
    giving back no days."""
    return isinstance(op, Revise) and not op.covers and not op.releases and op.portfolio_id in alone

"""The chaos suite's verdict: what the output streams and the ledger say became of every entry
sent, judged against the suite's own expectations (benchmarks/chaos_inputs.py).

The five counts that must be 0:

- lost: a good report whose date has no ledger entry (or, where no schedule covers the date,
  no parked report either);
- duplicated: FeeAccrued twice for one accrual_id, FeeAdjusted twice for one adjustment_id, or
  one entry's ReportHeld / ReportIgnored / DeadLetter written twice;
- wrong: a ledger entry whose amount differs from this suite's own fee math on the highest
  revision (the retroactive amendment included), or whose report, revision, net assets or days
  are not that revision's; FeeAccrued plus its FeeAdjusted deltas not equal to that amount; a
  ledger entry, accrual or parked report for a date no good report names;
- dead_lettered_good: a valid entry (good report, exact duplicate, same-revision conflict) in
  the dead letters;
- untraced: an input entry that did not end in exactly one outcome: FeeAccrued or FeeAdjusted
  (matched by report_id and revision), or ReportHeld, ReportIgnored or DeadLetter (matched by
  entry_id).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from benchmarks.chaos_inputs import Plan, Report, Schedules, period_fee

FIVE = ("lost", "duplicated", "wrong", "dead_lettered_good", "untraced")
ENTRY_EVENTS = ("ReportHeld", "ReportIgnored", "DeadLetter")


@dataclass
class Observed:
    """What Redis holds at the end."""

    inputs: list[str]
    events: list[tuple[str, dict[str, Any] | None]]  # (type, data) from every output stream
    ledgers: dict[str, dict[str, str]]  # portfolio -> date -> ledger entry JSON
    unpriced: dict[str, str]  # "portfolio|date" -> parked report JSON


@dataclass
class Verdict:
    counts: dict[str, int]
    info: dict[str, Any]
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not any(self.counts[name] for name in FIVE)


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def judge(
    plan: Plan, observed: Observed, source_stream: str, schedules: Schedules | None = None
) -> Verdict:
    schedules = schedules or Schedules()
    counts = dict.fromkeys(FIVE, 0)
    examples: dict[str, list[str]] = defaultdict(list)

    def flag(name: str, text: str, n: int = 1) -> None:
        counts[name] += n
        if len(examples[name]) < 6:
            examples[name].append(text)

    # ---- the output events --------------------------------------------------------------
    accrued: Counter[str] = Counter()
    adjustments: Counter[str] = Counter()
    stream_total: dict[str, Decimal] = {}
    priced_traces: Counter[tuple[str, int]] = Counter()
    by_entry: dict[str, Counter[str]] = defaultdict(Counter)
    dead_code: dict[str, str] = {}
    dead_reason: dict[str, str] = {}
    codes: dict[str, Counter[str]] = {k: Counter() for k in ENTRY_EVENTS}
    reasons: Counter[str] = Counter()
    unreadable = 0
    other_dead_letters = 0
    for kind, data in observed.events:
        if data is None:
            unreadable += 1
            continue
        if kind == "FeeAccrued":
            aid = str(data.get("accrual_id"))
            accrued[aid] += 1
            if accrued[aid] == 1:
                stream_total[aid] = stream_total.get(aid, Decimal(0)) + (
                    _decimal(data.get("amount")) or Decimal(0)
                )
            revision = _int(data.get("revision"))
            if revision is not None:
                priced_traces[(str(data.get("report_id")), revision)] += 1
        elif kind == "FeeAdjusted":
            adjustment = str(data.get("adjustment_id"))
            adjustments[adjustment] += 1
            reason = str(data.get("reason"))
            if adjustments[adjustment] == 1:
                aid = str(data.get("accrual_id"))
                stream_total[aid] = stream_total.get(aid, Decimal(0)) + (
                    _decimal(data.get("delta")) or Decimal(0)
                )
                reasons[reason] += 1
            revision = _int(data.get("revision"))
            if reason == "revised_report" and revision is not None:
                priced_traces[(str(data.get("report_id")), revision)] += 1
        elif kind in ENTRY_EVENTS:
            if data.get("source_stream", source_stream) != source_stream:
                other_dead_letters += 1  # the projector's, of the agreements log
                continue
            entry_id = str(data.get("entry_id"))
            by_entry[entry_id][kind] += 1
            if by_entry[entry_id][kind] == 1:
                codes[kind][str(data.get("code"))] += 1
            if kind == "DeadLetter":
                dead_code[entry_id] = str(data.get("code"))
                dead_reason[entry_id] = str(data.get("reason"))[:160]

    for aid, n in accrued.items():
        if n > 1:
            flag("duplicated", f"FeeAccrued {aid} x{n}", n - 1)
    for adjustment, n in adjustments.items():
        if n > 1:
            flag("duplicated", f"FeeAdjusted {adjustment} x{n}", n - 1)
    for entry_id, kinds in by_entry.items():
        for kind, n in kinds.items():
            if n > 1:
                flag("duplicated", f"{kind} for entry {entry_id} x{n}", n - 1)

    # ---- every input entry: exactly one outcome ------------------------------------------
    known = {e.entry_id: e for e in plan.entries}
    seen = set(observed.inputs)
    unknown_inputs = [i for i in observed.inputs if i not in known]
    missing_inputs = [i for i in known if i not in seen]
    waiting: dict[tuple[str, int], list[str]] = defaultdict(list)
    several = 0
    for entry_id in [*observed.inputs, *missing_inputs]:
        outcomes = by_entry.get(entry_id)
        entry = known.get(entry_id)
        what = f"{entry.category}/{entry.kind}" if entry else "unknown"
        if outcomes and len(outcomes) > 1:
            several += 1
            flag("untraced", f"{entry_id} ({what}): several outcomes {sorted(outcomes)}")
        elif not outcomes:
            if entry is None or entry.report_id is None or entry.revision is None:
                flag("untraced", f"{entry_id} ({what}): no outcome")
            else:
                waiting[(entry.report_id, entry.revision)].append(entry_id)
    for (report_id, revision), ids in waiting.items():
        spare = priced_traces.get((report_id, revision), 0)
        if len(ids) > spare:
            kinds_of = ", ".join(f"{known[i].category}/{known[i].kind}" for i in ids[:3])
            flag(
                "untraced",
                f"{ids[0]} ({kinds_of}; report {report_id!r} revision {revision}):"
                f" no outcome ({len(ids)} entries, {spare} fees priced)",
                len(ids) - spare,
            )

    for entry in plan.entries:
        if entry.valid and "DeadLetter" in by_entry.get(entry.entry_id, {}):
            flag(
                "dead_lettered_good",
                f"{entry.entry_id} ({entry.category}/{entry.kind}):"
                f" {dead_code.get(entry.entry_id)}: {dead_reason.get(entry.entry_id)}",
            )

    # ---- the ledger against the suite's own fee math --------------------------------------
    final: dict[tuple[str, str], Report] = {}
    reports_of: Counter[tuple[str, str]] = Counter()
    for r in plan.good:
        reports_of[r.key] += 1
        if r.key not in final or r.revision > final[r.key].revision:
            final[r.key] = r
    held_expected = 0
    for key, r in sorted(final.items()):
        pid, day = key
        period = schedules.period(pid, r.as_of, r.accrual_days)
        stored = observed.ledgers.get(pid, {}).get(day)
        parked = observed.unpriced.get(f"{pid}|{day}")
        aid = f"{pid}:{day}"
        if all(s is None for s in period):
            held_expected += 1
            if stored is not None or aid in stream_total:
                flag("wrong", f"{aid}: priced, but no schedule covers {day}")
            elif parked is None:
                flag("lost", f"{aid}: neither accrued nor parked", reports_of[key])
            else:
                try:
                    held = json.loads(parked)
                    same = (held.get("report_id"), _int(held.get("revision"))) == (
                        r.report_id,
                        r.revision,
                    )
                except (ValueError, AttributeError):
                    same = False
                if not same:
                    flag("wrong", f"{aid}: parked {parked[:120]}, not revision {r.revision}")
            continue
        if stored is None:
            flag(
                "lost", f"{aid}: no ledger entry ({reports_of[key]} good reports)", reports_of[key]
            )
            continue
        want = period_fee(period, Decimal(r.net_assets))
        problems = []
        try:
            entry = json.loads(stored)
            if _decimal(entry.get("amount")) != want:
                problems.append(f"amount {entry.get('amount')} != {want}")
            if (entry.get("report_id"), _int(entry.get("revision"))) != (r.report_id, r.revision):
                problems.append(
                    f"holds {entry.get('report_id')!r} revision {entry.get('revision')},"
                    f" not {r.report_id!r} revision {r.revision}"
                )
            if _decimal(entry.get("net_assets")) != Decimal(r.net_assets):
                problems.append(f"net assets {entry.get('net_assets')} != {r.net_assets}")
            if _int(entry.get("accrual_days")) != r.accrual_days:
                problems.append(f"accrual days {entry.get('accrual_days')} != {r.accrual_days}")
        except (ValueError, AttributeError):
            problems.append(f"ledger entry is not readable: {stored[:80]!r}")
        total = stream_total.get(aid)
        if total != want:
            problems.append(f"FeeAccrued + FeeAdjusted deltas = {total}, not {want}")
        if parked is not None:
            problems.append("still parked as unpriced")
        if problems:
            flag("wrong", f"{aid}: " + "; ".join(problems))

    unexpected = set()
    for pid, ledger in observed.ledgers.items():
        unexpected |= {(pid, day) for day in ledger if (pid, day) not in final}
    for aid in stream_total:
        pid, _, day = aid.rpartition(":")
        if (pid, day) not in final:
            unexpected.add((pid, day))
    for name in observed.unpriced:
        pid, _, day = name.rpartition("|")
        if (pid, day) not in final:
            unexpected.add((pid, day))
    for pid, day in sorted(unexpected):
        flag("wrong", f"{pid}:{day}: accrued or parked, but no good report names this date")

    # ---- informational ---------------------------------------------------------------------
    accepted: Counter[str] = Counter()
    mismatched: Counter[str] = Counter()
    for entry in plan.entries:
        if entry.category != "poison":
            continue
        code = dead_code.get(entry.entry_id)
        if code is None:
            outcome = ",".join(sorted(by_entry.get(entry.entry_id, {}))) or "no event"
            accepted[f"{entry.kind} ({outcome})"] += 1
        elif entry.expected_code is not None and code != entry.expected_code:
            mismatched[f"{entry.kind}: {code}, not {entry.expected_code}"] += 1
    categories = Counter(e.category for e in plan.entries)
    info: dict[str, Any] = {
        "inputs": len(observed.inputs),
        "categories": dict(categories),
        "good_reports": len(plan.good),
        "dates_expected_priced": len(final) - held_expected,
        "dates_expected_held": held_expected,
        "fee_accrued": sum(accrued.values()),
        "adjusted_by_reason": dict(reasons),
        "dead_letters_by_code": dict(codes["DeadLetter"]),
        "held_by_code": dict(codes["ReportHeld"]),
        "ignored_by_code": dict(codes["ReportIgnored"]),
        "several_outcomes": several,
        "poison_accepted": dict(accepted),
        "poison_code_mismatches": dict(mismatched),
        "unreadable_outputs": unreadable,
        "other_dead_letters": other_dead_letters,
        "unknown_inputs": len(unknown_inputs),
        "missing_inputs": len(missing_inputs),
    }
    return Verdict(counts, info, dict(examples))

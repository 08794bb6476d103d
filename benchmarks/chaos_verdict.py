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

from benchmarks.chaos_inputs import Band, Plan, Report, Schedules, period_fee

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
    judging = _Judging(plan, observed, source_stream)
    judging.read_events()
    judging.flag_duplicates()
    judging.trace_inputs()
    judging.flag_good_dead_lettered()
    judging.check_ledger(schedules or Schedules())
    judging.flag_unexpected()
    return Verdict(judging.counts, judging.info(), dict(judging.examples))


class _Judging:
    """The five counts (and up to six examples of each) as the checks find them, and what the
    output events say, which the checks read."""

    def __init__(self, plan: Plan, observed: Observed, source_stream: str) -> None:
        self.plan, self.observed, self.source_stream = plan, observed, source_stream
        self.counts = dict.fromkeys(FIVE, 0)
        self.examples: dict[str, list[str]] = defaultdict(list)
        self.accrued: Counter[str] = Counter()
        self.adjustments: Counter[str] = Counter()
        self.stream_total: dict[str, Decimal] = {}  # accrual_id -> FeeAccrued + first deltas
        self.priced_traces: Counter[tuple[str, int]] = Counter()  # (report_id, revision)
        self.by_entry: dict[str, Counter[str]] = defaultdict(Counter)
        self.dead_code: dict[str, str] = {}
        self.dead_reason: dict[str, str] = {}
        self.codes: dict[str, Counter[str]] = {k: Counter() for k in ENTRY_EVENTS}
        self.reasons: Counter[str] = Counter()
        self.unreadable = self.other_dead_letters = self.several = self.held_expected = 0
        self.final: dict[tuple[str, str], Report] = {}  # the highest good revision of a date
        self.known = {e.entry_id: e for e in plan.entries}
        seen = set(observed.inputs)
        self.unknown_inputs = [i for i in observed.inputs if i not in self.known]
        self.missing_inputs = [i for i in self.known if i not in seen]

    def flag(self, name: str, text: str, n: int = 1) -> None:
        self.counts[name] += n
        if len(self.examples[name]) < 6:
            self.examples[name].append(text)

    # ---- the output events ------------------------------------------------------------------

    def read_events(self) -> None:
        for kind, data in self.observed.events:
            if data is None:
                self.unreadable += 1
            elif kind == "FeeAccrued":
                self._accrued(data)
            elif kind == "FeeAdjusted":
                self._adjusted(data)
            elif kind in ENTRY_EVENTS:
                self._entry_event(kind, data)

    def _add(self, accrual_id: str, amount: Any) -> None:
        total = self.stream_total.get(accrual_id, Decimal(0))
        self.stream_total[accrual_id] = total + (_decimal(amount) or Decimal(0))

    def _accrued(self, data: dict[str, Any]) -> None:
        aid = str(data.get("accrual_id"))
        self.accrued[aid] += 1
        if self.accrued[aid] == 1:
            self._add(aid, data.get("amount"))
        revision = _int(data.get("revision"))
        if revision is not None:
            self.priced_traces[(str(data.get("report_id")), revision)] += 1

    def _adjusted(self, data: dict[str, Any]) -> None:
        adjustment = str(data.get("adjustment_id"))
        self.adjustments[adjustment] += 1
        reason = str(data.get("reason"))
        if self.adjustments[adjustment] == 1:
            self._add(str(data.get("accrual_id")), data.get("delta"))
            self.reasons[reason] += 1
        revision = _int(data.get("revision"))
        if reason == "revised_report" and revision is not None:
            self.priced_traces[(str(data.get("report_id")), revision)] += 1

    def _entry_event(self, kind: str, data: dict[str, Any]) -> None:
        if data.get("source_stream", self.source_stream) != self.source_stream:
            self.other_dead_letters += 1  # the projector's, of the agreements log
            return
        entry_id = str(data.get("entry_id"))
        self.by_entry[entry_id][kind] += 1
        if self.by_entry[entry_id][kind] == 1:
            self.codes[kind][str(data.get("code"))] += 1
        if kind == "DeadLetter":
            self.dead_code[entry_id] = str(data.get("code"))
            self.dead_reason[entry_id] = str(data.get("reason"))[:160]

    def flag_duplicates(self) -> None:
        for aid, n in self.accrued.items():
            if n > 1:
                self.flag("duplicated", f"FeeAccrued {aid} x{n}", n - 1)
        for adjustment, n in self.adjustments.items():
            if n > 1:
                self.flag("duplicated", f"FeeAdjusted {adjustment} x{n}", n - 1)
        for entry_id, kinds in self.by_entry.items():
            for kind, n in kinds.items():
                if n > 1:
                    self.flag("duplicated", f"{kind} for entry {entry_id} x{n}", n - 1)

    # ---- every input entry: exactly one outcome ---------------------------------------------

    def trace_inputs(self) -> None:
        # Entries whose outcome is a fee are matched by (report_id, revision), not entry id.
        waiting: dict[tuple[str, int], list[str]] = defaultdict(list)
        for entry_id in [*self.observed.inputs, *self.missing_inputs]:
            outcomes = self.by_entry.get(entry_id)
            entry = self.known.get(entry_id)
            what = f"{entry.category}/{entry.kind}" if entry else "unknown"
            if outcomes and len(outcomes) > 1:
                self.several += 1
                self.flag("untraced", f"{entry_id} ({what}): several outcomes {sorted(outcomes)}")
            elif not outcomes:
                if entry is None or entry.report_id is None or entry.revision is None:
                    self.flag("untraced", f"{entry_id} ({what}): no outcome")
                else:
                    waiting[(entry.report_id, entry.revision)].append(entry_id)
        for (report_id, revision), ids in waiting.items():
            spare = self.priced_traces.get((report_id, revision), 0)
            if len(ids) > spare:
                kinds_of = ", ".join(
                    f"{self.known[i].category}/{self.known[i].kind}" for i in ids[:3]
                )
                self.flag(
                    "untraced",
                    f"{ids[0]} ({kinds_of}; report {report_id!r} revision {revision}):"
                    f" no outcome ({len(ids)} entries, {spare} fees priced)",
                    len(ids) - spare,
                )

    def flag_good_dead_lettered(self) -> None:
        for entry in self.plan.entries:
            eid = entry.entry_id
            if entry.valid and "DeadLetter" in self.by_entry.get(eid, {}):
                self.flag(
                    "dead_lettered_good",
                    f"{eid} ({entry.category}/{entry.kind}):"
                    f" {self.dead_code.get(eid)}: {self.dead_reason.get(eid)}",
                )

    # ---- the ledger against the suite's own fee math ----------------------------------------

    def check_ledger(self, schedules: Schedules) -> None:
        reports_of: Counter[tuple[str, str]] = Counter()
        for r in self.plan.good:
            reports_of[r.key] += 1
            if r.key not in self.final or r.revision > self.final[r.key].revision:
                self.final[r.key] = r
        for key, r in sorted(self.final.items()):
            period = schedules.period(r.portfolio_id, r.as_of, r.accrual_days)
            if all(s is None for s in period):
                self.held_expected += 1
                self._check_held(r, reports_of[key])
            else:
                self._check_priced(r, period, reports_of[key])

    def _check_held(self, r: Report, reports: int) -> None:
        """A date no schedule covers: its highest revision parked, nothing priced."""
        pid, day = r.key
        aid = f"{pid}:{day}"
        stored = self.observed.ledgers.get(pid, {}).get(day)
        parked = self.observed.unpriced.get(f"{pid}|{day}")
        if stored is not None or aid in self.stream_total:
            self.flag("wrong", f"{aid}: priced, but no schedule covers {day}")
        elif parked is None:
            self.flag("lost", f"{aid}: neither accrued nor parked", reports)
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
                self.flag("wrong", f"{aid}: parked {parked[:120]}, not revision {r.revision}")

    def _check_priced(self, r: Report, period: list[list[Band] | None], reports: int) -> None:
        """A covered date: its ledger entry and its events say the highest revision's fee."""
        pid, day = r.key
        aid = f"{pid}:{day}"
        stored = self.observed.ledgers.get(pid, {}).get(day)
        if stored is None:
            self.flag("lost", f"{aid}: no ledger entry ({reports} good reports)", reports)
            return
        want = period_fee(period, Decimal(r.net_assets))
        problems = _entry_problems(stored, r, want)
        total = self.stream_total.get(aid)
        if total != want:
            problems.append(f"FeeAccrued + FeeAdjusted deltas = {total}, not {want}")
        if self.observed.unpriced.get(f"{pid}|{day}") is not None:
            problems.append("still parked as unpriced")
        if problems:
            self.flag("wrong", f"{aid}: " + "; ".join(problems))

    def flag_unexpected(self) -> None:
        unexpected = set()
        for pid, ledger in self.observed.ledgers.items():
            unexpected |= {(pid, day) for day in ledger if (pid, day) not in self.final}
        for aid in self.stream_total:
            pid, _, day = aid.rpartition(":")
            if (pid, day) not in self.final:
                unexpected.add((pid, day))
        for name in self.observed.unpriced:
            pid, _, day = name.rpartition("|")
            if (pid, day) not in self.final:
                unexpected.add((pid, day))
        for pid, day in sorted(unexpected):
            self.flag(
                "wrong", f"{pid}:{day}: accrued or parked, but no good report names this date"
            )

    # ---- informational ----------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        accepted: Counter[str] = Counter()
        mismatched: Counter[str] = Counter()
        for entry in self.plan.entries:
            if entry.category != "poison":
                continue
            code = self.dead_code.get(entry.entry_id)
            if code is None:
                outcome = ",".join(sorted(self.by_entry.get(entry.entry_id, {}))) or "no event"
                accepted[f"{entry.kind} ({outcome})"] += 1
            elif entry.expected_code is not None and code != entry.expected_code:
                mismatched[f"{entry.kind}: {code}, not {entry.expected_code}"] += 1
        return {
            "inputs": len(self.observed.inputs),
            "categories": dict(Counter(e.category for e in self.plan.entries)),
            "good_reports": len(self.plan.good),
            "dates_expected_priced": len(self.final) - self.held_expected,
            "dates_expected_held": self.held_expected,
            "fee_accrued": sum(self.accrued.values()),
            "adjusted_by_reason": dict(self.reasons),
            "dead_letters_by_code": dict(self.codes["DeadLetter"]),
            "held_by_code": dict(self.codes["ReportHeld"]),
            "ignored_by_code": dict(self.codes["ReportIgnored"]),
            "several_outcomes": self.several,
            "poison_accepted": dict(accepted),
            "poison_code_mismatches": dict(mismatched),
            "unreadable_outputs": self.unreadable,
            "other_dead_letters": self.other_dead_letters,
            "unknown_inputs": len(self.unknown_inputs),
            "missing_inputs": len(self.missing_inputs),
        }


def _entry_problems(stored: str, r: Report, want: Decimal) -> list[str]:
    """What a ledger entry says that the highest revision `r` and its fee `want` do not."""
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
    return problems

"""Ingest: from a parsed filing to the commands that record it, with a plan an operator can read.

`plan_ingest` is pure: it takes the parser's reading and a `ScheduleBook` of what the log
already holds, and returns an `IngestPlan` (what each change will do, the schedule before
and after, what is refused and why). `ingest_document` reads a filing, plans it and records
it through the `Recorder`; `feeschedule ingest` and the demo show the plan.

Two things the filing alone cannot settle are decided here, visibly:
- names map to the portfolio ids already on record (any former name counts), else to a slug;
- a filing that revises (or renames) a portfolio the log has never priced is recorded as that
  portfolio's first known schedule, because the service usually starts mid-life of an
  agreement; `strict` refuses instead.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, get_args

from contracts.messages import AgreementRegistered, AmendmentRecorded
from services.app.amendment_file import agreement_id_for, amendment_from_reading
from services.app.audit import replay_book
from services.app.ports import AppendResult, EventLog
from services.app.recording import DEFAULT_DEADLINE_S, AgreementCommand, Recorder
from services.domain.book import ScheduleBook
from services.domain.errors import DomainError, UsageProblem
from services.domain.fees import FeeSchedule
from services.domain.names import name_key, portfolio_id_for
from services.parsing.filing import parse_filing


@dataclass(frozen=True, slots=True)
class PlannedChange:
    """One change of the filing as it will be recorded (or why it will not be)."""

    portfolio: str | None
    portfolio_id: str | None
    written_action: str
    action: str
    before: FeeSchedule | None
    after: FeeSchedule | None
    formerly: str | None = None
    note: str | None = None
    refused: str | None = None


@dataclass
class IngestPlan:
    agreement_id: str
    amendment_number: int | None
    effective_date: date | None
    changes: list[PlannedChange]
    register: AgreementRegistered | None = None
    command: AmendmentRecorded | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def refused(self) -> list[PlannedChange]:
        return [c for c in self.changes if c.refused is not None]


def apply_override(reading: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """The operator's corrections over the parser's reading (same shape as the reading).

    Top-level fields replace the reading's; each override change replaces the reading's change
    for the same portfolio (by normalised name), or is added when the reading has none.
    """
    merged = copy.deepcopy(reading)
    for name, value in override.items():
        if name != "changes":
            merged[name] = copy.deepcopy(value)
    changes: list[Any] = list(merged.get("changes") or [])
    for fixed in override.get("changes") or []:
        if not isinstance(fixed, Mapping):
            raise DomainError("override.changes", fixed, "each change must be an object")
        wanted = name_key(fixed.get("portfolio") or "")
        for i, change in enumerate(changes):
            if isinstance(change, Mapping) and name_key(change.get("portfolio") or "") == wanted:
                changes[i] = dict(fixed)
                break
        else:
            changes.append(dict(fixed))
    merged["changes"] = changes
    return merged


def _schedule(change: Mapping[str, Any]) -> FeeSchedule | None:
    schedule = change.get("schedule")
    tiers = schedule.get("tiers") if isinstance(schedule, Mapping) else None
    if not tiers:
        return None
    try:
        return FeeSchedule.from_json(tiers)
    except DomainError:
        return None


def _effective(reading: Mapping[str, Any]) -> date | None:
    raw = reading.get("effective_date")
    if raw is None or isinstance(raw, date):
        return raw
    try:
        return date.fromisoformat(str(raw))
    except ValueError:
        raise DomainError("effective_date", raw, "is not a date (YYYY-MM-DD)") from None


def plan_ingest(
    reading: dict[str, Any],
    book: ScheduleBook,
    *,
    agreement_id: str | None = None,
    sha256: str | None = None,
    strict: bool = False,
    skip_unparseable: bool = False,
    apply_removals: bool = False,
    day_count: str = "ACT/365F",
    rounding: str = "ROUND_HALF_UP:0.01",
) -> IngestPlan:
    """What recording `reading` will do against the history in `book`."""
    aid = agreement_id or agreement_id_for(reading)
    effective = _effective(reading)
    number = reading.get("amendment_number")
    plan = IngestPlan(str(aid), number, effective, [])
    if number is None:
        plan.problems.append(
            "amendment_number: the filing gives none; supply it with --override"
            ' (e.g. {"amendment_number": 3})'
        )
    if effective is None:
        plan.problems.append(
            "effective_date: the filing leaves it blank; supply it with --override"
            ' (e.g. {"effective_date": "2013-10-31"})'
        )

    recordable: list[dict[str, Any]] = []
    changes = reading.get("changes") or []
    for change in changes:
        planned, fixed = _plan_change(change, book, effective, strict=strict)
        if planned.refused is not None and skip_unparseable:
            planned = replace(planned, note=f"skipped: {planned.refused}", refused=None)
        plan.changes.append(planned)
        if fixed is not None:
            recordable.append(fixed)
    if any(isinstance(c, Mapping) and c.get("action") == "replace_in_whole" for c in changes):
        _restated(plan, book, recordable, apply_removals)
    if not changes:
        plan.problems.append("changes: the filing states no fee change that could be read")
    if plan.refused or plan.problems or not recordable:
        if not recordable and changes and not plan.refused:
            plan.problems.append("changes: nothing left to record")
        return plan

    agreement = book.agreements.get(plan.agreement_id)
    if agreement is None or agreement.version == 0:
        plan.register = _registration(plan.agreement_id, reading, day_count, rounding)
    recorded = {**reading, "changes": recordable, "source_sha256": sha256}
    plan.command = amendment_from_reading(_decimal_bounds(recorded), plan.agreement_id)
    return plan


def _restated(
    plan: IngestPlan, book: ScheduleBook, recordable: list[dict[str, Any]], apply_removals: bool
) -> None:
    """A schedule restated in whole names every portfolio the agreement prices: those on
    record that it leaves out are listed, and removed only when asked (`apply_removals`),
    since a cut excerpt would otherwise remove funds."""
    agreement = book.agreements.get(plan.agreement_id)
    on = plan.effective_date
    if agreement is None or on is None:
        return
    named = {str(c.get("portfolio_id")) for c in recordable}
    named |= {m for c in recordable for m in (c.get("group") or {}).get("member_ids", [])}
    priced = sorted({pid for pids in agreement.amendments.values() for pid in pids} - named)
    for pid in priced:
        before = book.schedule_on(pid, on).schedule
        if before is None:
            continue  # not on the schedule that day: nothing to leave out
        name = book.timelines[pid].name_on(on) or pid
        if apply_removals:
            action, after = "remove", None
            note = "not in the restated schedule: removed (--apply-removals)"
            recordable.append({"action": "remove", "portfolio": name, "portfolio_id": pid})
        else:
            action, after = "kept", before
            note = (
                "not in the restated schedule: kept; pass --apply-removals to remove it (a cut"
                " excerpt of the filing would otherwise remove funds)"
            )
        planned = PlannedChange(name, pid, "replace_in_whole", action, before, after, note=note)
        plan.changes.append(planned)


def _registration(
    agreement_id: str, reading: Mapping[str, Any], day_count: str, rounding: str
) -> AgreementRegistered:
    """The registration a filing of an agreement the log does not know yet needs first."""
    kind = reading.get("agreement_type")
    known = kind in set(get_args(AgreementRegistered.model_fields["agreement_type"].annotation))
    return AgreementRegistered.model_validate(
        {
            "agreement_id": agreement_id,
            "trust": reading.get("trust"),
            "adviser": reading.get("adviser"),
            "agreement_date": reading.get("agreement_date"),
            "agreement_type": str(kind) if known else "unknown",
            "day_count": day_count,
            "rounding": rounding,
        }
    )


def _decimal_bounds(reading: Mapping[str, Any]) -> dict[str, Any]:
    """The reading with its tier bounds as decimal strings, as an amendment file has them.

    The parser (like the corpus) writes bounds as whole dollars, JSON integers, which are exact;
    the amendment file's rule is one for every amount: a decimal string. Rates are strings
    already, and anything else is left for the file's model to judge.
    """

    def schedule(value: Any) -> Any:
        tiers = value.get("tiers") if isinstance(value, Mapping) else None
        if not isinstance(tiers, list):
            return value
        return {**value, "tiers": [bounds(t) for t in tiers]}

    def bounds(tier: Any) -> Any:
        if not isinstance(tier, Mapping):
            return tier
        whole = {k: str(v) for k, v in tier.items() if k in ("from", "to") and type(v) is int}
        return {**tier, **whole}

    changes = [
        {**c, **{k: schedule(c[k]) for k in ("schedule", "schedule_before") if k in c}}
        if isinstance(c, Mapping)
        else c
        for c in reading.get("changes") or []
    ]
    return {**reading, "changes": changes}


def _plan_change(
    change: Any, book: ScheduleBook, effective: date | None, *, strict: bool
) -> tuple[PlannedChange, dict[str, Any] | None]:
    if not isinstance(change, Mapping):
        bad = PlannedChange(None, None, "?", "?", None, None, refused=f"not an object: {change!r}")
        return bad, None
    written = str(change.get("action") or "?")
    name = change.get("portfolio")
    formerly = change.get("formerly")
    after = _schedule(change)
    if change.get("parseable") is False:
        reason = change.get("note") or "the parser could not read this change with certainty"
        refused = PlannedChange(name, None, written, written, None, after, formerly, refused=reason)
        return refused, None
    if written == "group":
        return _plan_group(change, book, after)
    if not name:
        reason = "the filing names no portfolio for this change"
        refused = PlannedChange(None, None, written, written, None, after, formerly, refused=reason)
        return refused, None

    pid = str(change.get("portfolio_id") or _portfolio_id(book, name, formerly))
    before = book.schedule_on(pid, effective).schedule if effective else None
    on_record = before is not None
    fixed = {**change, "portfolio_id": pid}
    action, note = written, None
    if not on_record and not strict:
        if written == "revise":
            fixed["action"] = action = "add"
            note = "not on record before: recorded as its first known schedule"
        if formerly:
            fixed["formerly"] = None
            note = (note + "; " if note else "") + f"former name {formerly!r} not on record"
    if written == "waiver" and not on_record:
        note = "no schedule on record on that date: the waiver applies once one is"
    planned = PlannedChange(name, pid, written, action, before, after, fixed.get("formerly"), note)
    return planned, fixed


def _portfolio_id(book: ScheduleBook, name: str, former: str | None) -> str:
    """A change's portfolio or a group member: the portfolio on record under its former name,
    or its name (any name it has had), else a slug of the name it had (a renamed portfolio
    keeps the id of its former name, as in an amendment file)."""
    resolved = (former and book.resolve(former)) or book.resolve(name)
    return resolved or portfolio_id_for(former or name)


def _plan_group(
    change: Mapping[str, Any], book: ScheduleBook, after: FeeSchedule | None
) -> tuple[PlannedChange, dict[str, Any] | None]:
    """A schedule on the combined assets of the members the filing names: each name maps to
    the portfolio on record (any former name counts), else to a slug."""
    group: Mapping[str, Any] = change.get("group") or {}
    names = [str(n) for n in (group.get("members") or [])] if isinstance(group, Mapping) else []
    if not names:
        reason = "the filing names no members for this group schedule"
        return PlannedChange(None, None, "group", "group", None, after, refused=reason), None
    formerly: Mapping[str, str] = group.get("formerly") or {}
    ids = [_portfolio_id(book, n, formerly.get(n)) for n in names]
    # A former name not on record: the member is recorded under its name as written.
    kept = {n: f for n, f in formerly.items() if book.resolve(f)}
    fixed = {**change, "group": {**group, "member_ids": ids, "formerly": kept or None}}
    shown = "group of " + ", ".join(names)
    return PlannedChange(shown, ", ".join(ids), "group", "group", None, after), fixed


@dataclass(frozen=True, slots=True)
class IngestOptions:
    """How to read and record one filing (`feeschedule ingest`'s options)."""

    agreement: str | None = None
    override: Mapping[str, Any] | None = None
    strict: bool = False
    skip_unparseable: bool = False
    # A restated schedule's omissions are removals only when asked (see `_restated`).
    apply_removals: bool = False
    dry_run: bool = False
    day_count: str = "ACT/365F"
    rounding: str = "ROUND_HALF_UP:0.01"
    deadline_s: float = DEFAULT_DEADLINE_S


@dataclass
class Ingested:
    """What became of a filing: its plan and the commands recorded (none on a dry run), or
    the log entry that recorded the same document before."""

    sha256: str
    plan: IngestPlan | None = None
    recorded: list[tuple[AgreementCommand, AppendResult]] = field(default_factory=list)
    seen: str | None = None


def ingest_document(
    log: EventLog,
    raw: bytes,
    options: IngestOptions = IngestOptions(),
    on_plan: Callable[[IngestPlan, str | None], None] = lambda plan, title: None,
) -> Ingested:
    """Parse a filing's bytes, plan it against the log, and record it once (by its sha256).

    `on_plan` sees the plan (and the document's title) before anything is recorded; raises
    UsageProblem when something cannot be recorded as read.
    """
    sha256 = hashlib.sha256(raw).hexdigest()
    key = f"document:{sha256}"
    if (seen := log.recorded(key)) is not None:
        return Ingested(sha256, seen=seen)
    reading = parse_filing(raw.decode("utf-8", errors="replace")).model_dump(
        by_alias=True, mode="json"
    )
    if options.override is not None:
        reading = apply_override(reading, options.override)
    plan = plan_ingest(
        reading,
        replay_book(log),
        agreement_id=options.agreement,
        sha256=sha256,
        strict=options.strict,
        skip_unparseable=options.skip_unparseable,
        apply_removals=options.apply_removals,
        day_count=options.day_count,
        rounding=options.rounding,
    )
    on_plan(plan, reading.get("document_title"))
    _refuse_unrecordable(plan)
    outcome = Ingested(sha256, plan)
    if options.dry_run or plan.command is None:
        return outcome
    recorder = Recorder(log, deadline_s=options.deadline_s)
    if plan.register is not None:
        outcome.recorded.append((plan.register, recorder.record(plan.register)))
    outcome.recorded.append((plan.command, recorder.record(plan.command, idempotency_key=key)))
    return outcome


def _refuse_unrecordable(plan: IngestPlan) -> None:
    if plan.refused:
        names = ", ".join(repr(c.portfolio) for c in plan.refused)
        raise UsageProblem(
            f"changes: {len(plan.refused)} cannot be recorded as read ({names}); supply them"
            " with --override FILE.json, or pass --skip-unparseable to record the rest"
        )
    if plan.problems:
        raise UsageProblem("; ".join(plan.problems))

"""The auditor site's queries: on a fold of the log kept current by following it (`LogFold`,
the audit replay's), the view models of its pages (a portfolio's schedule through valid time
as known at any moment, a day's fee explained, an amendment's changes with the schedules
before and after).

Every answer comes from the domain's own timeline and fee math (`ScheduleTimeline.schedule_on`,
`FeeSchedule.breakdown`): the site draws what the fee worker priced, never a second rule.
Money and rates stay Decimal here and travel as strings; only the chart turns them to floats.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from itertools import zip_longest
from typing import Any

from services.app.audit import LAST_SEQUENCE, LogFold, governed, retraction_json
from services.app.ledger import LedgerEntry
from services.domain.agreement import (
    GrantWaiver,
    RemovePortfolio,
    RenamePortfolio,
    SetFeeMethod,
    SetSchedule,
)
from services.domain.errors import DomainError
from services.domain.fees import DayCount, FeeSchedule
from services.domain.names import name_key
from services.domain.timeline import (
    KnownAt,
    RecordPoint,
    ScheduleTimeline,
    ScheduleVersion,
    VersionKind,
    _change_dates,
    is_known,
)
from services.mapping import provenance_json

DEFAULT_LEVELS = (Decimal(100_000_000), Decimal(500_000_000), Decimal(1_000_000_000))
MAX_LEVELS = 6


def parse_levels(raw: str | None) -> tuple[Decimal, ...]:
    """Asset levels from "100000000,5e8" style input (whole dollars); the defaults if empty."""
    if not raw or not raw.strip():
        return DEFAULT_LEVELS
    levels: list[Decimal] = []
    for part in raw.split(","):
        try:
            value = Decimal(part.strip().replace("_", ""))
        except ArithmeticError:
            raise DomainError("levels", part, "is not an amount of assets") from None
        if not value.is_finite() or value <= 0:
            raise DomainError("levels", part, "must be a positive amount of assets")
        levels.append(value)
    if len(levels) > MAX_LEVELS:
        raise DomainError("levels", raw, f"give at most {MAX_LEVELS} asset levels")
    return tuple(levels)


def _words(text: str) -> str:
    # "Small-Cap" finds "small cap": a search matches words, not punctuation.
    return " ".join(re.sub(r"[^0-9a-z]+", " ", name_key(text)).split())


def search(fold: LogFold, query: str, limit: int = 50) -> list[dict[str, Any]]:
    """Portfolios whose id or any name they have had contains `query`'s words (case and
    punctuation aside)."""
    wanted = _words(query)
    found = []
    for pid, timeline in sorted(fold.book.timelines.items()):
        names = list(dict.fromkeys(n.name for n in timeline.names))
        if any(wanted in _words(n) for n in (pid, *names)):
            found.append({"portfolio_id": pid, "name": timeline.name_on(date.max), "names": names})
    return found[:limit]


def _day(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _schedule_shown(schedule: FeeSchedule | None) -> dict[str, Any]:
    """A schedule as the pages show it: its tiers and its description (None where none)."""
    return {
        "tiers": None if schedule is None else schedule.as_json(),
        "describe": None if schedule is None else schedule.describe(),
    }


def _boundaries(timeline: ScheduleTimeline, known_at: KnownAt) -> list[date]:
    """The days the schedule may change on, as known at `known_at`: the timeline's own rule
    (`_change_dates`: a version takes effect, a waiver starts or ends), without the first
    day of the calendar it starts from unless a version takes effect on it."""
    visible = [v for v in timeline.versions if v.visible(known_at)]
    starts = {v.effective_from for v in visible}
    return sorted(d for d in _change_dates(visible) if d != date.min or d in starts)


def steps(
    timeline: ScheduleTimeline, known_at: KnownAt, levels: Sequence[Decimal]
) -> list[dict[str, Any]]:
    """The schedule through valid time: from each boundary day, the answer and the effective
    rate at each asset level (None where no schedule applies)."""
    out = []
    for day in _boundaries(timeline, known_at):
        answer = timeline.schedule_on(day, known_at)
        schedule, version = answer.schedule, answer.version
        number = None if version is None else version.provenance.amendment_number
        out.append(
            {
                "from": day.isoformat(),
                **_schedule_shown(schedule),
                "amendment_number": number,
                "waived": answer.waived,
                "rates_pct": [
                    None if schedule is None else str(schedule.effective_rate_pct(level))
                    for level in levels
                ],
            }
        )
    return out


def changed_since(timeline: ScheduleTimeline, known_at: KnownAt) -> list[dict[str, str | None]]:
    """The valid-time ranges whose schedule the log has learned differently since `known_at`
    (a later amendment, a retraction): [from, to) with to None for "onwards"."""
    if known_at is None:
        return []
    days = sorted({*_boundaries(timeline, known_at), *_boundaries(timeline, None)})

    def differs(day: date) -> bool:
        then, now = timeline.schedule_on(day, known_at), timeline.schedule_on(day, None)
        return (then.version, then.schedule) != (now.version, now.schedule)

    ranges: list[dict[str, str | None]] = []
    for day, following in zip_longest(days, days[1:]):
        if not differs(day):
            continue
        end = _day(following)
        if ranges and ranges[-1]["to"] == day.isoformat():
            ranges[-1]["to"] = end  # contiguous with the previous range: one range
        else:
            ranges.append({"from": day.isoformat(), "to": end})
    return ranges


def _version_json(v: ScheduleVersion, known_at: KnownAt) -> dict[str, Any]:
    retracted = v.retracted
    known = is_known(v.provenance.recorded, known_at)
    return {
        **provenance_json(v),
        "kind": v.kind.value,
        **_schedule_shown(v.schedule),
        "effective_from": v.effective_from.isoformat(),
        "effective_to": _day(v.effective_to),
        "known": known,
        "in_force": v.visible(known_at),
        "retracted": retraction_json(retracted),
        # What the log learned after `known_at`: recorded since, or retracted since.
        "changed_since": known_at is not None
        and (not known or (retracted is not None and not is_known(retracted, known_at))),
    }


def portfolio_view(
    fold: LogFold,
    name_or_id: str,
    known_at: KnownAt,
    levels: Sequence[Decimal] = DEFAULT_LEVELS,
    on: date | None = None,
) -> dict[str, Any]:
    """A portfolio's page: the step chart's data, the versions table, the answer on `on`, all
    as known at `known_at` (None: now), rows the log learned later marked; and the amendments
    that name it."""
    timeline = fold.timeline(name_or_id)
    governs = governed(timeline, known_at)
    versions = []
    for v in sorted(timeline.versions, key=lambda v: v.provenance.recorded.key):
        row = _version_json(v, known_at)
        start, end = governs.get(id(v), (v.effective_from, v.effective_to))
        row["governs_from"], row["governs_to"] = start.isoformat(), _day(end)
        versions.append(row)
    view: dict[str, Any] = {
        "portfolio_id": timeline.portfolio_id,
        "name": timeline.name_on(date.max, known_at),
        "names": list(dict.fromkeys(n.name for n in timeline.names if n.visible(known_at))),
        "known_at": None if known_at is None else str(known_at),
        "levels": [str(level) for level in levels],
        "steps": steps(timeline, known_at, levels),
        "changed_since": changed_since(timeline, known_at),
        "versions": versions,
    }
    if on is not None:
        answer = timeline.schedule_on(on, known_at)
        view["on"] = {
            "date": on.isoformat(),
            **_schedule_shown(answer.schedule),
            "set_by": None if answer.version is None else provenance_json(answer.version),
        }
    view["amendments"] = [
        {"agreement_id": a.agreement_id, "amendment_number": a.amendment.number}
        for a in fold.amendments
        if timeline.portfolio_id in a.amendment.portfolio_ids
    ]
    return view


def _schedule_named(timeline: ScheduleTimeline, ref: dict[str, Any]) -> FeeSchedule | None:
    """The schedule of the version a ledger entry's `schedule_ref` names (its waiver, if so)."""
    waiver = bool(ref.get("waiver"))
    for v in timeline.versions:
        if v.provenance.event_id == ref["event_id"] and (v.kind is VersionKind.WAIVER) == waiver:
            return v.schedule
    return None


def day_explanation(fold: LogFold, entry: LedgerEntry) -> dict[str, Any]:
    """Why a day's fee is what it is: the ledger entry's facts (those of its FeeAccrued event)
    with the tiers of the schedule it names and each band's charge on the priced net assets."""
    as_of = date.fromisoformat(entry.as_of)
    ref, timeline = entry.schedule_ref, fold.book.timelines.get(entry.portfolio_id)
    schedule = None if ref is None or timeline is None else _schedule_named(timeline, ref)
    assets = Decimal(entry.priced_net_assets)
    bands = [] if schedule is None else schedule.breakdown(assets)
    return {
        "portfolio_id": entry.portfolio_id,
        "as_of": entry.as_of,
        "accrual_id": entry.accrual_id,
        "schedule_ref": ref,
        "tiers": None if schedule is None else schedule.as_json(),
        "bands": [
            {
                **band.tier.as_json(),
                "assets_in_band": f"{band.assets_in_band:f}",
                "annual_charge": f"{band.annual_charge:f}",
            }
            for band in bands
        ],
        "annual_fee": None if schedule is None else f"{schedule.annual_fee(assets):f}",
        "effective_rate_pct": None
        if schedule is None
        else f"{schedule.effective_rate_pct(assets):f}",
        "net_assets": entry.net_assets,
        "priced_net_assets": entry.priced_net_assets,
        "accrual_days": entry.accrual_days,
        "day_count": entry.day_count,
        "year_basis": DayCount.parse(entry.day_count).year_basis(as_of),
        "rounding": entry.rounding,
        "amount_exact": entry.amount_exact,
        "amount": entry.amount,
        "accrued": entry.accrued,
        "gross": entry.gross,
        "waived": entry.waived,
        "report_id": entry.report_id,
        "revision": entry.revision,
        "adjustments": list(entry.adjustments),
    }


def _change_json(change: object) -> dict[str, Any]:
    """One change of an amendment as the page lists it."""
    match change:
        case SetSchedule(pid, name, schedule, action):
            return {"action": action, "portfolio_id": pid, "name": name,
                    **_schedule_shown(schedule)}  # fmt: skip
        case GrantWaiver(pid, schedule, start, end, name):
            return {"action": "waiver", "portfolio_id": pid, "name": name,
                    **_schedule_shown(schedule),
                    "period_from": start.isoformat(), "period_to": end.isoformat()}  # fmt: skip
        case RemovePortfolio(pid):
            return {"action": "remove", "portfolio_id": pid}
        case RenamePortfolio(pid, new_name, former):
            return {"action": "rename", "portfolio_id": pid, "name": new_name, "former": former}
        case SetFeeMethod(method, over):
            return {"action": "fee_method", "portfolio_id": "", "method": str(method.value),
                    "average_over": str(over.value)}  # fmt: skip
    return {"action": type(change).__name__, "portfolio_id": getattr(change, "portfolio_id", "")}


def _just_before(point: RecordPoint) -> str:
    """The log position just before `point` (what the log knew before it was recorded)."""
    ms, _, seq = point.position.partition("-")
    if int(seq or 0) > 0:
        return f"{ms}-{int(seq) - 1}"
    return f"{int(ms) - 1}-{LAST_SEQUENCE}"


def amendment_view(fold: LogFold, agreement_id: str, number: int) -> dict[str, Any]:
    """An amendment's page: its changes, the filing it was read from, and per portfolio the
    schedule on its effective date as the log knew it just before and just after recording."""
    applied = fold.amendment(agreement_id, number)
    amendment, point = applied.amendment, applied.point
    on = amendment.effective_date
    known = (_just_before(point), point.position)  # just before and just after recording
    compared = []
    for pid in amendment.portfolio_ids:
        timeline = fold.book.timelines.get(pid)
        if timeline is None:
            continue
        row: dict[str, Any] = {"portfolio_id": pid}
        for side, at in zip(("old", "new"), known, strict=True):
            shown = _schedule_shown(timeline.schedule_on(on, at).schedule)
            row[side], row[f"{side}_describe"] = shown["tiers"], shown["describe"]
        compared.append(row)
    retracted = fold.retraction_of(agreement_id, number)
    source = amendment.source
    return {
        "agreement_id": agreement_id,
        "amendment_number": number,
        "effective_date": on.isoformat(),
        "executed_date": None if amendment.executed_date is None else str(amendment.executed_date),
        "event_id": applied.event_id,
        "position": point.position,
        "recorded_at": point.recorded_at.isoformat(),
        "retracted": None if retracted is None else retracted.point.position,
        "source": {"title": source.title, "sha256": source.sha256, "url": source.url},
        "changes": [_change_json(c) for c in amendment.changes],
        "schedules": compared,
    }


# What the page shows of each adjustment the ledger keeps (its cause besides).
ADJUSTMENT_KEYS = ("adjustment_id", "reason", "delta", "previous_amount", "new_amount", "posted_in")


def adjustments_of(entries: Iterable[LedgerEntry]) -> list[dict[str, Any]]:
    """Each adjustment of the entries with its cause: a revised report names its revision;
    otherwise new schedule knowledge, whose amendment the entry's schedule names (the ledger
    keeps the schedule of its latest pricing, so earlier adjustments name no amendment)."""
    out = []
    for e in entries:
        for i, a in enumerate(e.adjustments):
            cause = None
            if a.get("reason") == "revised_report":
                cause = f"report {e.report_id} revision {e.revision}"
            elif i == len(e.adjustments) - 1 and e.schedule_ref is not None:
                ref = e.schedule_ref
                cause = f"Amendment No. {ref['amendment_number']} of {ref['agreement_id']}"
            shown = {k: a.get(k) for k in ADJUSTMENT_KEYS}
            out.append({"as_of": e.as_of, **shown, "cause": cause})
    return out

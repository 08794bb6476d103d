"""Translation between the wire contracts and the domain model (both directions).

The domain never imports contracts; adapters and commands go through here.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from contracts.messages import (
    AgreementRegistered,
    AmendmentRecorded,
    AmendmentRetracted,
    FeeMethodChange,
    GroupScheduleChange,
    Message,
    Period,
    RemovePortfolioChange,
    RenamePortfolioChange,
    ScheduleRef,
    SetScheduleChange,
    SourceRef,
    TierSpec,
    WaiverChange,
)
from contracts.messages import Change as WireChange
from services.domain.agreement import (
    Amendment,
    AmendmentApplied,
    Change,
    GrantWaiver,
    InvoiceTolerance,
    LogEvent,
    Registered,
    Registration,
    RemovePortfolio,
    RenamePortfolio,
    Retracted,
    SetFeeMethod,
    SetGroupSchedule,
    SetSchedule,
    SourceDocument,
)
from services.domain.basis import FeeBase
from services.domain.book import ScheduleBook
from services.domain.fees import DayCount, FeeSchedule, RoundingPolicy, Tier
from services.domain.group import Allocation, GroupTerms
from services.domain.month import AverageOver, FeeMethod
from services.domain.timeline import (
    Provenance,
    RecordPoint,
    ScheduleAnswer,
    ScheduleVersion,
    VersionKind,
    as_utc,
)


def schedule_from_tiers(tiers: list[TierSpec]) -> FeeSchedule:
    return FeeSchedule(tuple(Tier(t.lower, t.upper, t.rate_pct) for t in tiers))


def tiers_from_schedule(schedule: FeeSchedule) -> list[TierSpec]:
    return [TierSpec(lower=t.lower, upper=t.upper, rate_pct=t.rate_pct) for t in schedule.tiers]


def change_from_wire(change: WireChange) -> Change:
    if isinstance(change, SetScheduleChange):
        return SetSchedule(
            change.portfolio_id,
            change.portfolio_name,
            schedule_from_tiers(change.tiers),
            change.action,
        )
    if isinstance(change, RemovePortfolioChange):
        return RemovePortfolio(change.portfolio_id)
    if isinstance(change, RenamePortfolioChange):
        return RenamePortfolio(change.portfolio_id, change.new_name, change.former_name)
    if isinstance(change, FeeMethodChange):
        return SetFeeMethod(FeeMethod(change.method), AverageOver(change.average_over))
    if isinstance(change, GroupScheduleChange):
        terms = GroupTerms(change.group_id, tuple(change.members), Allocation(change.allocation))
        return SetGroupSchedule(terms, schedule_from_tiers(change.tiers))
    return GrantWaiver(
        change.portfolio_id,
        schedule_from_tiers(change.tiers),
        change.period.start,
        change.period.end,
        change.portfolio_name,
    )


def change_to_wire(change: Change) -> WireChange:
    if isinstance(change, SetSchedule):
        return SetScheduleChange(
            action=change.action,
            portfolio_id=change.portfolio_id,
            portfolio_name=change.portfolio_name,
            tiers=tiers_from_schedule(change.schedule),
        )
    if isinstance(change, RemovePortfolio):
        return RemovePortfolioChange(action="remove", portfolio_id=change.portfolio_id)
    if isinstance(change, RenamePortfolio):
        return RenamePortfolioChange(action="rename", **asdict(change))
    if isinstance(change, SetFeeMethod):
        return FeeMethodChange(
            action="fee_method", method=change.method.value, average_over=change.average_over.value
        )
    if isinstance(change, SetGroupSchedule):
        return GroupScheduleChange(
            action="group",
            group_id=change.group.group_id,
            members=list(change.group.members),
            tiers=tiers_from_schedule(change.schedule),
            allocation=change.group.allocation.value,
        )
    return WaiverChange(
        action="waiver",
        portfolio_id=change.portfolio_id,
        portfolio_name=change.portfolio_name,
        tiers=tiers_from_schedule(change.schedule),
        period=Period(start=change.period_from, end=change.period_to),
    )


def amendment_from_wire(msg: AmendmentRecorded) -> Amendment:
    return Amendment(
        agreement_id=msg.agreement_id,
        number=msg.amendment_number,
        effective_date=msg.effective_date,
        changes=tuple(change_from_wire(c) for c in msg.changes),
        executed_date=msg.executed_date,
        source=SourceDocument(msg.source.title, msg.source.sha256, msg.source.url),
    )


def amendment_to_wire(amendment: Amendment, **envelope: object) -> AmendmentRecorded:
    return AmendmentRecorded.model_validate(
        {
            **envelope,
            "agreement_id": amendment.agreement_id,
            "amendment_number": amendment.number,
            "effective_date": amendment.effective_date,
            "executed_date": amendment.executed_date,
            "source": SourceRef(**asdict(amendment.source)),
            "changes": [change_to_wire(c) for c in amendment.changes],
        }
    )


def registration_from_wire(msg: AgreementRegistered) -> Registration:
    return Registration(
        agreement_id=msg.agreement_id,
        agreement_date=msg.agreement_date,
        trust=msg.trust,
        adviser=msg.adviser,
        day_count=DayCount(msg.day_count),
        rounding=RoundingPolicy.parse(msg.rounding),
        currency=msg.currency,
        fee_base=FeeBase(msg.fee_base),
        fee_method=FeeMethod(msg.fee_method),
        average_over=AverageOver(msg.average_over),
        invoice_tolerance=InvoiceTolerance(msg.invoice_tolerance, msg.invoice_tolerance_pct),
    )


def event_from_wire(message: Message, position: str) -> LogEvent | None:
    """An agreements-log entry as the domain's event; None for other message types."""
    point = RecordPoint(as_utc(message.occurred_at), position)
    if isinstance(message, AgreementRegistered):
        return Registered(registration_from_wire(message), point)
    if isinstance(message, AmendmentRecorded):
        return AmendmentApplied(amendment_from_wire(message), message.event_id, point)
    if isinstance(message, AmendmentRetracted):
        return Retracted(message.agreement_id, message.amendment_number, point)
    return None


def apply_to_book(book: ScheduleBook, message: Message, position: str) -> None:
    """Fold one agreements-log event into the book; other message types are ignored."""
    event = event_from_wire(message, position)
    if event is not None:
        book.apply(event)


def schedule_ref(version: ScheduleVersion) -> ScheduleRef:
    return amendment_ref(version.provenance, waiver=version.kind is VersionKind.WAIVER)


def amendment_ref(p: Provenance, *, waiver: bool = False) -> ScheduleRef:
    """The amendment a fact came from, as the wire names it."""
    return ScheduleRef(
        agreement_id=p.agreement_id,
        amendment_number=p.amendment_number,
        effective_date=p.effective_date,
        event_id=p.event_id,
        position=p.recorded.position,
        waiver=waiver,
    )


def provenance_json(v: ScheduleVersion) -> dict[str, Any]:
    """Where a version came from, as every answer and history shows it (and, for a group's
    schedule, the group whose combined assets it prices)."""
    p = v.provenance
    shown: dict[str, Any] = {
        "agreement_id": p.agreement_id,
        "amendment_number": p.amendment_number,
        "amendment_effective_date": p.effective_date.isoformat(),
        "action": v.action,
        "waiver": v.kind is VersionKind.WAIVER,
        "event_id": p.event_id,
        "position": p.recorded.position,
        "recorded_at": p.recorded.recorded_at.isoformat(),
    }
    if v.group is not None:
        shown["group"] = {
            "group_id": v.group.group_id,
            "members": list(v.group.members),
            "allocation": v.group.allocation.value,
        }
    return shown


def answer_json(answer: ScheduleAnswer, name: str | None) -> dict[str, Any]:
    """Which schedule applied on a day, and the versions that put it there (the read model
    stores this; the audit answers add where and when it was asked)."""
    version = answer.version
    return {
        "name": name,
        "removed": version is not None and version.kind is VersionKind.REMOVE,
        "tiers": None if answer.schedule is None else answer.schedule.as_json(),
        "set_by": None if version is None else provenance_json(version),
        "waived_schedule_set_by": None if answer.base is None else provenance_json(answer.base),
    }

"""The reading of one filing: pydantic models whose JSON uses the corpus field names.

``FilingReading.model_dump(by_alias=True, mode="json")`` has exactly the fields of the corpus's
``expected/*.json`` (minus the curator-only ``source_url`` and ``notes``).  Optional per-change
extras (``schedule_before``, ``rates_as_written``, ``row_effective_date``, ``group``) appear
only when set, and so does the
top-level ``sections`` (the documents of a full submission, read or skipped).
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

__all__ = [
    "ChangeReading",
    "FilingReading",
    "GroupReading",
    "Period",
    "ScheduleReading",
    "SectionReading",
    "TierReading",
]


class _Reading(BaseModel):
    """A model whose optional fields named in ``_unset_dropped`` are left out when None."""

    _unset_dropped: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _drop_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if v is not None or k not in self._unset_dropped}


class _Part(BaseModel):
    """A value of a reading, frozen; its fields taken by Python name too (``from_``)."""

    model_config = ConfigDict(populate_by_name=True, frozen=True)


class TierReading(_Part):
    """A marginal band: ``rate_pct`` applies to assets from ``from`` up to ``to`` (None: no cap)."""

    from_: int = Field(alias="from")
    to: int | None
    rate_pct: str  # percent exactly as written ("0.650"); basis points converted to percent


class ScheduleReading(_Part):
    tiers: list[TierReading]


class Period(_Part):
    from_: date = Field(alias="from")
    to: date | None


class GroupReading(_Reading, _Part):
    """The portfolios whose combined assets a group schedule (``action: "group"``) is on, by
    name exactly as the document writes them (footnote markers dropped), and ``formerly``: a
    member's former name where its row gives one.  The shape is the amendment file's group
    change (contracts/amendment_file.py), which ingest records."""

    _unset_dropped = ("formerly",)

    members: list[str]
    formerly: dict[str, str] | None = None


class ChangeReading(_Reading):
    _unset_dropped = ("schedule_before", "rates_as_written", "row_effective_date", "group")

    action: str  # add | revise | replace_in_whole | waiver | remove | group
    portfolio: str | None
    formerly: str | None = None
    schedule: ScheduleReading | None = None
    period: Period | None = None
    parseable: bool = False
    note: str | None = None
    schedule_before: ScheduleReading | None = None
    rates_as_written: list[str] | None = None
    row_effective_date: date | None = None  # a per-row "Effective Date" column's date
    # A schedule on the combined assets of several portfolios (then ``portfolio`` is None).
    group: GroupReading | None = None


class SectionReading(_Part):
    """One document of a full submission: read (it amends fees) or skipped, and why."""

    document: str  # "EX-99.D.1 (ex99d1.htm)"
    read: bool
    reason: str


class FilingReading(_Reading):
    _unset_dropped = ("sections",)

    document_title: str | None = None
    trust: str | None = None
    adviser: str | None = None
    agreement_date: date | None = None
    amendment_number: int | None = None
    effective_date: date | None = None
    kind: str = "amendment"  # amendment | fee_waiver | agreement | other
    prior_amendment_dates: list[date] = Field(default_factory=list)
    changes: list[ChangeReading] = Field(default_factory=list)
    agreement_type: str = "unknown"  # management | subadvisory | fee_waiver | administration
    truncated: bool = False
    sections: list[SectionReading] | None = None  # a full submission's documents only

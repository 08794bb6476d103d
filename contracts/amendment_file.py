"""The amendment file that `feeschedule amend --file` takes: the reading of one filed amendment.

It has the shape of the readings `feeschedule parse --json` prints (the corpus's field names),
plus an optional top-level `agreement_id` and per-change `portfolio_id`, under the wire's rules
(contracts/README.md): tier bounds and rates are decimal strings, never JSON numbers; dates are
`YYYY-MM-DD`; `amendment_number` is a JSON integer; unknown fields are refused. Which fields a
change needs follows from its `action` (a waiver needs a period, a remove no schedule).

contracts/schemas/AmendmentFile.json is generated from this model, and
services/app/amendment_file.py validates every file with it: the schema and the reader are
one rule. contracts/examples/amendment.json is the example below, written out by
`python -m contracts.generate`.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from contracts.message_examples import TIERS_22
from contracts.messages import (
    AverageOverName,
    Contract,
    Count,
    Date,
    FeeMethodName,
    Id,
    Name,
    Period,
    StrictBool,
    Tiers,
)

Text = Annotated[str, Field(max_length=2000)]
# A name must say something: not empty, not only spaces.
PortfolioName = Annotated[Name, Field(pattern=r"\S")]
RatesAsWritten = Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=50)]


def _json_boolean(value: Any) -> Any:
    # Literal[True] alone would take 1 for true, as Python's 1 == True.
    if not isinstance(value, bool):
        raise PydanticCustomError("bool_type", "must be true or false")
    return value


class FileSchedule(Contract):
    """A fee schedule: marginal bands from 0, contiguous, the last one open-ended (`to`: null)."""

    tiers: Tiers


class _FileChange(Contract):
    portfolio: PortfolioName
    portfolio_id: Id | None = None
    formerly: PortfolioName | None = Field(
        default=None, description="The portfolio's former name: the change also renames it."
    )
    parseable: Annotated[Literal[True], BeforeValidator(_json_boolean)] = Field(
        default=True,
        description="A reading marked false (not read with certainty) is refused with its note"
        " until the file supplies the change fixed.",
    )
    note: Text | None = None
    # What `feeschedule parse --json` adds when it has them; informational.
    schedule_before: FileSchedule | None = None
    rates_as_written: RatesAsWritten | None = None


class SetScheduleFileChange(_FileChange):
    """Puts a portfolio on the schedule (`add`) or sets its schedule (`revise`, `replace`)."""

    action: Literal["add", "revise", "replace", "replace_in_whole"]
    schedule: FileSchedule
    period: None = None


class WaiverFileChange(_FileChange):
    """The fee after waiver for a period (both ends included)."""

    action: Literal["waiver"]
    schedule: FileSchedule
    period: Period


class RemoveFileChange(_FileChange):
    action: Literal["remove"]
    schedule: None = None
    period: None = None


class RenameFileChange(_FileChange):
    """Renames the portfolio named `formerly` to `portfolio` (it keeps its id); with a schedule,
    also sets it."""

    action: Literal["rename"]
    schedule: FileSchedule | None = None
    period: None = None


class FeeMethodFileChange(Contract):
    """Sets the agreement's fee method (how its month's fee is computed) from the amendment's
    effective date; names no portfolio."""

    action: Literal["fee_method"]
    method: FeeMethodName
    average_over: AverageOverName = "calendar_days"
    note: Text | None = None


class FileGroup(Contract):
    """The portfolios whose combined net assets a group schedule prices (by name as the
    document names them; `member_ids` when known), and the group's id (default: a slug of the
    member names)."""

    group_id: Id | None = None
    members: list[PortfolioName] = Field(min_length=1, max_length=200)
    member_ids: list[Id] | None = None
    # A member renamed by the same amendment: its name -> its former name (it keeps its id).
    formerly: dict[PortfolioName, PortfolioName] | None = None


class GroupFileChange(Contract):
    """A schedule on the combined net assets of `group.members`: each member pays its share."""

    action: Literal["group"]
    group: FileGroup
    schedule: FileSchedule
    allocation: Literal["pro_rata", "effective_rate"] = "pro_rata"
    portfolio: None = None
    formerly: None = None
    period: None = None
    parseable: Annotated[Literal[True], BeforeValidator(_json_boolean)] = True
    note: Text | None = None
    schedule_before: FileSchedule | None = None
    rates_as_written: RatesAsWritten | None = None


FileChange = Annotated[
    SetScheduleFileChange
    | WaiverFileChange
    | RemoveFileChange
    | RenameFileChange
    | FeeMethodFileChange
    | GroupFileChange,
    Field(discriminator="action"),
]

AMENDMENT_FILE_EXAMPLE: dict[str, Any] = {
    "agreement_id": "met-investors",
    "document_title": "Amendment No. 22 to Management Agreement",
    "trust": "Met Investors Series Trust",
    "adviser": "Met Investors Advisory Corp.",
    "agreement_date": "2000-12-08",
    "amendment_number": 22,
    "effective_date": "2006-11-01",
    "changes": [
        {
            "action": "revise",
            "portfolio": "Met/AIM Small Cap Growth Portfolio",
            "portfolio_id": "met-aim-small-cap-growth-portfolio",
            "schedule": {"tiers": TIERS_22},
            "note": "0.88% of the first $500 million, 0.83% of the assets over $500 million",
        }
    ],
}
"""An amendment file written by this project (the facts of the demo's Amendment No. 22)."""


class AmendmentFile(Contract):
    """One filed amendment as `feeschedule amend --file` records it."""

    model_config = ConfigDict(json_schema_extra={"examples": [AMENDMENT_FILE_EXAMPLE]})
    SCHEMA_VERSION: ClassVar[int] = 1

    agreement_id: Id | None = Field(
        default=None,
        description="Default: `--agreement`, else a slug of trust, agreement type and date.",
    )
    document_title: Text | None = None
    source_url: Text | None = None
    source_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    trust: Text | None = None
    adviser: Text | None = None
    agreement_date: Date | None = None
    agreement_type: (
        Literal["management", "subadvisory", "fee_waiver", "administration", "unknown"] | None
    ) = None
    kind: Annotated[str, Field(max_length=100)] | None = None
    amendment_number: Count
    effective_date: Date
    executed_date: Date | None = None
    prior_amendment_dates: list[Date] = Field(default_factory=list, max_length=500)
    truncated: StrictBool = False
    notes: Text | None = None
    changes: list[FileChange] = Field(min_length=1, max_length=500)

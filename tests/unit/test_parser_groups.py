"""Aggregated-asset schedules (issue 14, item 4): read as a group only when members and tiers
are certain, never as a single portfolio's schedule.

The amendments here are written for these tests (no filed text is copied).  The last tests run
over both corpora: every change the curators refused as aggregated comes out either as a group
reading that agrees with their note and the text, or ``parseable: false``.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.parsing.command import parse_command
from services.parsing.filing import read_filing
from services.parsing.groups import aggregate_members
from services.parsing.model import ChangeReading, FilingReading
from tests.unit.corpus_measure import aggregated, group_problem, load

M = 1_000_000
B = 1_000_000_000

_HEAD = """AMENDMENT TO SUB-ADVISORY AGREEMENT BETWEEN SAMPLE ADVISERS, INC. AND \
SAMPLE SUB-ADVISER LLC
THIS AMENDMENT is made as of March 1, 2021, to the Sub-Advisory Agreement dated as of May 2, \
2016, as amended (the "Agreement"), between Sample Advisers, Inc. and Sample Sub-Adviser LLC.
Schedule A. Schedule A to the Agreement is hereby deleted entirely and replaced as follows:
PORTFOLIOS | SUB-ADVISER COMPENSATION1 | |
"""


def _doc(rows: str, notes: str) -> FilingReading:
    return read_filing(_HEAD + rows + notes, cut=False)


def _tiers(change: ChangeReading) -> list[tuple[int, int | None, Decimal]]:
    assert change.schedule is not None
    return [(t.from_, t.to, Decimal(t.rate_pct)) for t in change.schedule.tiers]


def _single_confident(reading: FilingReading) -> list[ChangeReading]:
    """Changes read as one portfolio's certain schedule."""
    return [c for c in reading.changes if c.parseable and c.group is None]


ROWS = """Sample River Fund |
0.50% of the first $500 million; 0.45% over $500 million up to $1 billion; \
0.40% over $1 billion2 | |
Sample Meadow Fund |
0.30% of average daily net assets | |
"""
NOTE_1 = "1 | As a percentage of average daily net assets on an annual basis. |\n"


def test_group_read_with_its_members() -> None:
    notes = NOTE_1 + (
        "2 | The average daily net assets for the purpose of calculating sub-advisory fees will "
        "be determined based on the aggregate average daily net assets of Sample River Fund, a "
        "series of the Trust, and Sample Creek Fund, a series of Sample Other Trust. |\n"
    )
    reading = _doc(ROWS, notes)
    group, meadow = reading.changes
    assert group.action == "group" and group.parseable and group.portfolio is None
    assert group.group is not None
    assert group.group.members == ["Sample River Fund", "Sample Creek Fund"]
    assert _tiers(group) == [
        (0, 500 * M, Decimal("0.50")),
        (500 * M, B, Decimal("0.45")),
        (B, None, Decimal("0.40")),
    ]
    assert meadow.portfolio == "Sample Meadow Fund" and meadow.parseable
    assert meadow.group is None
    data = reading.model_dump(by_alias=True, mode="json")["changes"]
    assert data[0]["group"]["members"] == ["Sample River Fund", "Sample Creek Fund"]
    assert data[0]["action"] == "group" and data[0]["portfolio"] is None
    assert data[0]["parseable"] is True and data[0]["schedule"]["tiers"][0]["from"] == 0
    assert "group" not in data[1]


GROUP_NOTES = NOTE_1 + (
    "2 | The fees will be based on the aggregate average daily net assets of Sample River "
    "Fund, a series of the Trust, and Sample Creek Fund, a series of Sample Other Trust. |\n"
)


def test_parse_command_shows_the_group(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    filing = tmp_path / "amendment.txt"
    filing.write_text(_HEAD + ROWS + GROUP_NOTES, encoding="utf-8")
    assert parse_command(filing, json_output=True) == 0
    change = json.loads(capsys.readouterr().out)["changes"][0]
    assert change["action"] == "group" and change["portfolio"] is None
    assert change["group"]["members"] == ["Sample River Fund", "Sample Creek Fund"]
    assert parse_command(filing, json_output=False) == 0
    assert "group of" in capsys.readouterr().out  # the table folds the members over lines


def test_a_renamed_member_is_grouped_with_its_former_name() -> None:
    """The group change carries the rename (member -> former name): ingest keeps the member's
    id and records the rename beside the group."""
    rows = ROWS.replace("Sample River Fund |", "Sample River Fund (formerly Sample Stream Fund) |")
    river = _doc(rows, GROUP_NOTES).changes[0]
    assert river.action == "group" and river.parseable and river.group is not None
    assert river.group.formerly == {"Sample River Fund": "Sample Stream Fund"}
    data = _doc(ROWS, GROUP_NOTES).model_dump(by_alias=True, mode="json")["changes"][0]
    assert "formerly" not in data["group"]  # only when a member was renamed


def test_group_of_three_and_combined_basis_with() -> None:
    three = NOTE_1 + (
        "2 | The calculation of the fees will be based on the combined average daily net assets "
        "of Sample Lake Fund, Sample River Fund and Sample Pond Fund. |\n"
    )
    found = _doc(ROWS, three).changes[0].group
    assert found is not None
    assert found.members == [
        "Sample Lake Fund",
        "Sample River Fund",
        "Sample Pond Fund",
    ]
    beside = NOTE_1 + (
        "2 | The average daily net assets for the purpose of calculating fees will be "
        "determined on a combined basis with Sample Creek Fund (a series of Sample Other "
        "Trust). |\n"
    )
    group = _doc(ROWS, beside).changes[0]
    assert group.parseable and group.group is not None
    assert group.group.members == ["Sample River Fund", "Sample Creek Fund"]


@pytest.mark.parametrize(
    "footnote",
    [
        # a portion of a fund's assets: which assets count is not a list of portfolios
        "based on the aggregate average daily net assets of Sample River Fund and the portion of "
        "the assets of Sample Creek Fund that is sub-advised by the Sub-Adviser.",
        # the footnote is cut inside the list
        "determined based on the aggregate average daily net assets of Sample River Fund, a se",
        # members described, not named
        "based on the aggregate average daily net assets of all funds advised by the Adviser.",
        # an 'and' that may belong to a name
        "based on the combined average daily net assets of Sample River Fund and Sample Growth "
        "and Income Fund.",
        # a second sentence may change the fee
        "based on the aggregate average daily net assets of Sample River Fund and Sample Creek "
        "Fund. The Sub-Adviser agrees to waive 0.05% of its fee.",
        # the row's own portfolio is not among the members
        "based on the aggregate average daily net assets of Sample Creek Fund and Sample Lake "
        "Fund.",
    ],
)
def test_uncertain_members_stay_unparseable(footnote: str) -> None:
    notes = NOTE_1 + f"2 | The average daily net assets will be {footnote} |\n"
    reading = _doc(ROWS, notes)
    river = reading.changes[0]
    assert river.portfolio == "Sample River Fund" and river.group is None
    assert not river.parseable and river.note
    assert [c.portfolio for c in _single_confident(reading)] == ["Sample Meadow Fund"]


def test_member_reasons_are_given() -> None:
    why = aggregate_members(
        "The fee will be based on the aggregate net assets of Sample River Fund and the portion "
        "of the assets of Sample Creek Fund that is managed by the Adviser.",
        "Sample River Fund",
    )
    assert isinstance(why, str) and why.startswith("aggregated assets")


COMBINED_TEXTS = [
    # in the fee cell itself
    _HEAD + "Sample River Fund |\n0.50% of the combined assets of Sample River Fund and Sample "
    "Creek Fund | |\n",
    # in the schedule's prose before the table
    _HEAD.replace(
        "replaced as follows:",
        "replaced as follows. The fee of each Portfolio below is computed on the combined assets "
        "of the Portfolios listed below:",
    )
    + "Sample River Fund |\n0.50% of the first $500 million; 0.45% over $500 million | |\n",
    # a footnote whose marker is on the name, saying combined net assets
    _HEAD + "Sample River Fund* |\n0.50% of the first $500 million; 0.45% over $500 million | |\n"
    "* Assets of the Portfolio are combined with those of other funds advised by the Adviser.\n",
    # a prose fee on aggregate assets of portfolios listed below
    "AMENDMENT NO. 3 TO THE MANAGEMENT AGREEMENT\nThe Agreement is hereby amended so that the "
    "Adviser shall receive a fee equal to 0.75% of the first $1 billion of the aggregate average "
    "daily net assets of the Portfolios listed below and 0.70% of such assets over $1 billion.\n"
    "Sample River Fund\nSample Creek Fund\n",
]


@pytest.mark.parametrize("text", COMBINED_TEXTS)
def test_combined_assets_never_a_single_portfolio_schedule(text: str) -> None:
    reading = read_filing(text, cut=False)
    assert not _single_confident(reading), reading.changes


LISTED = (
    "AMENDMENT NO. 3 TO THE MANAGEMENT AGREEMENT\nThe Agreement is hereby amended so that the "
    "Adviser shall receive a fee equal to 0.75% of the first $1 billion of the aggregate average "
    "daily net assets of the Portfolios listed below and 0.70% of such assets over $1 billion.\n"
    "Sample River Fund\nSample Creek Portfolio\n{extra}"
    "All other terms of the Agreement remain in full force and effect.\n"
)


def test_prose_group_of_the_portfolios_listed_below() -> None:
    (group,) = read_filing(LISTED.format(extra=""), cut=False).changes
    assert group.action == "group" and group.parseable and group.portfolio is None
    assert group.group is not None
    assert group.group.members == ["Sample River Fund", "Sample Creek Portfolio"]
    assert _tiers(group) == [(0, B, Decimal("0.75")), (B, None, Decimal("0.70"))]


@pytest.mark.parametrize(
    ("text", "cut"),
    [
        (LISTED.format(extra="Sample Lake Fund (formerly Sample Pond Fund)\n"), False),
        (LISTED.format(extra="").split("All other")[0], True),
        (
            LISTED.format(extra="")
            + "Provided, however, that the Board may change which funds are combined.\n",
            False,
        ),
    ],
)
def test_prose_group_with_doubt_stays_unparseable(text: str, cut: bool) -> None:
    reading = read_filing(text, cut=cut)
    assert reading.changes and not any(c.parseable for c in reading.changes)


def test_one_group_two_schedules_is_doubtful() -> None:
    rows = (
        "Sample River Fund2 |\n0.50% of the first $500 million; 0.45% over $500 million | |\n"
        "Sample Creek Fund2 |\n0.55% of the first $500 million; 0.45% over $500 million | |\n"
    )
    notes = NOTE_1 + (
        "2 | The fees will be based on the aggregate average daily net assets of Sample River "
        "Fund and Sample Creek Fund. |\n"
    )
    reading = _doc(rows, notes)
    assert len(reading.changes) == 2
    assert not any(c.parseable for c in reading.changes)


# ---------------------------------------------------------------- both corpora


def _corpora(corpus_dir: Path) -> list[Path]:
    override = os.environ.get("FEES_CORPUS_MORE_DIR")
    more = Path(override) if override else corpus_dir.parent / "corpus-more"
    if not (more / "docs").is_dir():
        pytest.skip(f"second corpus not found at {more}")
    return [corpus_dir, more]


def _aggregated_outcomes(corpus_dir: Path) -> list[tuple[str, dict[str, Any], str]]:
    """(doc, expected aggregated change, what the parser made of it)."""
    out = []
    for folder in _corpora(corpus_dir):
        for path in sorted((folder / "docs").glob("*.txt")):
            raw, expected = load(folder, path.stem)
            got = read_filing(raw).model_dump(by_alias=True, mode="json")["changes"]
            for exp in filter(aggregated, expected["changes"]):
                out.append((path.stem, exp, _outcome(exp, got, raw)))
    return out


def _outcome(exp: dict[str, Any], got: list[dict[str, Any]], raw: str) -> str:
    want = " ".join((exp.get("portfolio") or "").split()).casefold()
    for out in got:
        if out.get("action") == "group":
            members = [m.casefold() for m in (out.get("group") or {}).get("members", [])]
            if want and want in members:
                problem = group_problem(exp, out, raw)
                return "group" if problem is None else f"wrong group: {problem}"
        elif out["parseable"] and (out.get("portfolio") or "").casefold() == want:
            return "single portfolio's schedule"
        elif out["parseable"] and not want and out.get("portfolio") is None:
            return "single unnamed schedule"
    return "parseable false"


def test_every_aggregated_change_is_a_group_or_refused(corpus_dir: Path) -> None:
    outcomes = _aggregated_outcomes(corpus_dir)
    assert outcomes, "the corpora have aggregated changes"
    wrong = [
        (doc, exp["portfolio"], what)
        for doc, exp, what in outcomes
        if what
        not in (
            "group",
            "parseable false",
        )
    ]
    assert not wrong
    groups = sorted(doc for doc, _, what in outcomes if what == "group")
    print(f"\naggregated changes: {len(outcomes)}, read as groups: {len(groups)} {groups}")
    assert groups, "some aggregated change of the corpora has certain members and tiers"


# ---------------------------------------------------------------- properties

_WORD = st.sampled_from(["Sample", "River", "Creek", "Lake", "Growth", "Bond", "Value", "Global"])
_NAME = st.lists(_WORD, min_size=1, max_size=4).map(lambda ws: " ".join([*ws, "Fund"]))
_JOIN = st.sampled_from([", ", " and ", ", and ", " & ", ", the portion of ", " "])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_NAME, _JOIN), min_size=1, max_size=6), st.booleans())
def test_group_members_are_names_the_footnote_writes(
    listed: list[tuple[str, str]], ends: bool
) -> None:
    """Whatever the list, a certain reading names only portfolios written in the footnote,
    including the row's own, and a cut or run-on list is never certain."""
    text = "".join(name + join for name, join in listed[:-1]) + listed[-1][0]
    note = f"The fees will be based on the aggregate net assets of {text}" + ("." if ends else "")
    found = aggregate_members(note, listed[0][0])
    if isinstance(found, str):
        return
    assert ends
    assert listed[0][0] in found.members and len(found.members) >= 2
    assert all(m in text for m in found.members)
    assert len(found.members) == len({m.casefold() for m in found.members})


def test_a_group_reading_is_recorded_by_ingest_as_one_group_change() -> None:
    from services.app.ingest import plan_ingest
    from services.domain.book import ScheduleBook

    reading = _doc(ROWS, GROUP_NOTES).model_dump(by_alias=True, mode="json")
    reading["amendment_number"] = 4  # the written filing gives none
    plan = plan_ingest(reading, ScheduleBook(), agreement_id="sample")
    assert plan.command is not None, plan.problems
    group, meadow = plan.command.changes
    recorded = group.model_dump()
    assert recorded["action"] == "group"
    assert recorded["members"] == ["sample-river-fund", "sample-creek-fund"]
    assert [t["rate_pct"] for t in recorded["tiers"]] == [
        Decimal("0.50"),
        Decimal("0.45"),
        Decimal("0.40"),
    ]
    assert meadow.model_dump()["portfolio_id"] == "sample-meadow-fund"

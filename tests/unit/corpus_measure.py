"""Scoring parser readings against the hand-checked corpora (../shared/corpus, corpus-more).

Owns the measure of issue 12: an expected change is *read* when the parser produced a
``parseable: true`` change with the same portfolio, formerly, action category and tiers.
Expected and produced changes are paired by portfolio name (as the ingest pairs them), not by
position, so one extra or missing row does not shift every comparison after it.  The feature
tags of each document come from the corpus READMEs' file tables.

Aggregated-asset changes (issue 14): the curators mark them ``parseable: false`` with a note
saying the fee is on aggregate/combined assets.  The parser may instead read such a change as a
*group* (``action: "group"``, ``portfolio: null``, ``group.members``); :func:`group_problem`
checks that reading against the note and the text, and a group reading that passes counts
neither as wrong nor as an invention.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from services.domain.names import clean_written_name, name_key
from services.parsing.filing import read_filing

__all__ = [
    "DocScore",
    "aggregated",
    "category",
    "feature_tags",
    "group_problem",
    "score_document",
    "tiers",
]

# add/revise/replace/replace_in_whole all set a schedule: one category for this measure.
_SETS = frozenset({"add", "revise", "replace", "replace_in_whole"})
_TABLE_ROW = re.compile(r"^\|\s*docs/(\d{3})\.txt\s*\|.*\|\s*([^|]*?)\s*\|\s*$")


def category(action: str | None) -> str | None:
    return "set" if action in _SETS else action


def tiers(change: dict[str, Any] | None) -> list[tuple[int, int | None, Decimal]] | None:
    if not change or not change.get("schedule"):
        return None
    return [(t["from"], t["to"], Decimal(t["rate_pct"])) for t in change["schedule"]["tiers"]]


def _key(name: str | None) -> str | None:
    return name_key(clean_written_name(name)) if name else None


_AGGREGATED_NOTE = re.compile(r"\baggregat\w*|\bcombined\b", re.IGNORECASE)
_COUNTS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}
_COUNTED = re.compile(r"\b(two|three|four|five|six|seven|eight)\s+(?:funds|portfolios)\b", re.I)


def aggregated(exp: dict[str, Any]) -> bool:
    """An expected change the curators refused because its fee is on combined assets."""
    return not exp["parseable"] and bool(_AGGREGATED_NOTE.search(exp.get("note") or ""))


def group_problem(exp: dict[str, Any], out: dict[str, Any], raw: str) -> str | None:
    """Why a group reading of an aggregated expected change is not right (None: it is).

    Members must be portfolios the document names, include the expected change's portfolio and
    agree with the note (the note names the others, or says how many there are); the tiers
    must be the hand-checked ones and every rate must be written in the text."""
    if not aggregated(exp):
        return "the expected change is not an aggregated-asset one"
    if out.get("action") != "group" or out.get("portfolio") is not None or not out["parseable"]:
        return "not a parseable group reading"
    members = (out.get("group") or {}).get("members") or []
    text = " ".join(raw.split())
    note = " ".join((exp.get("note") or "").split())
    if _key(exp.get("portfolio")) not in {_key(m) for m in members}:
        return f"members {members} do not include {exp.get('portfolio')!r}"
    absent = [m for m in members if m not in text]
    if absent:
        return f"members not named in the document: {absent}"
    counted = _COUNTED.search(note)
    others = [m for m in members if _key(m) != _key(exp.get("portfolio"))]
    if counted is not None and _COUNTS[counted[1].lower()] != len(members):
        return f"{len(members)} members, the note says {counted[0]!r}"
    if counted is None and not all(m in note for m in others):
        return f"members {others} are not the ones the note names"
    if tiers(out) != tiers(exp):
        return f"tiers {tiers(out)} are not the hand-checked {tiers(exp)}"
    unwritten = [t["rate_pct"] for t in out["schedule"]["tiers"] if t["rate_pct"] not in text]
    if unwritten:
        return f"rates not in the text: {unwritten}"
    return None


def same_reading(exp: dict[str, Any], out: dict[str, Any]) -> bool:
    return (
        _key(out.get("portfolio")) == _key(exp.get("portfolio"))
        and _key(out.get("formerly")) == _key(exp.get("formerly"))
        and category(out.get("action")) == category(exp.get("action"))
        and tiers(out) == tiers(exp)
    )


@dataclass
class DocScore:
    doc: str
    read: list[bool] = field(default_factory=list)  # one per expected parseable:true change
    false_kept: list[bool] = field(default_factory=list)  # one per expected parseable:false
    invented: list[str] = field(default_factory=list)  # confident, for a portfolio not changed
    misread: list[str] = field(default_factory=list)  # confident, but not the expected reading
    missed: list[str] = field(default_factory=list)
    grouped: list[str] = field(default_factory=list)  # aggregated changes read as a right group


def _pair(expected: list[dict[str, Any]], got: list[dict[str, Any]]) -> list[int | None]:
    """For each expected change, the index of the produced change read for it (or None).
    Group readings are paired apart (:func:`_pair_groups`)."""
    used = {i for i, out in enumerate(got) if out.get("action") == "group"}
    out: list[int | None] = []
    for exp in expected:
        want = _key(exp.get("portfolio"))
        free = [i for i in range(len(got)) if i not in used]
        match = next((i for i in free if _key(got[i].get("portfolio")) == want), None)
        if match is None and want is not None:
            match = next((i for i in free if _key(got[i].get("formerly")) == want), None)
        if match is not None:
            used.add(match)
        out.append(match)
    return out


def _pair_groups(expected: list[dict[str, Any]], got: list[dict[str, Any]]) -> dict[int, int]:
    """Produced group reading -> the aggregated expected change whose portfolio is a member."""
    out: dict[int, int] = {}
    for index, change in enumerate(got):
        if change.get("action") != "group":
            continue
        keys = {_key(m) for m in (change.get("group") or {}).get("members") or []}
        for e, exp in enumerate(expected):
            if e not in out.values() and aggregated(exp) and _key(exp.get("portfolio")) in keys:
                out[index] = e
                break
    return out


def _score_groups(
    score: DocScore, raw: str, exp_changes: list[dict[str, Any]], got: list[dict[str, Any]]
) -> None:
    """Judges the group readings: right ones are counted, wrong or unpaired ones are errors."""
    paired = _pair_groups(exp_changes, got)
    for index, out in enumerate(got):
        if out.get("action") != "group" or not out["parseable"]:
            continue
        if index not in paired:
            score.invented.append(f"{score.doc}#{index} group {out.get('group')}")
            continue
        problem = group_problem(exp_changes[paired[index]], out, raw)
        if problem is None:
            score.grouped.append(f"{score.doc}#{index} {exp_changes[paired[index]]['portfolio']}")
        else:
            score.misread.append(f"{score.doc}#{index} group: {problem}")


def score_document(doc: str, raw: str, expected: dict[str, Any]) -> DocScore:
    got = read_filing(raw).model_dump(by_alias=True, mode="json")["changes"]
    exp_changes = expected["changes"]
    pairs = _pair(exp_changes, got)
    score = DocScore(doc)
    _score_groups(score, raw, exp_changes, got)
    changed = {_key(c.get("portfolio")) for c in exp_changes}
    changed |= {_key(c.get("formerly")) for c in exp_changes if c.get("formerly")}
    for exp, index in zip(exp_changes, pairs, strict=True):
        out = got[index] if index is not None else None
        if exp["parseable"]:
            ok = out is not None and out["parseable"] and same_reading(exp, out)
            score.read.append(ok)
            if not ok:
                score.missed.append(_describe(doc, exp, out))
        else:
            score.false_kept.append(out is None or out["parseable"] is False)
    paired = {i for i in pairs if i is not None}
    for index, out in enumerate(got):
        if not out["parseable"] or out.get("action") == "group":
            continue
        if _key(out.get("portfolio")) not in changed:
            score.invented.append(f"{doc}#{index} {out.get('portfolio')!r}")
        elif index in paired:
            exp = exp_changes[pairs.index(index)]
            if not (exp["parseable"] and same_reading(exp, out)):
                score.misread.append(f"{doc}#{index} {out.get('portfolio')!r}")
    return score


def _describe(doc: str, exp: dict[str, Any], out: dict[str, Any] | None) -> str:
    if out is None:
        return f"{doc} {exp['portfolio']!r}: not produced"
    if not out["parseable"]:
        return f"{doc} {exp['portfolio']!r}: parseable false ({out.get('note')})"
    wrong = [
        name
        for name, a, b in (
            ("formerly", _key(exp.get("formerly")), _key(out.get("formerly"))),
            ("action", category(exp.get("action")), category(out.get("action"))),
            ("tiers", tiers(exp), tiers(out)),
        )
        if a != b
    ]
    return f"{doc} {exp['portfolio']!r}: wrong {', '.join(wrong)}"


def feature_tags(corpus_dir: Path) -> dict[str, list[str]]:
    """doc id -> feature tags, from the README's table of files."""
    readme = corpus_dir / "README.md"
    if not readme.is_file():
        return {}
    tags: dict[str, list[str]] = {}
    for line in readme.read_text("utf-8").splitlines():
        m = _TABLE_ROW.match(line)
        if m:
            tags[m[1]] = [t.strip() for t in m[2].split(",") if t.strip()]
    return tags


def load(corpus_dir: Path, doc: str) -> tuple[str, dict[str, Any]]:
    raw = (corpus_dir / "docs" / f"{doc}.txt").read_bytes().decode("utf-8", errors="replace")
    expected = json.loads((corpus_dir / "expected" / f"{doc}.json").read_text("utf-8"))
    return raw, expected

"""The parser against the 22 real filings of the corpus (../shared/corpus).

Per document: every change the curators read as ``parseable: true`` must come out with the same
action, portfolio, formerly and tiers; every ``parseable: false`` change must be reported false;
header fields must match.  ``test_corpus_accuracy_table`` prints per-field accuracy (pytest -s).
An aggregated-asset change the curators refused may instead come out as a group reading, which
must pass :func:`tests.unit.corpus_measure.group_problem` (members and tiers against the note
and the text).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from services.parsing.filing import read_filing
from tests.unit.corpus_measure import group_problem

HEADER_FIELDS = (
    "document_title",
    "trust",
    "adviser",
    "agreement_date",
    "amendment_number",
    "effective_date",
    "kind",
    "prior_amendment_dates",
    "agreement_type",
    "truncated",
)
CHANGE_FIELDS = ("action", "portfolio", "formerly", "tiers", "parseable")
CORPUS_IDS = [f"{n:03d}" for n in (0, 1, 3, 6, 9, 12, 17, 19, 25, 31, 34, 36, 41, 42, 47, 49)] + [
    "053",
    "056",
    "058",
    "062",
    "063",
    "069",
]


def _load(corpus_dir: Path, doc_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    raw = _raw(corpus_dir, doc_id)
    expected = json.loads((corpus_dir / "expected" / f"{doc_id}.json").read_text("utf-8"))
    got = read_filing(raw).model_dump(by_alias=True, mode="json")
    return expected, got


def _raw(corpus_dir: Path, doc_id: str) -> str:
    return (corpus_dir / "docs" / f"{doc_id}.txt").read_bytes().decode("utf-8", errors="replace")


def _right_group(exp: dict[str, Any] | None, out: dict[str, Any], raw: str) -> bool:
    """A group reading standing, rightly, for an aggregated change the curators refused."""
    return exp is not None and out.get("action") == "group" and group_problem(exp, out, raw) is None


def _tiers(change: dict[str, Any] | None) -> list[tuple[int, int | None, Decimal]] | None:
    if not change or not change.get("schedule"):
        return None
    return [(t["from"], t["to"], Decimal(t["rate_pct"])) for t in change["schedule"]["tiers"]]


def _field(change: dict[str, Any] | None, name: str) -> Any:
    if change is None:
        return "<missing>"
    return _tiers(change) if name == "tiers" else change.get(name)


def _all_ids(corpus_dir: Path) -> list[str]:
    return sorted(p.stem for p in (corpus_dir / "docs").glob("*.txt"))


@pytest.mark.parametrize("doc_id", CORPUS_IDS)
def test_corpus_document(corpus_dir: Path, doc_id: str) -> None:
    if not (corpus_dir / "docs" / f"{doc_id}.txt").exists():
        pytest.skip(f"{doc_id} not in this corpus")
    expected, got = _load(corpus_dir, doc_id)
    for name in HEADER_FIELDS:
        assert got[name] == expected[name], f"{doc_id} {name}"
    exp_changes, got_changes = expected["changes"], got["changes"]
    assert len(got_changes) == len(exp_changes), f"{doc_id}: number of changes"
    for index, (exp, out) in enumerate(zip(exp_changes, got_changes, strict=True)):
        where = f"{doc_id} change {index} ({exp['portfolio']})"
        if exp["parseable"]:
            for name in CHANGE_FIELDS:
                assert _field(out, name) == _field(exp, name), f"{where}: {name}"
        elif out.get("action") == "group":
            problem = group_problem(exp, out, _raw(corpus_dir, doc_id))
            assert problem is None, f"{where}: wrong group reading: {problem}"
        else:
            assert out["parseable"] is False, f"{where}: must not be parseable ({out['note']})"
            assert out["note"], f"{where}: a parseable:false change needs a note"


def test_no_confidently_wrong_schedule(corpus_dir: Path) -> None:
    """Across the corpus, nothing reported parseable is a wrong reading."""
    wrong = []
    for doc_id in _all_ids(corpus_dir):
        expected, got = _load(corpus_dir, doc_id)
        exp_changes = expected["changes"]
        for index, out in enumerate(got["changes"]):
            if not out["parseable"]:
                continue
            exp = exp_changes[index] if index < len(exp_changes) else None
            if _right_group(exp, out, _raw(corpus_dir, doc_id)):
                continue
            if exp is None or not all(_field(out, n) == _field(exp, n) for n in CHANGE_FIELDS):
                wrong.append(f"{doc_id}#{index} {out['portfolio']}")
    assert not wrong


def test_corpus_accuracy_table(corpus_dir: Path) -> None:
    """Per-field accuracy over the whole corpus (run with -s to see the table)."""
    hits: dict[str, list[bool]] = {name: [] for name in HEADER_FIELDS + CHANGE_FIELDS}
    exact = total = false_ok = false_total = 0
    for doc_id in _all_ids(corpus_dir):
        expected, got = _load(corpus_dir, doc_id)
        for name in HEADER_FIELDS:
            hits[name].append(got.get(name) == expected.get(name))
        for index, exp in enumerate(expected["changes"]):
            out = got["changes"][index] if index < len(got["changes"]) else None
            if exp["parseable"]:
                total += 1
                fields_ok = [_field(out, n) == _field(exp, n) for n in CHANGE_FIELDS]
                for name, ok in zip(CHANGE_FIELDS, fields_ok, strict=True):
                    hits[name].append(ok)
                exact += all(fields_ok)
            else:
                false_total += 1
                false_ok += out is not None and (
                    out["parseable"] is False or _right_group(exp, out, _raw(corpus_dir, doc_id))
                )
    lines = ["", f"{'field':<24}{'right':>8}{'of':>6}{'accuracy':>10}"]
    for name, results in hits.items():
        share = sum(results) / len(results) if results else 1.0
        lines.append(f"{name:<24}{sum(results):>8}{len(results):>6}{share:>10.1%}")
    lines.append(f"parseable:true changes exactly right: {exact}/{total}")
    lines.append(f"parseable:false changes reported false: {false_ok}/{false_total}")
    print("\n".join(lines))
    assert exact == total
    assert false_ok == false_total

"""`feeschedule parse` as a user runs it: a real filing, and junk that must exit cleanly."""

from __future__ import annotations

import json
import os
import random
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import FEESCHEDULE

pytestmark = pytest.mark.e2e

WORDS = [
    "of the first",
    "$500 million",
    "plus",
    "0.88%",
    "over",
    "Portfolio",
    "billion",
    "next",
    "in excess of",
    "AMENDMENT NO.",
    "\n",
    "<TABLE>",
    "......",
    "(formerly",
    " ",
    " ",
    "",
]


def parse(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "160"}
    return subprocess.run(
        [str(FEESCHEDULE), "parse", str(path), *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_parse_json_reads_the_seed_filing_as_the_hand_checked_reading(corpus_dir: Path) -> None:
    result = parse(corpus_dir / "docs" / "000.txt", "--json")
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    expected = json.loads((corpus_dir / "expected" / "000.json").read_text())
    for field in ("document_title", "trust", "adviser", "amendment_number", "effective_date"):
        assert got[field] == expected[field], field
    [change] = got["changes"]
    [want] = expected["changes"]
    assert (change["action"], change["portfolio"], change["parseable"]) == (
        want["action"],
        want["portfolio"],
        True,
    )
    tiers = [(t["from"], t["to"], Decimal(t["rate_pct"])) for t in change["schedule"]["tiers"]]
    assert tiers == [
        (t["from"], t["to"], Decimal(t["rate_pct"])) for t in want["schedule"]["tiers"]
    ]


@pytest.mark.parametrize("seed", [7, 8, 9])
@pytest.mark.parametrize("kind", ["binary", "schedule-words"])
def test_a_megabyte_of_junk_exits_cleanly_with_no_confident_reading(
    kind: str, seed: int, tmp_path: Path
) -> None:
    rng = random.Random(seed)
    path = tmp_path / f"{kind}.txt"
    if kind == "binary":
        path.write_bytes(rng.randbytes(1 << 20))
    else:
        text = " ".join(rng.choice(WORDS) for _ in range(150_000))
        path.write_text(text[: 1 << 20])
    result = parse(path, "--json")
    assert result.returncode in (0, 2), result.stderr
    if result.returncode == 2:
        assert len(result.stderr.strip().splitlines()) == 1
        return
    reading = json.loads(result.stdout)
    # Word salad must never come out as a schedule read with certainty.
    assert [c for c in reading["changes"] if c["parseable"]] == []


def test_a_missing_file_is_one_line_and_status_2(tmp_path: Path) -> None:
    result = parse(tmp_path / "nope.txt")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "nope.txt" in result.stderr

"""The chaos suite (benchmarks/chaos.py) as a test: its short run in CI, its long run on request.

The suite starts its own redis-server (append-only file, fsync always) on a free loopback port,
never the tests' Redis, records the agreement with the real CLI, runs the real services as
processes, SIGKILLs workers and restarts Redis while good reports and fuzzed entries flow, and
judges the outcome with its own fee math (benchmarks/chaos_inputs.py). Every count that says
something went wrong must be 0; the others show that the chaos and every path really happened.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import chaos
from benchmarks.chaos_verdict import FIVE

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(280)
def test_short_chaos_run_loses_doubles_misprices_and_drops_nothing(tmp_path: Path) -> None:
    options = chaos.Options(kills=5, fuzz=1000, good=1000, seed=9, workdir=tmp_path / "chaos")
    outcome = chaos.run(options)
    shown = chaos.report(outcome, options)
    print(shown)
    facts, info = outcome.chaos, outcome.verdict.info

    assert outcome.verdict.counts == dict.fromkeys(FIVE, 0), shown
    assert facts["settled"], shown
    assert all(status == 0 for status in facts["stop_status"].values()), shown

    # The chaos happened, on the suite's own server: every kill, both kinds of Redis restart,
    # and kills that found entries in flight (not all before or after the work).
    assert re.fullmatch(r"redis://127\.0\.0\.1:\d+/0", facts["redis_url"])
    assert not facts["redis_url"].startswith("redis://127.0.0.1:6379/")
    assert facts["kills"] == {"one worker": 5, "one of two": 5}
    assert sum(facts["kills_mid_work"].values()) >= 2, shown
    assert facts["redis_restarts"] == ["SHUTDOWN", "kill -9"]

    # Every path was taken: the retroactive amendment adjusted accrued dates, higher revisions
    # adjusted, reports before any schedule wait, and each kind of ignored report was seen.
    assert info["adjusted_by_reason"].get("amendment", 0) > 0, shown
    assert info["adjusted_by_reason"].get("revised_report", 0) > 0, shown
    assert info["dates_expected_held"] > 0
    assert info["held_by_code"].get("no_schedule", 0) >= info["dates_expected_held"], shown
    assert set(info["ignored_by_code"]) == {
        "duplicate",
        "older_revision",
        "same_revision_different_content",
    }, shown
    # Every fuzzed entry was refused, each with the code contracts/README.md gives its kind.
    assert info["poison_accepted"] == {}, shown
    assert sum(info["dead_letters_by_code"].values()) == 1000, shown
    assert info["poison_code_mismatches"] == {}, shown


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_long_chaos_run_as_the_readme_gives_it(request: pytest.FixtureRequest) -> None:
    """The README's figures: 100 kills per phase, 10,000 fuzzed entries, 10,000 good reports.
    Skipped unless asked for: `pytest -m slow`, or FEES_CHAOS_LONG=1."""
    asked = "slow" in (request.config.option.markexpr or "")
    if not asked and os.environ.get("FEES_CHAOS_LONG") != "1":
        pytest.skip("the long chaos run takes minutes: pytest -m slow, or FEES_CHAOS_LONG=1")
    command = ["-m", "benchmarks.chaos", "--kills", "100", "--fuzz", "10000", "--good", "10000"]
    done = subprocess.run(
        [sys.executable, *command],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=3500,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    for name in ("lost", "duplicated", "wrong", "dead-lettered-good", "untraced"):
        assert re.search(rf"^{name} +0$", done.stdout, re.MULTILINE), done.stdout

"""`feeschedule ingest`: real filings parsed and recorded through the real console script."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import Feeschedule

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "services" / "demo" / "filings"

# The Met Investors Series Trust management agreement of December 8, 2000, in amendment-number
# order (docs/034.txt amends a different, 2004 agreement and is left out).
MET_IN_NUMBER_ORDER = ["001", "003", "006", "009", "012", "017", "019", "000", "025", "031"]


def log_length(client: redis.Redis, prefix: str) -> int:
    return int(client.xlen("{" + prefix + "}:agreements"))


def test_met_investors_filings_in_number_order_build_each_portfolio_history(
    prefix: str,
    corpus_dir: Path,
    redis_client: redis.Redis,
    feeschedule: Feeschedule,
) -> None:
    for doc in MET_IN_NUMBER_ORDER:
        # No. 1 has one change cut off by the end of the excerpt: record the rest, say so.
        feeschedule.ok("ingest", str(corpus_dir / "docs" / f"{doc}.txt"), "--skip-unparseable")
    # One registration plus one amendment per filing.
    assert log_length(redis_client, prefix) == 1 + len(MET_IN_NUMBER_ORDER)

    history = json.loads(feeschedule.ok("history", "Met/Putnam Research Portfolio", "--json"))
    numbers = [v["amendment_number"] for v in history["versions"]]
    assert numbers == [4, 7]
    tiers = [[(t["from"], t["to"], t["rate_pct"]) for t in v["tiers"]] for v in history["versions"]]
    assert tiers[0] == [("0", "250000000", "0.80"), ("250000000", None, "0.70")]
    assert tiers[1] == [("0", "150000000", "0.80"), ("150000000", None, "0.70")]

    small_cap = json.loads(
        feeschedule.ok("history", "Met/AIM Small Cap Growth Portfolio", "--json")
    )
    assert [v["amendment_number"] for v in small_cap["versions"]] == [2, 22]

    before = json.loads(
        feeschedule.ok(
            "schedule", "met-aim-small-cap-growth-portfolio", "--on", "2006-10-31", "--json"
        )
    )
    after = json.loads(
        feeschedule.ok(
            "schedule", "met-aim-small-cap-growth-portfolio", "--on", "2006-11-01", "--json"
        )
    )
    assert json.dumps(before).count('"amendment_number": 2') >= 1
    assert json.dumps(after).count('"amendment_number": 22') >= 1


def test_the_same_filing_twice_is_recorded_once(
    prefix: str,
    corpus_dir: Path,
    redis_client: redis.Redis,
    feeschedule: Feeschedule,
) -> None:
    filing = str(corpus_dir / "docs" / "003.txt")
    first = feeschedule.ok("ingest", filing)
    assert "recorded AmendmentRecorded" in first
    length = log_length(redis_client, prefix)
    second = feeschedule.ok("ingest", filing)
    assert "already recorded" in second
    assert log_length(redis_client, prefix) == length


def test_unreadable_changes_are_refused_with_their_reason_and_nothing_is_recorded(
    prefix: str,
    corpus_dir: Path,
    redis_client: redis.Redis,
    feeschedule: Feeschedule,
) -> None:
    result = feeschedule("ingest", str(corpus_dir / "docs" / "058.txt"))
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()
    assert len(last) == 1 and last[0].startswith("error: changes: ")
    assert "Transamerica Short-Term Bond" in last[0]
    assert log_length(redis_client, prefix) == 0


def test_an_override_supplies_what_the_filing_leaves_blank(
    prefix: str,
    corpus_dir: Path,
    tmp_path: Path,
    redis_client: redis.Redis,
    feeschedule: Feeschedule,
) -> None:
    # docs/062.txt names neither its trust nor an amendment number: the operator supplies both.
    filing = str(corpus_dir / "docs" / "062.txt")
    no_agreement = feeschedule("ingest", filing)
    assert no_agreement.returncode == 2 and "--agreement" in no_agreement.stderr
    no_number = feeschedule("ingest", filing, "--agreement", "income-funds")
    assert no_number.returncode == 2 and "amendment_number" in no_number.stderr
    assert log_length(redis_client, prefix) == 0
    override = tmp_path / "override.json"
    override.write_text(json.dumps({"amendment_number": 5}))
    feeschedule.ok("ingest", filing, "--agreement", "income-funds", "--override", str(override))
    answer = json.loads(
        feeschedule.ok("schedule", "Convertible Fund", "--on", "2010-08-01", "--json")
    )
    assert '"amendment_number": 5' in json.dumps(answer)


def test_dry_run_shows_the_plan_and_records_nothing(
    prefix: str, redis_client: redis.Redis, feeschedule: Feeschedule
) -> None:
    out = feeschedule.ok("ingest", str(EXAMPLES / "amendment-22.txt"), "--dry-run")
    assert "Met/AIM Small Cap Growth Portfolio" in out
    assert "0.88% to $500M, 0.83% above" in out
    assert "dry run: nothing recorded" in out
    assert log_length(redis_client, prefix) == 0


def test_the_project_examples_record_a_rate_change_on_2006_11_01(feeschedule: Feeschedule) -> None:
    feeschedule.ok("ingest", str(EXAMPLES / "amendment-02.txt"))
    out = feeschedule.ok("ingest", str(EXAMPLES / "amendment-22.txt"))
    # The plan shows the schedule before and after, and the revision is a plain revise.
    assert "0.90% flat" in out and "0.88% to $500M, 0.83% above" in out
    history = json.loads(feeschedule.ok("history", "met-aim-small-cap-growth-portfolio", "--json"))
    assert [(v["amendment_number"], v["action"]) for v in history["versions"]] == [
        (2, "add"),
        (22, "revise"),
    ]


def test_a_new_agreement_takes_the_configured_day_count_and_rounding(
    prefix: str, redis_client: redis.Redis, feeschedule: Feeschedule
) -> None:
    feeschedule.ok(
        "ingest",
        str(EXAMPLES / "amendment-02.txt"),
        FEES_DAY_COUNT="ACT/360",
        FEES_ROUNDING="ROUND_HALF_EVEN:0.01",
    )
    first: Any = redis_client.xrange("{" + prefix + "}:agreements", count=1)
    registered = json.loads(first[0][1][b"data"])
    assert registered["type"] == "AgreementRegistered"
    assert (registered["day_count"], registered["rounding"]) == ("ACT/360", "ROUND_HALF_EVEN:0.01")

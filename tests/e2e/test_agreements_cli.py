"""The real `feeschedule` console script: record, amend from amendment files, audit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import Feeschedule

pytestmark = pytest.mark.e2e

PORTFOLIO = "Met/AIM Small Cap Growth Portfolio"
PID = "met-aim-small-cap-growth-portfolio"
# Amendment No. 22 (0.88% to $500M, 0.83% over, from 2006-11-01): the file the project ships.
NO_22 = Path(__file__).resolve().parents[2] / "contracts" / "examples" / "amendment.json"

# An earlier amendment that first put the portfolio on the schedule (0.90% flat).
EARLIER = {
    "document_title": "Amendment No. 18 to Management Agreement (test reading)",
    "amendment_number": 18,
    "effective_date": "2006-05-01",
    "changes": [
        {
            "action": "add",
            "portfolio": PORTFOLIO,
            "formerly": None,
            "schedule": {"tiers": [{"from": "0", "to": None, "rate_pct": "0.90"}]},
            "period": None,
            "parseable": True,
            "note": None,
        }
    ],
}


def test_record_amend_and_audit_through_the_cli(
    prefix: str,
    tmp_path: Path,
    redis_client: redis.Redis,
    feeschedule: Feeschedule,
) -> None:
    earlier = tmp_path / "amendment-18.json"
    earlier.write_text(json.dumps(EARLIER))
    no22 = str(NO_22)
    run = feeschedule

    out = run.ok(
        "register-agreement",
        "--agreement",
        "met-investors",
        "--trust",
        "Met Investors Series Trust",
        "--agreement-date",
        "2000-12-08",
    )
    assert "recorded AgreementRegistered" in out
    out = run.ok("amend", "--file", str(earlier), "--agreement", "met-investors")
    # Each change's portfolio id is printed (here the slug of its name), under the usual line.
    assert out.splitlines()[1:] == [f"  change 1: add portfolio {PID} ({PORTFOLIO})"], out
    out = run.ok("amend", "--file", no22, "--agreement", "met-investors")
    assert "agreement version 3" in out.splitlines()[0]
    assert out.splitlines()[1:] == [f"  change 1: revise portfolio {PID} ({PORTFOLIO})"], out
    # The same filing again is a retry: nothing appended.
    assert "nothing appended" in run.ok("amend", "--file", no22, "--agreement", "met-investors")

    history = json.loads(run.ok("history", PORTFOLIO, "--json"))
    assert history["portfolio_id"] == PID
    versions = [
        (v["amendment_number"], v["effective_from"], v["effective_to"], v["tiers"][0]["rate_pct"])
        for v in history["versions"]
    ]
    assert versions == [(18, "2006-05-01", "2006-10-31", "0.90"), (22, "2006-11-01", None, "0.88")]
    assert all(
        v["position"] and v["recorded_at"] and not v["retracted"] for v in history["versions"]
    )
    text = run.ok("history", PID)
    assert "Amendment No. 18 (add)  effective 2006-05-01 .. 2006-10-31" in text
    assert "Amendment No. 22 (revise)  effective 2006-11-01 .. open" in text

    before = json.loads(run.ok("schedule", PORTFOLIO, "--on", "2006-10-31", "--json"))
    assert before["set_by"]["amendment_number"] == 18
    assert before["tiers"] == [{"from": "0", "to": None, "rate_pct": "0.90"}]
    after = json.loads(run.ok("schedule", PID, "--on", "2006-11-01", "--json"))
    assert after["set_by"]["amendment_number"] == 22
    assert after["set_by"]["amendment_effective_date"] == "2006-11-01"
    assert after["tiers"] == [
        {"from": "0", "to": "500000000", "rate_pct": "0.88"},
        {"from": "500000000", "to": None, "rate_pct": "0.83"},
    ]
    text = run.ok("schedule", PORTFOLIO, "--on", "2006-11-01")
    assert "Amendment No. 22 (revise), effective 2006-11-01" in text
    assert "0.88% from 0 to 500,000,000; 0.83% from 500,000,000 and above" in text
    # As known before No. 22 was recorded, the 1st of November was still at 0.90%.
    known = json.loads(
        run.ok(
            "schedule",
            PID,
            "--on",
            "2006-11-01",
            "--json",
            "--at-position",
            before["set_by"]["position"],
        )
    )
    assert known["set_by"]["amendment_number"] == 18

    # The read model answers the same once the projector has rebuilt it.
    assert "is current: 3 events" in run.ok("projector", "rebuild")
    fast = json.loads(
        run.ok("schedule", PORTFOLIO, "--on", "2006-11-01", "--json", "--source", "read-model")
    )
    assert {k: v for k, v in fast.items() if k != "source"} == {
        k: v for k, v in after.items() if k != "source"
    }

    # A retraction is a new event; history keeps the version, marked.
    run.ok("retract", "--agreement", "met-investors", "--amendment", "22", "--reason", "test")
    history = json.loads(run.ok("history", PID, "--json"))
    assert history["versions"][1]["retracted"] is not None
    assert "RETRACTED" in run.ok("history", PID)
    back = json.loads(run.ok("schedule", PID, "--on", "2006-11-01", "--json"))
    assert back["set_by"]["amendment_number"] == 18
    assert redis_client.xlen("{" + prefix + "}:agreements") == 4


def test_wrong_input_exits_2_with_one_line_naming_field_and_value(
    prefix: str,
    corpus_dir: Path,
    tmp_path: Path,
    redis_client: redis.Redis,
    feeschedule: Feeschedule,
) -> None:
    run = feeschedule
    run.ok("register-agreement", "--agreement", "mist")
    cases: list[tuple[tuple[str, ...], str]] = []
    dup = tmp_path / "dup.json"
    dup.write_text(json.dumps(EARLIER))
    run.ok("amend", "--file", str(dup), "--agreement", "mist")
    again: dict[str, Any] = {**EARLIER, "effective_date": "2007-01-01"}
    (tmp_path / "again.json").write_text(json.dumps(again))
    cases.append(
        (
            ("amend", "--file", str(tmp_path / "again.json"), "--agreement", "mist"),
            "amendment_number: 18 is already recorded",
        )
    )
    unknown = {
        **EARLIER,
        "amendment_number": 19,
        "changes": [{**EARLIER["changes"][0], "action": "revise", "portfolio": "No Such Fund"}],
    }
    (tmp_path / "unknown.json").write_text(json.dumps(unknown))
    cases.append(
        (
            ("amend", "--file", str(tmp_path / "unknown.json"), "--agreement", "mist"),
            "changes[0].portfolio_id: 'no-such-fund' is not on the schedule",
        )
    )
    waiver = {
        **EARLIER,
        "amendment_number": 20,
        "changes": [
            {
                **EARLIER["changes"][0],
                "action": "waiver",
                "period": {"from": "2007-05-01", "to": "2007-01-01"},
            }
        ],
    }
    (tmp_path / "waiver.json").write_text(json.dumps(waiver))
    cases.append(
        (
            ("amend", "--file", str(tmp_path / "waiver.json"), "--agreement", "mist"),
            "changes[0].period.to: '2007-01-01' ends before the waiver starts",
        )
    )
    cases.append(
        (
            ("amend", "--file", str(corpus_dir / "expected" / "001.json"), "--agreement", "mist"),
            "changes[3].parseable: False",
        )
    )
    # The amendment file's own rules (contracts/schemas/AmendmentFile.json), before any other.
    tier = EARLIER["changes"][0]["schedule"]["tiers"][0]
    where = "changes[0].schedule.tiers[0]"
    strict = [
        ({"rate_pct": 0.9}, f"{where}.rate_pct: 0.9 must be a decimal string"),
        ({"from": 0}, f"{where}.from: 0 must be a decimal string"),
        ({"to": "1E+9"}, f'{where}.to: "1E+9" is not a plain decimal'),
        ({"rate_pct": "0,90"}, f'{where}.rate_pct: "0,90" is not a plain decimal'),
    ]
    for n, (fields, message) in enumerate(strict):
        change = {**EARLIER["changes"][0], "schedule": {"tiers": [{**tier, **fields}]}}
        path = tmp_path / f"strict-{n}.json"
        path.write_text(json.dumps({**EARLIER, "amendment_number": 21, "changes": [change]}))
        cases.append((("amend", "--file", str(path), "--agreement", "mist"), message))
    for n, (fields, message) in enumerate(
        [
            ({"effective_date": "2007-01-01T00:00:00Z"}, 'effective_date: "2007-01-01T00:00:00Z"'),
            ({"amendment_number": "21"}, 'amendment_number: "21" Input should be a valid integer'),
            ({"amendment_number": 21.0}, "amendment_number: 21.0 Input should be a valid integer"),
        ]
    ):
        path = tmp_path / f"top-{n}.json"
        path.write_text(json.dumps({**EARLIER, **fields}))
        cases.append((("amend", "--file", str(path), "--agreement", "mist"), message))
    twice = tmp_path / "twice.json"
    twice.write_text(json.dumps(EARLIER)[:-1] + ', "amendment_number": 21}')
    duplicate = 'file: is not valid JSON (duplicate key "amendment_number")'
    cases.append((("amend", "--file", str(twice), "--agreement", "mist"), duplicate))
    cases.append((("schedule", "No Such Fund", "--on", "2006-11-01"), "portfolio: 'No Such Fund'"))
    for args, message in cases:
        result = run(*args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert redis_client.xlen("{" + prefix + "}:agreements") == 2  # nothing wrong was recorded

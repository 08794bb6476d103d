"""Real messages, emitted by the real processes, validate against the published contracts.

The recorder (`feeschedule register-agreement | amend | retract`) writes the log; reports go
in by plain XADD to `feeschedule run all`; FeeAccrued, FeeAdjusted (all three reasons) and a
DeadLetter come out. Every entry is checked with the third-party `jsonschema` validator
(Draft 2020-12, formats checked) against contracts/schemas/*.json and against the payload and
header schemas inside contracts/asyncapi.yaml.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from conftest import FEESCHEDULE, Feeschedule
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PORTFOLIO = "Met/AIM Small Cap Growth Portfolio"
PID = "met-aim-small-cap-growth-portfolio"
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
DAYS = ["2006-10-30", "2006-10-31", "2006-11-01", "2006-11-02"]


def _date_time(value: object) -> bool:
    """RFC 3339 date-time (jsonschema checks it only with an optional package installed)."""
    if not isinstance(value, str) or "T" not in value.upper():
        return False
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return parsed.tzinfo is not None


FORMATS = FormatChecker()
FORMATS.checks("date-time")(_date_time)


def _published_validator(name: str) -> Draft202012Validator:
    schema = json.loads((ROOT / "contracts" / "schemas" / f"{name}.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FORMATS)


def _asyncapi_validators() -> tuple[
    Callable[[str], Draft202012Validator], Callable[[str], Draft202012Validator]
]:
    document = yaml.safe_load((ROOT / "contracts" / "asyncapi.yaml").read_text())
    registry: Registry[Any] = Registry().with_resource(
        "urn:asyncapi", Resource(contents=document, specification=DRAFT202012)
    )
    messages = document["components"]["messages"]

    def payload(name: str) -> Draft202012Validator:
        ref = messages[name]["payload"]["$ref"]
        return Draft202012Validator(
            {"$ref": f"urn:asyncapi{ref}"}, registry=registry, format_checker=FORMATS
        )

    def headers(name: str) -> Draft202012Validator:
        return Draft202012Validator(messages[name]["headers"], format_checker=FORMATS)

    return payload, headers


def _report(day: str, assets: str, revision: int = 0) -> dict[str, str]:
    data = {
        "type": "NetAssetsReported",
        "event_id": f"nav-{day}-{revision}",
        "report_id": f"nav-{day}",
        "portfolio_id": PID,
        "as_of": day,
        "net_assets": assets,
        "currency": "USD",
        "accrual_days": 1,
        "revision": revision,
    }
    return {
        "type": "NetAssetsReported",
        "event_id": data["event_id"],
        "schema_version": "1",
        "data": json.dumps(data),
    }


def _entries(client: redis.Redis, stream: str) -> list[dict[str, str]]:
    rows: Any = client.xrange(stream)
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in rows]


def _wait(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_emitted_messages_validate_against_the_published_contracts(
    redis_url: str,
    prefix: str,
    tmp_path: Path,
    redis_client: redis.Redis,
    feeschedule: Feeschedule,
) -> None:
    tag = "{" + prefix + "}"
    log, net_assets = f"{tag}:agreements", f"{tag}:net-assets"
    accruals, dead_letters = f"{tag}:accruals", f"{tag}:dead-letters"
    earlier = tmp_path / "amendment-18.json"
    earlier.write_text(json.dumps(EARLIER))
    # The amendment file the project ships: No. 22, 0.88% to $500M, 0.83% over, 2006-11-01.
    no22 = str(ROOT / "contracts" / "examples" / "amendment.json")
    agreement = ("--agreement", "met-investors")
    feeschedule.ok("register-agreement", *agreement, "--trust", "Met Investors")
    feeschedule.ok("amend", "--file", str(earlier), *agreement)

    env = {
        **os.environ,
        "FEES_REDIS_URL": redis_url,
        "FEES_PREFIX": prefix,
        "FEES_BLOCK_MS": "100",
    }
    with tempfile.TemporaryFile(mode="w+") as output:
        process = subprocess.Popen(
            [str(FEESCHEDULE), "run", "all"], env=env, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            for day in DAYS:
                redis_client.xadd(net_assets, _report(day, "600000000.00"))  # type: ignore[arg-type]
            redis_client.xadd(net_assets, {"type": "NetAssetsReported", "data": '{"net_assets":'})
            redis_client.xadd(net_assets, _report(DAYS[0], "610000000.00", revision=1))  # type: ignore[arg-type]
            _wait(lambda: redis_client.xlen(accruals) == 5, "4 accruals and 1 revised report")
            _wait(lambda: redis_client.xlen(dead_letters) == 1, "the dead letter")
            # Amendment No. 22 learned late: the two days from 2006-11-01 are adjusted ...
            feeschedule.ok("amend", "--file", no22, *agreement)
            _wait(lambda: redis_client.xlen(accruals) == 7, "adjustments for amendment No. 22")
            # ... and back again when it is retracted.
            retract = ("retract", *agreement, "--amendment", "22", "--reason", "test")
            feeschedule.ok(*retract)
            _wait(lambda: redis_client.xlen(accruals) == 9, "adjustments for the retraction")
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            output.seek(0)
            print(output.read())  # shown when the test fails

    reports = [e for e in _entries(redis_client, net_assets) if "event_id" in e]
    emitted = (
        _entries(redis_client, log)
        + reports
        + _entries(redis_client, accruals)
        + _entries(redis_client, dead_letters)
    )
    payload_of, headers_of = _asyncapi_validators()
    published: dict[str, Draft202012Validator] = {}
    seen: dict[str, int] = {}
    reasons = set()
    for entry in emitted:
        name = entry["type"]
        data = json.loads(entry["data"])
        # The plain fields agree with the JSON they stand beside.
        assert (data["type"], data["event_id"]) == (name, entry["event_id"])
        assert entry["schema_version"] == str(data.get("schema_version", 1))
        validator = published.setdefault(name, _published_validator(name))
        errors = [e.message for e in validator.iter_errors(data)]
        assert not errors, (name, "contracts/schemas", errors)
        errors = [e.message for e in payload_of(name).iter_errors(data)]
        assert not errors, (name, "asyncapi.yaml payload", errors)
        fields = {k: v for k, v in entry.items() if k != "data"}
        errors = [e.message for e in headers_of(name).iter_errors(fields)]
        assert not errors, (name, "asyncapi.yaml headers", errors)
        seen[name] = seen.get(name, 0) + 1
        if name == "FeeAdjusted":
            reasons.add(data["reason"])
    assert seen == {
        "AgreementRegistered": 1,
        "AmendmentRecorded": 2,
        "AmendmentRetracted": 1,
        "NetAssetsReported": 5,
        "FeeAccrued": 4,
        "FeeAdjusted": 5,
        "DeadLetter": 1,
    }
    assert reasons == {"revised_report", "amendment", "retraction"}

    # The validators can fail: money as a JSON number, or a wrong date, is refused by both.
    accrued = next(json.loads(e["data"]) for e in emitted if e["type"] == "FeeAccrued")
    for bad in ({**accrued, "amount": 1.5}, {**accrued, "as_of": "2006-13-45"}):
        assert not published["FeeAccrued"].is_valid(bad)
        assert not payload_of("FeeAccrued").is_valid(bad)

"""One verdict per document: pydantic, python-jsonschema and ajv agree on every published schema.

Valid documents are each schema's own `examples` (the models' examples) and a few awkward but
valid variants; invalid ones put a bad value, one at a time, into a field of an example: every
lax reading the issue found (net_assets "1_000", " 5", "+5", "1E+9", "٣", a JSON integer; a
time in a date; "1", 1.0 and true as counts) and their neighbours. pydantic judges each twice,
as the wire reads it (`parse_message`: strict JSON, then Python mode) and in JSON mode; the
amendment file as `feeschedule amend` reads it. ajv runs under Node (tools/schema-check: draft
2020-12, strict mode, formats): those checks are skipped, saying why, when Node is absent.

Left out on purpose, since JSON Schema cannot see them (JSON parsers decide before any validator
runs): duplicate keys, NaN, over-long numbers and counts written with a fraction ("1.0"), all
refused by the services (tests/unit/test_strict_wire.py); and revisions between 2**53 and 2**63,
which JavaScript's JSON.parse rounds (contracts/README.md says so).
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from node_tools import npm_install
from pydantic import BaseModel, ValidationError

from contracts import generate
from contracts.wire import WireError, parse_message
from services.app.amendment_file import validate_amendment_file
from services.domain.errors import DomainError

ROOT = Path(__file__).resolve().parents[2]
CHECK_DIR = ROOT / "tools" / "schema-check"
SCHEMA_DIR = ROOT / "contracts" / "schemas"
MODELS: dict[str, type[BaseModel]] = {m.__name__: m for m in generate.SCHEMA_MODELS}
DELETE = object()
GROUP = {
    "action": "group",
    "group_id": "g",
    "members": ["p1", "p2"],
    "tiers": [{"from": "0", "to": None, "rate_pct": "0.75"}],
}
NO_NODE = "Node.js (node and npm) is not installed: the ajv checks need it"

# Counts as JSON writes them wrongly, and values JSON Schema and the models both bound. Not
# 0.0: JSON Schema's "integer" is any number without a fraction, so only the services refuse a
# count written "0.0" (tests/unit/test_strict_wire.py).
BAD_COUNTS: list[Any] = ["0", 1.5, False, True, None, -1, 2**64, 10**20]
BAD_INPUT_DECIMALS: list[Any] = [
    "1_000", " 5", "5 ", "+5", "1E+9", "1e9", "٣", "５", "5\n", "-1", "-0", "1.", ".5", "1.2.3",
    "", "0x10", "Infinity", "NaN", "1" * 31, "0." + "1" * 21, "1,000", 5, 5.5, True, None,
]  # fmt: skip
BAD_SIGNED_DECIMALS: list[Any] = [
    "1_000", "+5", "1E+2", "−68.49", "--1", "- 1", "٣", "5\n", 17739.73, 0, "1" * 61, None,
]  # fmt: skip
BAD_DATES: list[Any] = [
    "2006-02-01T00:00:00Z", "2006-2-1", "20060201", "2006-02-30", "2006-13-01", "٢٠٠٦-٠٢-٠١",
    "2006-02-01\n", " 2006-02-01", 20060201, None,
]  # fmt: skip
BAD_TIMES: list[Any] = [
    "2024-01-02T17:00:00", "2024-01-02 17:00:00Z", "2024-02-30T17:00:00Z", "2024-01-02T24:00:00Z",
    "2024-01-02T17:00:60Z", "2024-01-02", 1700000000, "2024-01-02T17:00:00.1234567Z",
]  # fmt: skip
BAD_IDS: list[Any] = ["", "a b", "r\n", "r\x1c1", "r\ufeff", "r\x85", "r" * 201, 7, None]
BAD_BOOLS: list[Any] = ["true", 1, 0, None]


@dataclass(frozen=True)
class Case:
    schema: str
    label: str
    data: Any
    valid: bool


def _example(schema: str, index: int = 0) -> dict[str, Any]:
    examples = MODELS[schema].model_json_schema(by_alias=True)["examples"]
    return copy.deepcopy(examples[index])


def _put(document: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(document)
    node: Any = out
    for step in path[:-1]:
        node = node[step]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


def _bad(schema: str, path: tuple[str | int, ...], values: list[Any], index: int = 0) -> list[Case]:
    base = _example(schema, index)
    where = ".".join(str(p) for p in path)
    return [Case(schema, f"{where}={v!r}", _put(base, path, v), False) for v in values]


def _good(schema: str, path: tuple[str | int, ...], values: list[Any]) -> list[Case]:
    base = _example(schema)
    where = ".".join(str(p) for p in path)
    return [Case(schema, f"{where}={v!r} (valid)", _put(base, path, v), True) for v in values]


def _examples() -> list[Case]:
    cases = []
    for name, model in MODELS.items():
        examples = model.model_json_schema(by_alias=True).get("examples")
        assert examples, f"{name} has no examples"
        cases += [Case(name, f"examples[{i}]", e, True) for i, e in enumerate(examples)]
    return cases


def _net_assets_cases() -> list[Case]:
    nav = "NetAssetsReported"
    return [
        *_bad(nav, ("net_assets",), BAD_INPUT_DECIMALS),
        *_good(nav, ("net_assets",), ["0", "007.50", "1" * 30, "0." + "0" * 20, "1" * 30 + ".5"]),
        *_bad(nav, ("as_of",), BAD_DATES),
        *_good(nav, ("as_of",), ["2008-02-29", "0001-01-01"]),
        *_bad(nav, ("accrual_days",), [*BAD_COUNTS, 0, 367]),
        *_good(nav, ("accrual_days",), [3, 366]),
        *_bad(nav, ("revision",), BAD_COUNTS),
        *_good(nav, ("classes",), [[], [{"class_id": "A", "net_assets": "750000000.00"}]]),
        *_bad(nav, ("classes",), [[{"class_id": "A", "net_assets": "-1"}], [{"class_id": "A"}]]),
        *_bad(nav, ("classes",), [[{"class_id": "A b", "net_assets": "1"}], {"A": "1"}]),
        *_good(nav, ("revision",), [2**53, 2**63 - 2**11]),
        *_bad(nav, ("report_id",), BAD_IDS),
        *_good(nav, ("report_id",), ["nav/2006-11-01#2", "r" * 200, "fonds-é"]),
        *_bad(nav, ("currency",), ["usd", "US", "USDX", "USD\n"]),
        *_bad(nav, ("schema_version",), ["1", True, 0]),
        *_bad(nav, ("occurred_at",), BAD_TIMES),
        *_good(nav, ("occurred_at",), ["2024-01-02T17:00:00.5+05:30", "2024-01-02T17:00:00Z"]),
        *_bad(nav, ("colour",), ["red"]),
        *_bad(nav, ("type",), ["FeeAccrued", "netassetsreported"]),
        *_bad(nav, ("net_assets",), [DELETE]),
    ]


def _agreement_cases() -> list[Case]:
    tier = ("changes", 0, "tiers", 0)
    return [
        *_bad("AgreementRegistered", ("agreement_date",), BAD_DATES[:-1]),
        *_bad("AgreementRegistered", ("rounding",), ["ROUND_HALF_UP:٠.01", "round_half_up:0.01"]),
        *_bad("AgreementRegistered", ("day_count",), ["act/365f", "ACT/365"]),
        *_bad("AmendmentRecorded", (*tier, "rate_pct"), BAD_INPUT_DECIMALS),
        *_bad("AmendmentRecorded", (*tier, "from"), [0, "-0", "1E+3", None]),
        *_bad("AmendmentRecorded", (*tier, "lower"), ["0"]),  # the Python name, not the wire's
        *_bad("AmendmentRecorded", ("amendment_number",), BAD_COUNTS),
        *_good("AmendmentRecorded", ("changes",), [[{"action": "fee_method", "method": "daily"}]]),
        *_good("AmendmentRecorded", ("changes",), [[GROUP]]),
        *_bad(
            "AmendmentRecorded",
            ("changes",),
            [[{**GROUP, "members": []}], [{**GROUP, "allocation": "equal"}]],
        ),
        *_bad(
            "AmendmentRecorded",
            ("changes",),
            [
                [{"action": "fee_method", "method": "weekly"}],
                [{"action": "fee_method", "method": "daily", "portfolio_id": "p"}],
                [{"action": "fee_method", "method": "daily", "average_over": "days"}],
            ],
        ),
        *_bad("AmendmentRecorded", ("effective_date",), BAD_DATES),
        *_bad("AmendmentRecorded", ("changes", 0, "action"), ["merge", "Revise", None]),
        *_bad("AmendmentRecorded", ("changes", 1, "period", "to"), BAD_DATES, index=1),
        *_bad("AmendmentRecorded", ("changes", 1, "period"), [None], index=1),
        *_bad("AmendmentRecorded", ("changes", 2, "tiers"), [[]], index=1),  # a remove has none
        *_good("AmendmentRecorded", (*tier, "rate_pct"), ["0.650", "0", "12.5"]),
        *_bad("AmendmentRetracted", ("amendment_number",), BAD_COUNTS),
        *_bad("AmendmentRetracted", ("reason",), ["", None]),
    ]


def _fee_cases() -> list[Case]:
    band = ("breakdown", 0)
    return [
        *_bad("FeeAccrued", ("amount",), BAD_SIGNED_DECIMALS),
        *_good("FeeAccrued", ("amount",), ["-0.5", "0", "-17739.73", "1" * 60 + "." + "1" * 80]),
        *_bad("FeeAccrued", ("amount_exact",), ["2.739726027397260273972602739726027E-7"]),
        *_bad("FeeAccrued", (*band, "from"), [0, "0E+0"]),
        *_bad("FeeAccrued", ("schedule_ref", "waiver"), BAD_BOOLS),
        *_bad("FeeAccrued", ("schedule_ref", "amendment_number"), BAD_COUNTS),
        *_bad("FeeAccrued", ("schedule_ref", "effective_date"), BAD_DATES[:3]),
        *_bad("FeeAccrued", ("year_basis",), ["365", 365.5, True]),
        *_bad("FeeAccrued", ("accrual_days",), BAD_COUNTS),
        *_bad("FeeAccrued", ("revision",), BAD_COUNTS),
        *_bad("FeeAdjusted", ("delta",), BAD_SIGNED_DECIMALS),
        *_bad("FeeAdjusted", ("reason",), ["typo", None]),
        *_bad("FeeAdjusted", ("previous_schedule_ref",), ["none", 0]),
        *_good("FeeAdjusted", ("previous_schedule_ref",), [None]),
        *_bad("ReportHeld", ("revision",), BAD_COUNTS),
        *_bad("ReportHeld", ("as_of",), BAD_DATES),
        *_bad("ReportHeld", ("code",), ["waiting", None]),
        *_bad("ReportIgnored", ("held_revision",), BAD_COUNTS),
        *_bad("ReportIgnored", ("code",), ["older"]),
        *_bad("DeadLetter", ("fields", "data"), [7, None]),
        *_bad("DeadLetter", ("deliveries",), ["1", 0, True]),
        *_bad("DeadLetter", ("code",), ["unknown", None]),
        *_bad("FeeAdjusted", ("posted_in",), ["2006-13", "2006-1", "200611", 200611]),
        *_good("FeeAdjusted", ("posted_in",), ["2006-12", None]),
        *_bad("FeeTrueUp", ("month",), ["2006-11-01", "2006-00", None]),
        *_bad("FeeTrueUp", ("true_up",), BAD_SIGNED_DECIMALS),
        *_bad("FeeTrueUp", ("method",), ["weekly", None]),
        *_bad("FeeTrueUp", ("parts", 0, "days"), BAD_COUNTS),
        *_good("FeeTrueUp", ("parts", 0, "average_net_assets"), [None, "0"]),
        *_bad("PeriodClosed", ("forced",), BAD_BOOLS),
        *_bad("PeriodClosed", ("missing",), [[7], "2006-11-30"]),
        *_good("PeriodClosed", ("missing",), [["2006-11-30: no accrual covers it"]]),
        *_bad("CloseMonthRequested", ("month",), ["2006-11-01", None]),
        *_bad("CloseMonthRequested", ("force",), BAD_BOOLS),
        *_good("CloseMonthRequested", ("portfolio_id",), ["met-aim-scg", None]),
        *_bad("MonthCloseRefused", ("missing",), ["a day", [3]]),
        *_bad("InvoiceReceived", ("amount",), BAD_SIGNED_DECIMALS),
        *_bad("InvoiceReceived", ("month",), ["2006-11-30", None]),
        *_bad("InvoiceReceived", ("currency",), ["usd", "US", None]),
        *_good("InvoiceReceived", ("currency",), ["EUR"]),
        *_bad("InvoiceMatched", ("tolerance",), BAD_SIGNED_DECIMALS),
        *_bad("InvoiceBreak", ("explanations",), ["one", [1]]),
        *_good("InvoiceBreak", ("implied_rate_pct",), [None, "0.8800"]),
        *_bad("MonthStatement", ("status",), ["pending", None]),
        *_bad("MonthStatement", ("closing_fee",), BAD_SIGNED_DECIMALS),
        *_bad("MonthStatement", ("catch_ups", 0, "as_of"), BAD_DATES),
        *_bad("MonthStatement", ("catch_ups", 0, "reason"), ["typo"]),
        *_good("MonthStatement", ("catch_ups",), [[]]),
        *_good("MonthStatement", ("status",), ["open"]),
    ]


def _amendment_file_cases() -> list[Case]:
    file, change = "AmendmentFile", ("changes", 0)
    tier = (*change, "schedule", "tiers", 0)
    waiver = {
        "action": "waiver",
        "portfolio": "Met/AIM Small Cap Growth Portfolio",
        "schedule": {"tiers": [{"from": "0", "to": None, "rate_pct": "0.80"}]},
        "period": {"from": "2007-01-01", "to": "2007-12-31"},
    }
    return [
        *_bad(file, (*tier, "rate_pct"), [0.9, 0.88, *BAD_INPUT_DECIMALS]),
        *_bad(file, (*tier, "from"), [0, 0.0, "1E+3"]),
        *_bad(file, (*tier, "to"), [500000000, "5E+8"]),
        *_bad(file, ("amendment_number",), BAD_COUNTS),
        *_bad(file, ("effective_date",), BAD_DATES),
        *_bad(file, ("prior_amendment_dates",), [["2001-02-12T00:00:00Z"], "2001-02-12"]),
        *_bad(file, ("truncated",), BAD_BOOLS),
        *_bad(file, (*change, "parseable"), [False, 1, "true", None]),
        *_bad(file, (*change, "portfolio"), ["", "   ", None, DELETE]),
        *_bad(file, (*change, "action"), ["merge", None]),
        *_bad(file, (*change, "period"), [{"from": "2007-01-01", "to": "2007-12-31"}]),
        *_bad(file, (*change, "schedule"), [None, {"tiers": []}]),
        *_bad(file, ("changes",), [[], [{**waiver, "period": None}], [{**waiver, "period": {}}]]),
        *_bad(file, ("changes",), [[{"action": "remove", "portfolio": "X", "schedule": {}}]]),
        *_bad(file, ("source_sha256",), ["AB" * 32, "ab"]),
        *_bad(file, ("colour",), ["red"]),
        *_good(file, ("changes",), [[waiver], [{"action": "remove", "portfolio": "Old Fund"}]]),
        *_good(file, ("changes",), [[{"action": "fee_method", "method": "monthly_twelfth"}]]),
        *_bad(file, ("changes",), [[{"action": "fee_method", "method": "monthly"}]]),
        *_good(file, (*change, "parseable"), [True]),
        *_good(file, (*tier, "rate_pct"), ["0.650"]),
    ]


def cases() -> list[Case]:
    return [
        *_examples(),
        *_net_assets_cases(),
        *_agreement_cases(),
        *_fee_cases(),
        *_amendment_file_cases(),
    ]


# ---- the validators ---------------------------------------------------------------------------


def _date_time(value: object) -> bool:
    """RFC 3339 date-time: python-jsonschema checks it only with rfc3339-validator installed."""
    if not isinstance(value, str):
        return True
    try:
        return datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


FORMATS = FormatChecker()
FORMATS.checks("date-time")(_date_time)


def pydantic_verdicts(case: Case) -> tuple[bool, bool]:
    """(as the service reads it, in pydantic's JSON mode)."""
    text = json.dumps(case.data, ensure_ascii=False)
    model = MODELS[case.schema]
    try:
        if case.schema == "AmendmentFile":
            validate_amendment_file(json.loads(text))
        else:
            parse_message(text, model)  # type: ignore[type-var]
        read = True
    except (WireError, DomainError):
        read = False
    try:
        model.model_validate_json(text, by_name=False)
        json_mode = True
    except ValidationError:
        json_mode = False
    return read, json_mode


def jsonschema_verdict(case: Case) -> bool:
    schema = json.loads((SCHEMA_DIR / f"{case.schema}.json").read_text())
    return bool(Draft202012Validator(schema, format_checker=FORMATS).is_valid(case.data))


def test_there_are_cases_for_every_schema_both_ways() -> None:
    all_cases = cases()
    assert {c.schema for c in all_cases if c.valid} == set(MODELS)
    assert {c.schema for c in all_cases if not c.valid} == set(MODELS)
    assert len(all_cases) > 350


def test_pydantic_and_jsonschema_give_every_document_the_same_verdict() -> None:
    wrong = []
    for case in cases():
        got = (*pydantic_verdicts(case), jsonschema_verdict(case))
        if got != (case.valid,) * 3:
            verdicts = "(read, json mode, jsonschema)"
            wrong.append(f"{case.schema} {case.label}: expected {case.valid}, {verdicts}={got}")
    assert not wrong, "\n".join(wrong)


# ---- ajv, under Node --------------------------------------------------------------------------


def _npm_install() -> None:
    npm_install(CHECK_DIR, "ajv", "ajv-formats")


def _ajv(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip(NO_NODE)
    _npm_install()
    return subprocess.run(
        ["node", str(CHECK_DIR / "check.mjs"), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_schema_compiles_in_ajv_strict_mode_and_its_examples_validate() -> None:
    done = _ajv(str(SCHEMA_DIR))
    assert done.returncode == 0, done.stdout + done.stderr
    examples = len(_examples())
    assert f"OK: {len(MODELS)} schemas compile in strict mode; {examples} examples valid" in (
        done.stdout
    ), done.stdout


def test_ajv_strict_mode_refuses_what_pydantic_writes_unprocessed(tmp_path: Path) -> None:
    """The check can fail: pydantic's own schema (OpenAPI `discriminator`) is refused."""
    raw = MODELS["AmendmentRecorded"].model_json_schema(by_alias=True, mode="serialization")
    raw["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    (tmp_path / "AmendmentRecorded.json").write_text(json.dumps(raw))
    done = _ajv(str(tmp_path))
    assert done.returncode == 1, done.stdout
    assert 'unknown keyword: "discriminator"' in done.stdout, done.stdout


def test_ajv_gives_every_document_the_same_verdict(tmp_path: Path) -> None:
    all_cases = cases()
    path = tmp_path / "cases.json"
    path.write_text(json.dumps([{"schema": c.schema, "data": c.data} for c in all_cases]))
    done = _ajv(str(SCHEMA_DIR), str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("VERDICTS: "))
    verdicts = json.loads(line.removeprefix("VERDICTS: "))
    assert len(verdicts) == len(all_cases)
    wrong = [
        f"{c.schema} {c.label}: expected {c.valid}, ajv {v}"
        for c, v in zip(all_cases, verdicts, strict=True)
        if v != c.valid
    ]
    assert not wrong, "\n".join(wrong)

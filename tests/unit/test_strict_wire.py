"""Strict input at the edge: what JSON Schema cannot see, and what our own Python code passes.

tests/unit/test_contract_verdicts.py holds the models to the published schemas field by field;
here are the rules of the JSON text itself (duplicate keys, NaN, over-long numbers, counts
written with a fraction), the Python side (Decimal and date instances in, never int, float or
bool), and what is written out (never "-0", never an exponent).
"""

from __future__ import annotations

import json
import time
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from contracts.generate import SCHEMA_DIR
from contracts.messages import FeeAdjusted, NetAssetsReported, TierSpec
from contracts.wire import WireError, decode, encode, first_error, parse_message

REPORT: dict[str, Any] = {
    "type": "NetAssetsReported",
    "event_id": "nav-1",
    "report_id": "nav-1",
    "portfolio_id": "met-aim-scg",
    "as_of": "2006-11-01",
    "net_assets": "750000000.00",
}


def _entry(data: str) -> dict[str, str]:
    return {"type": "NetAssetsReported", "event_id": "nav-1", "data": data}


def _with(raw_field: str) -> str:
    """REPORT's JSON with one more member written as raw JSON text."""
    return json.dumps(REPORT)[:-1] + ", " + raw_field + "}"


def _refusal(data: str) -> WireError:
    with pytest.raises(WireError) as err:
        decode(_entry(data))
    assert "\n" not in str(err.value)
    return err.value


# ---- the JSON text --------------------------------------------------------------------------


def test_a_duplicate_key_is_refused_naming_it() -> None:
    refusal = _refusal(_with('"net_assets": "1"'))
    assert str(refusal) == 'data: duplicate key "net_assets"'
    assert refusal.code == "invalid_json"
    # json.loads alone keeps the last value: the service would have priced $1.
    assert json.loads(_with('"net_assets": "1"'))["net_assets"] == "1"


def test_a_duplicate_key_in_a_nested_object_is_refused() -> None:
    data = json.dumps({"data": {**REPORT}})[:-2] + ', "as_of": "2006-11-02"}}'
    assert str(_refusal(data)) == 'data: duplicate key "as_of"'


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused(constant: str) -> None:
    refusal = _refusal(_with(f'"revision": {constant}'))
    assert constant in str(refusal) and refusal.code == "invalid_json"


def test_an_overlong_number_is_refused_at_its_field_quickly() -> None:
    started = time.perf_counter()
    refusal = _refusal(_with('"revision": ' + "9" * 5000))
    assert time.perf_counter() - started < 0.05
    assert str(refusal) == "revision: a JSON number of 5000 digits, more than the contract allows"
    assert refusal.code == "invalid_field"
    # As money, too (where a number of any length is refused anyway).
    refusal = _refusal(json.dumps(REPORT).replace('"750000000.00"', "1" * 300))
    assert str(refusal).startswith("net_assets: a JSON number of 300 digits")


@pytest.mark.parametrize(
    ("field", "value"),
    [("revision", 2**63), ("revision", 10**30), ("accrual_days", 2**70)],
)
def test_numbers_past_the_bounds_name_the_field(field: str, value: int) -> None:
    refusal = _refusal(_with(f'"{field}": {value}'))
    assert str(refusal).startswith(f"{field}: ")


@pytest.mark.parametrize("field", ["revision", "accrual_days"])
def test_a_count_written_with_a_fraction_is_refused_though_json_schema_cannot_see_it(
    field: str,
) -> None:
    refusal = _refusal(_with(f'"{field}": 1.0'))
    assert str(refusal).startswith(f"{field}: 1.0 ")
    with pytest.raises(ValidationError):
        NetAssetsReported.model_validate_json(_with(f'"{field}": 1.0'))
    # JSON Schema's "integer" is any number without a fraction: 1.0 passes there. The README
    # says so; the service is the stricter of the two.
    schema = json.loads((SCHEMA_DIR / "NetAssetsReported.json").read_text())
    assert Draft202012Validator(schema).is_valid({**REPORT, field: 1.0})


def test_the_bound_of_revision_is_two_to_the_63_minus_one() -> None:
    message = decode(_entry(_with(f'"revision": {2**63 - 1}')))
    assert isinstance(message, NetAssetsReported) and message.revision == 2**63 - 1
    schema = json.loads((SCHEMA_DIR / "NetAssetsReported.json").read_text())
    assert schema["properties"]["revision"]["maximum"] == 2**63 - 1


def test_fields_are_read_by_their_wire_names_only() -> None:
    amendment = {
        "type": "AmendmentRecorded",
        "agreement_id": "a",
        "amendment_number": 1,
        "effective_date": "2006-11-01",
        "changes": [
            {
                "action": "add",
                "portfolio_id": "p",
                "portfolio_name": "P",
                "tiers": [{"lower": "0", "upper": None, "rate_pct": "1"}],
            }
        ],
    }
    # Python's names (`lower`, `upper`) would be taken by the models' populate_by_name.
    with pytest.raises(WireError) as err:
        decode({"type": "AmendmentRecorded", "data": json.dumps(amendment)})
    assert str(err.value) == "changes.0.add.tiers.0.from: missing (a required field)"


def test_a_long_bad_value_is_quoted_cut() -> None:
    refusal = _refusal(json.dumps({**REPORT, "net_assets": "9" * 5000 + "x"}))
    assert str(refusal).startswith('net_assets: "99999')
    assert "(5003 characters)" in str(refusal)
    assert len(str(refusal)) < 300


def test_parse_message_reads_text_as_strictly_as_decode() -> None:
    with pytest.raises(WireError, match="duplicate key"):
        parse_message(_with('"as_of": "2006-11-02"'), NetAssetsReported)
    assert parse_message(json.dumps(REPORT), NetAssetsReported).net_assets == Decimal(
        "750000000.00"
    )


# ---- Python-side construction --------------------------------------------------------------


def test_our_own_code_passes_decimals() -> None:
    tier = TierSpec(lower=Decimal("0"), upper=Decimal("5E+8"), rate_pct=Decimal("0.650"))
    assert json.loads(tier.model_dump_json(by_alias=True)) == {
        "from": "0",
        "to": "500000000",
        "rate_pct": "0.650",
    }


@pytest.mark.parametrize("value", [0, 5, 0.88, True, Decimal("NaN"), Decimal("-1"), "1E+9"])
def test_int_float_bool_and_bad_decimals_are_refused_in_python_too(value: Any) -> None:
    with pytest.raises(ValidationError) as err:
        TierSpec(lower=Decimal(0), upper=None, rate_pct=value)
    assert first_error(err.value).startswith("rate_pct: ")


@pytest.mark.parametrize("value", [Decimal("1E+30"), Decimal("1E-21"), Decimal("1" * 31)])
def test_a_decimal_instance_must_fit_the_contract_digits(value: Decimal) -> None:
    with pytest.raises(ValidationError, match="too many digits"):
        NetAssetsReported.model_validate({**REPORT, "net_assets": value})


def test_dates_are_dates_not_datetimes() -> None:
    with pytest.raises(ValidationError, match="YYYY-MM-DD"):
        NetAssetsReported.model_validate({**REPORT, "as_of": datetime(2006, 11, 1)})
    report = NetAssetsReported.model_validate({**REPORT, "as_of": date(2006, 11, 1)})
    assert json.loads(encode(report)["data"])["as_of"] == "2006-11-01"


@pytest.mark.parametrize("value", [True, 1.0, "1"])
def test_counts_are_integers_in_python_too(value: Any) -> None:
    with pytest.raises(ValidationError):
        NetAssetsReported.model_validate({**REPORT, "revision": value})


# ---- what is written --------------------------------------------------------------------------


def _adjustment(**amounts: Decimal) -> FeeAdjusted:
    fields: dict[str, Any] = {
        "adjustment_id": "p:2006-11-01:1",
        "accrual_id": "p:2006-11-01",
        "portfolio_id": "p",
        "as_of": date(2006, 11, 1),
        "previous_amount": Decimal("1.00"),
        "new_amount": Decimal("1.00"),
        "delta": Decimal("0.00"),
        "new_amount_exact": Decimal("1.00"),
        "net_assets": Decimal("750000000"),
        "reason": "revised_report",
        "schedule_ref": None,
        "previous_schedule_ref": None,
        "report_id": "r",
        "revision": 1,
    }
    return FeeAdjusted.model_validate({**fields, **amounts})


def test_negative_zero_is_never_written() -> None:
    # Decimal arithmetic makes -0 (e.g. quantizing -0.004 to cents): it is written "0.00".
    delta = Decimal("-0.004").quantize(Decimal("0.01"))
    assert str(delta) == "-0.00"
    data = json.loads(encode(_adjustment(delta=delta))["data"])
    assert data["delta"] == "0.00"
    # Also when the worker builds a message without validation (model_construct).
    constructed = FeeAdjusted.model_construct(**{**dict(_adjustment()), "delta": delta})
    assert json.loads(constructed.model_dump_json())["delta"] == "0.00"
    # And a "-0" read on the wire, where a sign is allowed, is written back as "0".
    data = {**json.loads(encode(_adjustment())["data"]), "delta": "-0"}
    back = decode({"type": "FeeAdjusted", "data": json.dumps(data)})
    assert json.loads(encode(back)["data"])["delta"] == "0"


def test_no_exponent_is_ever_written() -> None:
    data = json.loads(encode(_adjustment(new_amount_exact=Decimal("2.7E-7")))["data"])
    assert data["new_amount_exact"] == "0.00000027"
    data = json.loads(encode(_adjustment(net_assets=Decimal("7.5E+8")))["data"])
    assert data["net_assets"] == "750000000"

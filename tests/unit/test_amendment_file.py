"""The amendment file `feeschedule amend --file` takes: one model, its schema, and the reader.

Each refusal is one line naming the field as a person points into the file
(`changes[0].schedule.tiers[0].rate_pct`) and quoting the value as the file writes it.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest

from contracts.amendment_file import AMENDMENT_FILE_EXAMPLE, AmendmentFile
from contracts.generate import EXAMPLES_DIR, SCHEMA_DIR
from contracts.messages import SetScheduleChange, WaiverChange
from contracts.wire import WireError
from services.app.amendment_file import (
    amendment_from_file,
    load_amendment_file,
    validate_amendment_file,
)
from services.app.ingest import _decimal_bounds
from services.domain.errors import DomainError

EXAMPLE = EXAMPLES_DIR / "amendment.json"


def _file(**changes: Any) -> dict[str, Any]:
    """The example with its first change's fields replaced."""
    data = copy.deepcopy(AMENDMENT_FILE_EXAMPLE)
    data["changes"][0].update(changes)
    return data


def _tier(**fields: Any) -> dict[str, Any]:
    data = copy.deepcopy(AMENDMENT_FILE_EXAMPLE)
    data["changes"][0]["schedule"]["tiers"][0].update(fields)
    return data


def _refused(data: Any) -> str:
    with pytest.raises((WireError, DomainError)) as err:
        validate_amendment_file(data)
    text = str(err.value)
    assert "\n" not in text
    return text


def test_the_shipped_example_is_the_models_and_records_as_written() -> None:
    assert json.loads(EXAMPLE.read_text()) == AMENDMENT_FILE_EXAMPLE
    schema = json.loads((SCHEMA_DIR / "AmendmentFile.json").read_text())
    assert schema["examples"] == [AMENDMENT_FILE_EXAMPLE]
    event = amendment_from_file(load_amendment_file(EXAMPLE.read_bytes()), None)
    assert event.agreement_id == "met-investors" and event.amendment_number == 22
    (change,) = event.changes
    assert isinstance(change, SetScheduleChange) and change.action == "revise"
    assert change.portfolio_id == "met-aim-small-cap-growth-portfolio"
    assert [(t.lower, t.upper, t.rate_pct) for t in change.tiers] == [
        (Decimal("0"), Decimal("500000000"), Decimal("0.88")),
        (Decimal("500000000"), None, Decimal("0.83")),
    ]


def test_a_json_number_as_a_rate_is_refused_naming_the_field() -> None:
    assert _refused(_tier(rate_pct=0.9)) == (
        'changes[0].schedule.tiers[0].rate_pct: 0.9 must be a decimal string such as "0.88",'
        " not a JSON number (it may not hold the digits exactly)"
    )


@pytest.mark.parametrize(("field", "value"), [("from", 0), ("to", 500000000), ("to", 5e8)])
def test_a_json_number_as_a_bound_is_refused_naming_the_field(field: str, value: Any) -> None:
    assert _refused(_tier(**{field: value})).startswith(
        f"changes[0].schedule.tiers[0].{field}: {json.dumps(value)} must be a decimal string"
    )


@pytest.mark.parametrize("value", ["1_000", "+0.9", "9E-1", " 0.9", "٠.9", "-0"])
def test_a_rate_outside_the_decimal_pattern_is_refused(value: str) -> None:
    refusal = _refused(_tier(rate_pct=value))
    quoted = json.dumps(value, ensure_ascii=False)
    assert refusal.startswith(f"changes[0].schedule.tiers[0].rate_pct: {quoted} is not a plain")


def test_a_negative_rate_is_refused_as_negative() -> None:
    assert _refused(_tier(rate_pct="-0.9")) == (
        'changes[0].schedule.tiers[0].rate_pct: "-0.9" must not be negative'
    )


def test_dates_and_counts_follow_the_wire_rules() -> None:
    data = {**AMENDMENT_FILE_EXAMPLE, "effective_date": "2006-11-01T00:00:00Z"}
    assert _refused(data).startswith('effective_date: "2006-11-01T00:00:00Z" must be a date')
    data = {**AMENDMENT_FILE_EXAMPLE, "amendment_number": "22"}
    assert _refused(data).startswith('amendment_number: "22" ')


def test_what_a_change_needs_follows_from_its_action() -> None:
    assert _refused(_file(action="merge")) == (
        'changes[0].action: "merge" must be one of add, revise, replace, replace_in_whole,'
        " waiver, remove, rename, fee_method, group"
    )
    assert _refused(_file(action="waiver")) == "changes[0].period: missing (a required field)"
    period = {"from": "2007-01-01", "to": "2007-12-31"}
    assert _refused(_file(period=period)).startswith("changes[0].period: a JSON object ")
    waiver = validate_amendment_file(_file(action="waiver", period=period))
    (change,) = amendment_from_file(waiver, None).changes
    assert isinstance(change, WaiverChange) and change.period.end.isoformat() == "2007-12-31"


def test_an_uncertain_reading_is_refused_with_its_note() -> None:
    refusal = _refused(_file(parseable=False, note="rates cut off", schedule=None))
    assert refusal.startswith("changes[0].parseable: False ('Met/AIM Small Cap Growth Portfolio')")
    assert "rates cut off" in refusal
    assert _refused(_file(parseable=1)).startswith("changes[0].parseable: 1 must be true or false")


def test_unknown_fields_and_python_names_are_refused() -> None:
    assert _refused({**AMENDMENT_FILE_EXAMPLE, "colour": "red"}).startswith("colour: ")
    refusal = _refused(_tier(lower="0"))
    assert refusal.startswith("changes[0].schedule.tiers[0].lower: ")


def test_the_bytes_are_read_as_strictly_as_the_wire() -> None:
    text = EXAMPLE.read_text().replace(
        '"rate_pct": "0.88"', '"rate_pct": "0.88", "rate_pct": "8.8"'
    )
    with pytest.raises(WireError, match='duplicate key "rate_pct"'):
        load_amendment_file(text.encode())
    with pytest.raises(WireError, match="NaN"):
        load_amendment_file(EXAMPLE.read_text().replace('"0.88"', "NaN").encode())
    with pytest.raises(WireError, match="UTF-8"):
        load_amendment_file(b"\xff\xfe{}")
    with pytest.raises(DomainError, match="must be a JSON object"):
        load_amendment_file(b"[]")


def test_ingest_turns_the_parsers_whole_dollar_bounds_into_decimal_strings() -> None:
    """The parser (and the corpus) write bounds as JSON integers; `ingest` records its own
    reading, so it converts them; a file given to `amend` must say them as strings."""
    reading = _file(
        schedule={
            "tiers": [
                {"from": 0, "to": 500000000, "rate_pct": "0.88"},
                {"from": 500000000, "to": None, "rate_pct": "0.83"},
            ]
        }
    )
    assert "must be a decimal string" in _refused(reading)
    converted = validate_amendment_file(_decimal_bounds(reading))
    assert converted == AmendmentFile.model_validate(AMENDMENT_FILE_EXAMPLE)

"""`contracts.trusted`: an instance of values valid already is the instance validation makes
of them (its fields set, equal, serialized alike), and values that do not fill the model's
fields exactly are refused by name. Run on the sources and on the compiled build."""

from __future__ import annotations

from decimal import Decimal

import pytest

from contracts.messages import BandCharge
from contracts.trusted import trusted
from contracts.wire import encode
from tests.unit.test_contracts import samples

VALUES = {
    "lower": Decimal(0),
    "upper": Decimal(500_000_000),
    "rate_pct": Decimal("0.880"),
    "assets_in_band": Decimal("123.45"),
    "annual_charge": Decimal("1.086360"),
}


def test_a_trusted_instance_is_the_validated_one() -> None:
    made = trusted(BandCharge, dict(VALUES))
    validated = BandCharge.model_validate(VALUES)
    assert made == validated
    assert made.model_fields_set == validated.model_fields_set == set(VALUES)
    assert made.model_dump_json() == validated.model_dump_json()
    assert made.model_copy(update={"lower": Decimal(1)}).lower == Decimal(1)
    assert made.model_fields_set == set(VALUES)  # a copy's change is not the original's


def test_a_trusted_message_encodes_as_the_validated_one() -> None:
    for message in samples():  # one of every message type, validated
        values = {name: getattr(message, name) for name in type(message).model_fields}
        assert encode(trusted(type(message), values)) == encode(message)


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({k: v for k, v in VALUES.items() if k != "upper"}, "missing ['upper']"),
        (VALUES | {"band": 1}, "unknown ['band']"),
    ],
)
def test_values_that_do_not_fill_the_fields_are_refused_by_name(
    values: dict[str, object], named: str
) -> None:
    with pytest.raises(TypeError, match=named.replace("[", r"\[")):
        trusted(BandCharge, values)

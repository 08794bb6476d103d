"""Worked examples of the fee engine: the seed schedule, day counts, rounding, rejected shapes."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

import pytest

from services.domain.errors import DomainError
from services.domain.fees import (
    DayCount,
    FeeSchedule,
    RoundingPolicy,
    Tier,
    accrue,
    to_decimal,
)

SEED_TIERS: list[dict[str, Any]] = [
    {"from": 0, "to": 500000000, "rate_pct": "0.88"},
    {"from": 500000000, "to": None, "rate_pct": "0.83"},
]
SEED = FeeSchedule.from_json(SEED_TIERS)
CENT = Decimal("0.01")


def close(value: Decimal, exact: Fraction) -> bool:
    """`value` equals the exact rational to 30 significant digits (the engine keeps 34)."""
    return abs(Fraction(value) - exact) <= abs(exact) * Fraction(1, 10**30)


def test_seed_schedule_at_750m_on_2006_11_15() -> None:
    # By hand: 0.88% of the first $500M, 0.83% of the $250M above it.
    first = Decimal("500000000") * Decimal("0.0088")  # 4,400,000.00
    above = Decimal("250000000") * Decimal("0.0083")  # 2,075,000.00
    annual = first + above
    assert annual == Decimal("6475000.00")
    daily_exact = annual / Decimal(365)
    daily = daily_exact.quantize(CENT, rounding=ROUND_HALF_UP)
    assert daily == Decimal("17739.73")

    acc = accrue(SEED, Decimal("750000000"), date(2006, 11, 15))
    assert acc.annual_fee == annual
    assert acc.year_basis == 365
    assert acc.day_count is DayCount.ACT_365F
    assert acc.amount == daily
    assert close(acc.amount_exact, Fraction(annual) / 365)
    assert acc.amount_exact != acc.amount  # the unrounded value is kept beside the rounded one
    assert [b.assets_in_band for b in acc.breakdown] == [Decimal(500000000), Decimal(250000000)]
    assert [b.annual_charge for b in acc.breakdown] == [first, above]
    assert close(acc.effective_rate_pct, Fraction(annual) * 100 / 750000000)
    assert acc.rounding.name == "ROUND_HALF_UP:0.01"


def test_seed_over_a_weekend_accrues_three_days() -> None:
    annual = Decimal("500000000") * Decimal("0.0088") + Decimal("250000000") * Decimal("0.0083")
    acc = accrue(SEED, Decimal("750000000"), date(2006, 11, 17), accrual_days=3)
    assert acc.amount == (annual * 3 / 365).quantize(CENT, rounding=ROUND_HALF_UP)
    assert acc.amount == Decimal("53219.18")


@pytest.mark.parametrize(
    ("day_count", "on", "basis"),
    [
        (DayCount.ACT_ACT, date(2008, 6, 30), 366),
        (DayCount.ACT_ACT, date(2007, 6, 30), 365),
        (DayCount.ACT_ACT, date(2000, 1, 1), 366),
        (DayCount.ACT_ACT, date(2100, 1, 1), 365),
        (DayCount.ACT_360, date(2008, 6, 30), 360),
        (DayCount.ACT_360, date(2007, 6, 30), 360),
        (DayCount.ACT_365F, date(2008, 6, 30), 365),
    ],
)
def test_day_count_year_basis(day_count: DayCount, on: date, basis: int) -> None:
    acc = accrue(SEED, Decimal("750000000"), on, day_count=day_count)
    assert acc.year_basis == basis
    assert close(acc.amount_exact, Fraction(6475000) / basis)


def test_act_act_in_2008_and_act_360_amounts() -> None:
    annual = Decimal("6475000.00")
    act_act = accrue(SEED, Decimal("750000000"), date(2008, 2, 29), day_count=DayCount.ACT_ACT)
    assert act_act.amount == (annual / 366).quantize(CENT, rounding=ROUND_HALF_UP)
    assert act_act.amount == Decimal("17691.26")
    act_360 = accrue(SEED, Decimal("750000000"), date(2008, 2, 29), day_count=DayCount.ACT_360)
    assert act_360.amount == Decimal("17986.11")  # 6,475,000 / 360 = 17,986.111...


def test_day_count_parse() -> None:
    assert DayCount.parse("act/act") is DayCount.ACT_ACT
    with pytest.raises(DomainError) as err:
        DayCount.parse("30/360")
    assert (err.value.field, err.value.value) == ("day_count", "30/360")


@pytest.mark.parametrize(
    ("assets", "half_up", "half_even"),
    [
        # 1% flat, ACT/360, one day: assets x 0.01 / 360.
        ("4500", "0.13", "0.12"),  # exactly 0.125
        ("4860", "0.14", "0.14"),  # exactly 0.135
        ("4518", "0.13", "0.13"),  # exactly 0.1255: above the half either way
        ("8100", "0.23", "0.22"),  # exactly 0.225
    ],
)
def test_rounding_policies_on_a_half_cent(assets: str, half_up: str, half_even: str) -> None:
    flat = FeeSchedule.flat("1")
    exact = Decimal(assets) * Decimal("0.01") / 360
    kwargs: dict[str, Any] = {"day_count": DayCount.ACT_360}
    up = accrue(flat, Decimal(assets), date(2007, 1, 2), **kwargs)
    even = accrue(
        flat,
        Decimal(assets),
        date(2007, 1, 2),
        rounding=RoundingPolicy("ROUND_HALF_EVEN"),
        **kwargs,
    )
    assert up.amount_exact == even.amount_exact == exact
    assert up.amount == Decimal(half_up)
    assert even.amount == Decimal(half_even)
    assert even.rounding.name == "ROUND_HALF_EVEN:0.01"


def test_rounding_policy_parse_and_names() -> None:
    assert RoundingPolicy.parse("ROUND_HALF_EVEN:0.01") == RoundingPolicy("ROUND_HALF_EVEN")
    assert RoundingPolicy.parse("ROUND_DOWN").quantum == Decimal("0.01")
    whole_dollars = RoundingPolicy.parse("ROUND_HALF_UP:1")
    assert whole_dollars.apply(Decimal("10.5")) == Decimal("11")
    with pytest.raises(DomainError) as err:
        RoundingPolicy("ROUND_SIDEWAYS")
    assert (err.value.field, err.value.value) == ("rounding", "ROUND_SIDEWAYS")


@pytest.mark.parametrize(
    "name",
    [
        "ROUND_HALF_UP:abc",
        "ROUND_HALF_UP:0",
        "ROUND_HALF_UP:-0.01",
        "ROUND_HALF_UP:0.05",
        "ROUND_HALF_UP:0.010",
    ],
)
def test_rounding_policy_with_a_bad_quantum_names_it(name: str) -> None:
    with pytest.raises(DomainError) as err:
        RoundingPolicy.parse(name)
    assert err.value.field == "rounding"
    assert name.partition(":")[2] in str(err.value.value)


def test_rates_are_kept_as_written() -> None:
    tiers = [
        {"from": 0, "to": "250000000", "rate_pct": "0.650"},
        {"from": "250000000", "to": 1000000000, "rate_pct": "1.0"},
        {"from": 1000000000, "to": None, "rate_pct": "0.0000"},
    ]
    schedule = FeeSchedule.from_json(tiers)
    assert [str(t.rate_pct) for t in schedule.tiers] == ["0.650", "1.0", "0.0000"]
    out = schedule.as_json()
    assert [t["rate_pct"] for t in out] == ["0.650", "1.0", "0.0000"]
    assert out[0] == {"from": "0", "to": "250000000", "rate_pct": "0.650"}
    assert out[-1]["to"] is None
    # Round trip: the JSON it writes reads back to the same schedule.
    assert FeeSchedule.from_json(out) == schedule
    assert FeeSchedule.flat("0.650").tiers[0].rate_pct.as_tuple().exponent == -3


def test_zero_assets_and_zero_rate() -> None:
    acc = accrue(SEED, Decimal(0), date(2007, 1, 2))
    assert acc.amount == 0 and acc.annual_fee == 0
    assert acc.effective_rate_pct == Decimal("0.88")  # the first band's rate at zero assets
    free = FeeSchedule.flat("0")
    assert accrue(free, Decimal("123456789.12"), date(2007, 1, 2)).amount == 0


def test_describe_reads_like_the_filing() -> None:
    assert SEED.describe() == "0.88% to $500M, 0.83% above"
    assert FeeSchedule.flat("0.75").describe() == "0.75% flat"


# ---- rejected schedule shapes ------------------------------------------------------------


def band(lo: Any, hi: Any, rate: Any = "0.5") -> dict[str, Any]:
    return {"from": lo, "to": hi, "rate_pct": rate}


REJECTED: list[tuple[str, Any, str, Any]] = [
    ("gap", [band(0, 100), band(200, None)], "tiers[1].from", "200"),
    ("overlap", [band(0, 100), band(50, None)], "tiers[1].from", "50"),
    (
        "descending bounds",
        [band(0, 100), band(100, 50), band(50, None)],
        "tiers[1].to",
        "50",
    ),
    ("empty band", [band(0, 0), band(0, None)], "tiers[0].to", "0"),
    ("not starting at 0", [band(5, 100), band(100, None)], "tiers[0].from", "5"),
    ("negative start", [band(-5, None)], "tiers[0].from", "-5"),
    ("bounded last band", [band(0, 100), band(100, 200)], "tiers[1].to", "200"),
    ("bounded only band", [band(0, 100)], "tiers[0].to", "100"),
    (
        "open-ended middle band",
        [band(0, 100), band(100, None), band(200, None)],
        "tiers[1].to",
        None,
    ),
    ("negative rate", [band(0, 100), band(100, None, "-0.01")], "tiers[1].rate_pct", "-0.01"),
    ("rate of 100%", [band(0, None, "100")], "tiers[0].rate_pct", "100"),
    ("rate above 100%", [band(0, 100), band(100, None, "250.5")], "tiers[1].rate_pct", "250.5"),
    ("non-numeric rate", [band(0, None, "abc")], "tiers[0].rate_pct", "abc"),
    ("non-numeric bound", [band(0, "lots"), band("lots", None)], "tiers[0].to", "lots"),
    ("float rate", [band(0, None, 0.5)], "tiers[0].rate_pct", 0.5),
    ("float bound", [band(0, 1.5e8), band(150000000, None)], "tiers[0].to", 1.5e8),
    ("boolean rate", [band(0, None, True)], "tiers[0].rate_pct", True),
    ("infinite rate", [band(0, None, "Infinity")], "tiers[0].rate_pct", "Infinity"),
    ("missing rate", [{"from": 0, "to": None}], "tiers[0].rate_pct", None),
    ("band not an object", [band(0, 100), "0.5%"], "tiers[1]", "0.5%"),
    ("empty list", [], "tiers", []),
    ("not a list", {"from": 0}, "tiers", {"from": 0}),
]


@pytest.mark.parametrize(
    ("tiers", "field", "value"),
    [pytest.param(t, f, v, id=name) for name, t, f, v in REJECTED],
)
def test_rejected_schedule_names_field_and_value(tiers: Any, field: str, value: Any) -> None:
    with pytest.raises(DomainError) as err:
        FeeSchedule.from_json(tiers)
    assert err.value.field == field
    assert err.value.value == value
    assert field in str(err.value)
    assert repr(value) in str(err.value)


def test_tier_objects_are_validated_too() -> None:
    with pytest.raises(DomainError) as err:
        FeeSchedule((Tier(Decimal(0), Decimal(10), Decimal("0.5")),))
    assert err.value.field == "tiers[0].to"
    with pytest.raises(DomainError) as err:
        FeeSchedule(())
    assert err.value.field == "tiers"


@pytest.mark.parametrize("value", ["-1", "-0.01", "NaN", "abc", 1.5])
def test_bad_net_assets_are_refused_naming_net_assets(value: Any) -> None:
    with pytest.raises(DomainError) as err:
        accrue(SEED, to_decimal("net_assets", value), date(2007, 1, 2))
    assert err.value.field == "net_assets"


def test_absurd_net_assets_are_a_domain_error_not_a_crash() -> None:
    with pytest.raises(DomainError) as err:
        accrue(SEED, Decimal("1e400"), date(2007, 1, 2))
    assert err.value.field == "net_assets"


@pytest.mark.parametrize("days", [0, -1, 367, True])
def test_accrual_days_out_of_range(days: int) -> None:
    with pytest.raises(DomainError) as err:
        accrue(SEED, Decimal(1), date(2007, 1, 2), accrual_days=days)
    assert (err.value.field, err.value.value) == ("accrual_days", days)


def test_to_decimal_reads_strings_with_separators_and_refuses_floats() -> None:
    assert to_decimal("x", "750,000,000.00") == Decimal("750000000.00")
    assert to_decimal("x", " 1_000 ") == Decimal(1000)
    assert to_decimal("x", 7) == Decimal(7)
    with pytest.raises(DomainError) as err:
        to_decimal("net_assets", 0.1)
    assert (err.value.field, err.value.value) == ("net_assets", 0.1)


def test_rounding_to_a_fine_quantum_does_not_depend_on_the_ambient_precision() -> None:
    fine = RoundingPolicy.parse("ROUND_HALF_UP:0.000000000000000000000001")
    big = Decimal("987654321987.1234567890123456789012345")
    assert fine.apply(big) == Decimal("987654321987.123456789012345678901235")

"""`feeschedule quote` against an independent calculation, and its handling of bad input.

The expected fees here are computed with `fractions.Fraction` from the raw tiers JSON, without
importing the domain, so the CLI is checked against a second implementation of the rules.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

FEESCHEDULE = str(Path(sys.executable).parent / "feeschedule")
PLAIN_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")
SEED_TIERS = (
    '[{"from":0,"to":500000000,"rate_pct":"0.88"},{"from":500000000,"to":null,"rate_pct":"0.83"}]'
)


# ---- an independent calculator -------------------------------------------------------------


def frac(value: Any) -> Fraction:
    return Fraction(str(value))


def year_basis(day_count: str, on: date) -> int:
    if day_count == "ACT/360":
        return 360
    leap = on.year % 4 == 0 and (on.year % 100 != 0 or on.year % 400 == 0)
    return 366 if day_count == "ACT/ACT" and leap else 365


def expected_quote(
    tiers: list[dict[str, Any]], net_assets: str, on: date, days: int, day_count: str
) -> dict[str, Any]:
    assets = frac(net_assets)
    annual = Fraction(0)
    bands = []
    for t in tiers:
        lower = frac(t["from"])
        top = assets if t["to"] is None else min(assets, frac(t["to"]))
        inside = max(top - lower, Fraction(0))
        charge = inside * frac(t["rate_pct"]) / 100
        bands.append((inside, charge))
        annual += charge
    exact = annual * days / year_basis(day_count, on)
    cents = exact * 100
    whole = cents.numerator // cents.denominator
    if cents - whole >= Fraction(1, 2):  # ROUND_HALF_UP on a non-negative amount
        whole += 1
    return {
        "annual_fee": annual,
        "amount_exact": exact,
        "amount": Fraction(whole, 100),
        "bands": bands,
        "year_basis": year_basis(day_count, on),
    }


def close(text: str, exact: Fraction, rel: Fraction = Fraction(1, 10**12)) -> bool:
    return abs(frac(text) - exact) <= abs(exact) * rel


def check_against_independent(out: dict[str, Any], case: Case) -> None:
    want = expected_quote(case.tiers, case.net_assets, case.on, case.days, case.day_count)
    assert frac(out["amount"]) == want["amount"], "amount must agree to the cent"
    assert close(out["amount_exact"], want["amount_exact"])
    assert close(out["annual_fee"], want["annual_fee"])
    assert out["year_basis"] == want["year_basis"]
    assert out["accrual_days"] == case.days
    assert out["day_count"] == case.day_count
    assert out["as_of"] == case.on.isoformat()
    assert len(out["breakdown"]) == len(case.tiers)
    for band, (inside, charge), tier in zip(
        out["breakdown"], want["bands"], case.tiers, strict=True
    ):
        assert frac(band["assets_in_band"]) == inside
        assert close(band["charge"], charge)
        assert band["rate_pct"] == str(tier["rate_pct"])  # as written
    if frac(case.net_assets) > 0:
        assert close(out["effective_rate_pct"], want["annual_fee"] * 100 / frac(case.net_assets))
    # Every decimal travels as a plain decimal string (no floats, no exponent notation).
    decimals = [out[k] for k in ("annual_fee", "amount", "amount_exact", "effective_rate_pct")]
    decimals += [b[k] for b in out["breakdown"] for k in ("assets_in_band", "charge", "rate_pct")]
    for value in decimals:
        assert isinstance(value, str) and PLAIN_DECIMAL.match(value), value


# ---- generated cases ------------------------------------------------------------------------


class Case:
    def __init__(
        self, tiers: list[dict[str, Any]], net_assets: str, on: date, days: int, day_count: str
    ) -> None:
        self.tiers, self.net_assets, self.on, self.days, self.day_count = (
            tiers,
            net_assets,
            on,
            days,
            day_count,
        )

    def args(self) -> list[str]:
        return [
            "quote",
            "--tiers",
            json.dumps(self.tiers),
            "--net-assets",
            self.net_assets,
            "--as-of",
            self.on.isoformat(),
            "--days",
            str(self.days),
            "--day-count",
            self.day_count,
            "--json",
        ]

    def __repr__(self) -> str:
        return f"feeschedule {' '.join(repr(a) for a in self.args())}"


@st.composite
def rate_text(draw: st.DrawFn) -> str:
    places = draw(st.integers(0, 4))
    units = draw(st.integers(0, 100 * 10**places - 1))
    text = str(units).rjust(places + 1, "0")
    return f"{text[:-places]}.{text[-places:]}" if places else text


@st.composite
def cases(draw: st.DrawFn) -> Case:
    n = draw(st.integers(1, 6))
    bounds = sorted(draw(st.sets(st.integers(1, 50 * 10**9), min_size=n - 1, max_size=n - 1)))
    lowers = [0, *bounds]
    uppers: list[int | None] = [*bounds, None]
    as_text = draw(st.booleans())  # bounds as JSON numbers or as strings: both are read
    tiers = [
        {
            "from": str(lo) if as_text else lo,
            "to": None if up is None else (str(up) if as_text else up),
            "rate_pct": draw(rate_text()),
        }
        for lo, up in zip(lowers, uppers, strict=True)
    ]
    cents = draw(
        st.one_of(
            st.integers(0, 100 * 10**9 * 100),
            st.sampled_from([b * 100 for b in bounds] or [0]),  # exactly on a breakpoint
        )
    )
    net_assets = f"{cents // 100}.{cents % 100:02d}" if draw(st.booleans()) else str(cents // 100)
    on = draw(
        st.one_of(
            st.dates(date(1999, 1, 1), date(2101, 12, 31)),
            st.sampled_from([date(2008, 2, 29), date(2000, 12, 31), date(2100, 3, 1)]),
        )
    )
    days = draw(st.integers(1, 4))
    day_count = draw(st.sampled_from(["ACT/365F", "ACT/ACT", "ACT/360"]))
    return Case(tiers, net_assets, on, days, day_count)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FEESCHEDULE, *args], capture_output=True, text=True, timeout=60, check=False
    )


@settings(max_examples=12, deadline=None)
@given(cases())
def test_console_script_agrees_with_an_independent_calculation(case: Case) -> None:
    result = run_cli(*case.args())
    assert result.returncode == 0, result.stderr
    check_against_independent(json.loads(result.stdout), case)


@pytest.fixture(scope="module")
def runner_app() -> Any:
    from services.cli import app, register_service_commands

    register_service_commands()
    return app


@settings(max_examples=300, deadline=None)
@given(case=cases())
def test_quote_in_process_agrees_with_an_independent_calculation(
    runner_app: Any, case: Case
) -> None:
    result = CliRunner().invoke(runner_app, case.args())
    assert result.exit_code == 0, (result.output, result.exception)
    check_against_independent(json.loads(result.stdout), case)


def test_seed_quote_by_hand() -> None:
    result = run_cli(
        "quote", "--tiers", SEED_TIERS, "--net-assets", "750000000", "--as-of", "2006-11-15"
    )
    assert result.returncode == 0, result.stderr
    # The readable table carries the seed's numbers.
    assert "6,475,000.00" in result.stdout
    assert "17,739.73" in result.stdout


def test_short_schedule_notation_prices_like_the_tiers_json() -> None:
    common = ["--net-assets", "1750000000.50", "--as-of", "2008-02-29", "--days", "3"]
    common += ["--day-count", "ACT/ACT", "--json"]
    notation = run_cli("quote", "--schedule", "0.88% to 500M, 0.83% to $1.5B, 0.8%", *common)
    tiers = [
        {"from": 0, "to": 500000000, "rate_pct": "0.88"},
        {"from": 500000000, "to": 1500000000, "rate_pct": "0.83"},
        {"from": 1500000000, "to": None, "rate_pct": "0.8"},
    ]
    assert notation.returncode == 0, notation.stderr
    out = json.loads(notation.stdout)
    check_against_independent(out, Case(tiers, "1750000000.50", date(2008, 2, 29), 3, "ACT/ACT"))
    by_json = json.loads(run_cli("quote", "--tiers", json.dumps(tiers), *common).stdout)
    assert {k: out[k] for k in ("annual_fee", "amount", "amount_exact")} == {
        k: by_json[k] for k in ("annual_fee", "amount", "amount_exact")
    }


def test_short_notation_accepts_thousands_separators() -> None:
    result = run_cli(
        "quote", "--schedule", "1% to 1,000,000, 0.5%", "--net-assets", "3650000",
        "--as-of", "2007-01-02", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    # 1% of 1,000,000 + 0.5% of 2,650,000 = 10,000 + 13,250 = 23,250 a year.
    assert frac(out["annual_fee"]) == 23250
    assert out["amount"] == "63.70"  # 23,250 / 365 = 63.6986...


# ---- bad input --------------------------------------------------------------------------------


def band(lo: Any, hi: Any, rate: Any = "0.5") -> dict[str, Any]:
    return {"from": lo, "to": hi, "rate_pct": rate}


GOOD = [band(0, None)]

BAD_INPUT: list[tuple[str, list[str], str, str]] = [
    # name, arguments, field named, value named
    ("gap", ["--tiers", json.dumps([band(0, 100), band(200, None)])], "tiers[1].from", "200"),
    ("overlap", ["--tiers", json.dumps([band(0, 100), band(50, None)])], "tiers[1].from", "50"),
    (
        "descending bounds",
        ["--tiers", json.dumps([band(0, 100), band(100, 50), band(50, None)])],
        "tiers[1].to",
        "50",
    ),
    (
        "band not starting at 0",
        ["--tiers", json.dumps([band(7, 100), band(100, None)])],
        "tiers[0].from",
        "7",
    ),
    (
        "bounded last band",
        ["--tiers", json.dumps([band(0, 100), band(100, 300)])],
        "tiers[1].to",
        "300",
    ),
    (
        "negative rate",
        ["--tiers", json.dumps([band(0, 100), band(100, None, "-0.25")])],
        "tiers[1].rate_pct",
        "-0.25",
    ),
    ("rate of 100%", ["--tiers", json.dumps([band(0, None, "100")])], "tiers[0].rate_pct", "100"),
    (
        "rate above 100%",
        ["--tiers", json.dumps([band(0, None, "150.5")])],
        "tiers[0].rate_pct",
        "150.5",
    ),
    (
        "non-numeric rate",
        ["--tiers", json.dumps([band(0, None, "zero point five")])],
        "tiers[0].rate_pct",
        "zero point five",
    ),
    (
        "non-numeric bound",
        ["--tiers", json.dumps([band(0, "1M"), band("1M", None)])],
        "tiers[0].to",
        "1M",
    ),
    ("non-numeric net assets", ["--net-assets", "lots"], "net_assets", "lots"),
    ("negative net assets", ["--net-assets", "-1"], "net_assets", "-1"),
    ("absurd net assets", ["--net-assets", "1e400"], "net_assets", "1E+400"),
    ("unknown day count", ["--day-count", "30/360"], "day_count", "30/360"),
    ("bad date", ["--as-of", "2007-02-29"], "as_of", "2007-02-29"),
    ("zero days", ["--days", "0"], "accrual_days", "0"),
    ("non-numeric days", ["--days", "three"], "accrual_days", "three"),
    ("bad rounding", ["--rounding", "ROUND_HALF_UP:abc"], "rounding", "ROUND_HALF_UP:abc"),
    ("tiers not JSON", ["--tiers", "[{from: 0}]"], "tiers", "[{from: 0}]"),
    (
        "bad notation",
        ["--schedule", "0.88% to 500M, banana"],
        "schedule[1]",
        "banana",
    ),
    (
        "notation with a bounded last band",
        ["--schedule", "0.88% to 500M"],
        "tiers[0].to",
        "500000000",
    ),
]


def with_defaults(args: list[str]) -> list[str]:
    defaults = {
        "--net-assets": "1000",
        "--as-of": "2007-01-02",
        "--tiers": json.dumps(GOOD),
    }
    given_options = set(args[::2])
    if "--schedule" in given_options:
        defaults.pop("--tiers")
    full = ["quote", *args]
    for option, default in defaults.items():
        if option not in given_options:
            full += [option, default]
    return full


def assert_one_line_error(code: int, stdout: str, stderr: str, field: str, value: str) -> None:
    assert code == 2, (stdout, stderr)
    assert stdout == ""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert field in lines[0]
    assert value in lines[0]


@pytest.mark.parametrize(
    ("args", "field", "value"),
    [pytest.param(a, f, v, id=name) for name, a, f, v in BAD_INPUT],
)
def test_bad_input_exits_2_with_one_line_naming_field_and_value(
    args: list[str],
    field: str,
    value: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """In process, through the console script's own entry point `services.cli.main`."""
    from services.cli import main

    monkeypatch.setattr(sys, "argv", ["feeschedule", *with_defaults(args)])
    with pytest.raises(SystemExit) as exited:
        main()
    out, err = capsys.readouterr()
    code = exited.value.code
    assert isinstance(code, int)
    assert_one_line_error(code, out, err, field, value)


# The same through the installed console script, for a few kinds of error.
SUBPROCESS_BAD = {"gap", "negative net assets", "unknown day count", "non-numeric days"}


@pytest.mark.parametrize(
    ("args", "field", "value"),
    [pytest.param(a, f, v, id=name) for name, a, f, v in BAD_INPUT if name in SUBPROCESS_BAD],
)
def test_console_script_bad_input(args: list[str], field: str, value: str) -> None:
    result = run_cli(*with_defaults(args))
    assert_one_line_error(result.returncode, result.stdout, result.stderr, field, value)


def test_tiers_and_schedule_together_are_refused() -> None:
    result = run_cli(
        "quote", "--tiers", json.dumps(GOOD), "--schedule", "0.5%",
        "--net-assets", "1", "--as-of", "2007-01-02",
    )  # fmt: skip
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "--schedule" in result.stderr


def test_unknown_option_is_one_line_too() -> None:
    result = run_cli("quote", "--net-assets", "1", "--as-of", "2007-01-02", "--colour", "red")
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "--colour" in result.stderr


def test_figures_are_written_as_the_wire_writes_them() -> None:
    # A signed zero and a fraction of a cent: no "-0" and no exponent, in JSON or for a person.
    common = ["quote", "--schedule", "0.88%", "--as-of", "2024-01-02"]
    zero = json.loads(run_cli(*common, "--net-assets", "-0", "--json").stdout)
    assert zero["net_assets"] == "0"
    assert zero["breakdown"][0]["assets_in_band"] == "0"
    tiny = json.loads(run_cli(*common, "--net-assets", "0.01", "--json").stdout)
    assert tiny["amount_exact"].startswith("0.000000241095890410958904")
    readable = run_cli(*common, "--net-assets", "0.01").stdout
    assert "accrual (exact)  0.000000241095890410958904" in readable
    assert "E-" not in readable

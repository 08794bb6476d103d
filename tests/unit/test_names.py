"""Portfolio names: normalising written names and their stable ids."""

from __future__ import annotations

import pytest

from services.domain.names import (
    clean_written_name,
    name_key,
    normalise_portfolio_name,
    portfolio_id_for,
)


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("Van  Kampen  Comstock Portfolio", "Van Kampen Comstock Portfolio"),
        (
            "Met/Putnam Capital Opportunities\n   Portfolio",
            "Met/Putnam Capital Opportunities Portfolio",
        ),
        ("Transamerica Core Bond**", "Transamerica Core Bond"),
        ("Convertible Fund *", "Convertible Fund"),
        ("Income Builder Fund*,", "Income Builder Fund"),
        ("Lord Abbett Bond Debenture Portfolio2", "Lord Abbett Bond Debenture Portfolio"),
        ("MFS\u00ae Emerging Markets Equity Portfolio", "MFS Emerging Markets Equity Portfolio"),
        ("MFS(R) Research Portfolio", "MFS Research Portfolio"),
        (
            "ClearBridge Aggressive Growth Portfolio II",
            "ClearBridge Aggressive Growth Portfolio II",
        ),
        ("Target 2030 Fund", "Target 2030 Fund"),
    ],
)
def test_normalise_portfolio_name(raw: str, name: str) -> None:
    assert normalise_portfolio_name(raw) == name


def test_written_name_keeps_trademark_marks() -> None:
    assert clean_written_name("MFS\u00ae Emerging Markets Portfolio*") == (
        "MFS\u00ae Emerging Markets Portfolio"
    )


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Met/AIM Small Cap Growth Portfolio", "met-aim-small-cap-growth-portfolio"),
        ("T. Rowe Price Mid-Cap Growth Portfolio", "t-rowe-price-mid-cap-growth-portfolio"),
        ("MFS\u00ae Emerging Markets Equity Portfolio", "mfs-emerging-markets-equity-portfolio"),
        ("Lord, Abbett & Co. Fund", "lord-abbett-and-co-fund"),
    ],
)
def test_portfolio_id_for(name: str, slug: str) -> None:
    assert portfolio_id_for(name) == slug


def test_id_is_stable_across_written_forms() -> None:
    forms = [
        "Van  Kampen Comstock\nPortfolio",
        "Van Kampen Comstock Portfolio*",
        "VAN KAMPEN COMSTOCK PORTFOLIO",
    ]
    assert len({portfolio_id_for(f) for f in forms}) == 1


@pytest.mark.parametrize(
    ("written", "typed"),
    [
        ("Met/AIM Small Cap Growth Portfolio", "met/aim  small cap growth portfolio"),
        ("Core Bond Fund\u00ae", "CORE BOND FUND"),
        ("Core Bond Fund*", "core bond fund,"),
        ("Stra\u00dfe Fund", "STRASSE FUND"),
    ],
)
def test_one_name_key_matches_what_only_wrapping_marks_and_case_tell_apart(
    written: str, typed: str
) -> None:
    assert name_key(written) == name_key(typed)


def test_the_name_key_keeps_digits_that_tell_portfolios_apart() -> None:
    assert name_key("Fund P1") != name_key("Fund P2")
    assert name_key("Target 2030 Fund") != name_key("Target 2040 Fund")

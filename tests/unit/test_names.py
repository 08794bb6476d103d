"""Portfolio names: normalising written names and their stable ids."""

from __future__ import annotations

import pytest

from services.domain.names import clean_written_name, normalise_portfolio_name, portfolio_id_for


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

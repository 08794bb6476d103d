"""The layouts of issue 12 on filings written for these tests (no filed text is copied here).

Each text is a made-up amendment in one layout: ``|`` cells with a per-row effective-date
column, fixed-width bands in millions, a prose schedule with digit bounds, dot leaders, bands as
column headers, a restated exhibit, a rename rule stated once, a removal table, "the Fund"
resolved through the preamble, and a caption that must never become a portfolio.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from services.parsing.filing import read_filing
from services.parsing.model import ChangeReading, FilingReading

B = 1_000_000_000
M = 1_000_000


def _tiers(change: ChangeReading) -> list[tuple[int, int | None, Decimal]]:
    assert change.schedule is not None
    return [(t.from_, t.to, Decimal(t.rate_pct)) for t in change.schedule.tiers]


def _read(text: str) -> FilingReading:
    return read_filing(text, cut=False)


PIPE_CELLS = """AMENDMENT NO. 2 TO
EXHIBIT A
OF THE INVESTMENT MANAGEMENT AGREEMENT
THIS EXHIBIT to the Investment Management Agreement dated May 1, 2015 (the "Agreement") between \
SAMPLE FUNDS TRUST and SAMPLE MANAGEMENT COMPANY (the "Manager"), amended as of the 1st day of \
June, 2022, lists the Funds for which the Manager provides services and the fee of each Fund.
|Fund Name
|Effective Date
|Management Fee Schedule (as a percentage of average daily net assets)
|Sample Harbor Fund
(formerly Sample Lighthouse Fund)
|May 1, 2015
|0.80% on first $500 million
|0.75% on next $500 million
|0.70% on assets in excess of $1 billion
|Sample Meadow Fund
|June 1, 2022
|0.60% of net assets up to $1 billion
0.55% of net assets over $1 billion and up to $2 billion
0.50% of net assets over $2 billion
"""


def test_pipe_cells_with_effective_date_column() -> None:
    reading = _read(PIPE_CELLS)
    assert [c.portfolio for c in reading.changes] == ["Sample Harbor Fund", "Sample Meadow Fund"]
    harbor, meadow = reading.changes
    assert harbor.formerly == "Sample Lighthouse Fund"
    assert all(c.action == "replace_in_whole" and c.parseable for c in reading.changes)
    assert _tiers(harbor) == [
        (0, 500 * M, Decimal("0.80")),
        (500 * M, B, Decimal("0.75")),
        (B, None, Decimal("0.70")),
    ]
    assert _tiers(meadow)[-1] == (2 * B, None, Decimal("0.50"))
    assert (harbor.row_effective_date, meadow.row_effective_date) == (
        date(2015, 5, 1),
        date(2022, 6, 1),
    )


FIXED_WIDTH_MILLIONS = """AMENDMENT NO. 4 TO INVESTMENT ADVISORY AGREEMENT

This Amendment is made as of March 1, 2021 to the Investment Advisory Agreement dated January 2,
2015 (the "Agreement") between Sample Funds Trust (the "Trust") and Sample Advisors LLC (the
"Adviser").

1. Schedule A to the Agreement is hereby deleted in its entirety and replaced with the following:

Fund                                   Net Assets (millions)        Annual Rate
-------------------------------------  -------------------------    -----------
Sample Growth Fund                     $0 - $500                       0.80%
                                       >$500 - $1,000                  0.75%
                                       >$1,000                         0.70%
Sample Income Fund                     $0 - $250                       0.60%
                                       >$250                           0.55%

2. All other terms of the Agreement remain in full force and effect.
"""


def test_fixed_width_bands_in_millions() -> None:
    reading = _read(FIXED_WIDTH_MILLIONS)
    growth, income = reading.changes
    assert (growth.portfolio, income.portfolio) == ("Sample Growth Fund", "Sample Income Fund")
    assert growth.parseable and income.parseable
    assert _tiers(growth) == [
        (0, 500 * M, Decimal("0.80")),
        (500 * M, B, Decimal("0.75")),
        (B, None, Decimal("0.70")),
    ]
    assert _tiers(income) == [(0, 250 * M, Decimal("0.60")), (250 * M, None, Decimal("0.55"))]
    assert growth.action == "replace_in_whole"


PROSE = """AMENDMENT TO MANAGEMENT AGREEMENT

This Amendment dated as of June 1, 2020 is to the Management Agreement dated May 1, 2010 (the
"Agreement") between Sample Trust, on behalf of Sample Value Fund (the "Fund"), and Sample
Management LLC (the "Manager").

1. Section 3 of the Agreement is hereby amended to read as follows:

The Fund shall pay the Manager a fee at the annual rate of 0.70% of the first $1,000,000,000 of
average daily net assets, 0.65% of the excess over $1 billion up to $2.5 billion, 0.60% of the
excess over $2.5 billion up to $5 billion, and 0.55% of the excess over $5 billion.

2. Except as amended hereby, the Agreement remains in effect.
"""


def test_prose_schedule_for_the_defined_fund() -> None:
    (change,) = _read(PROSE).changes
    assert change.portfolio == "Sample Value Fund"
    assert change.parseable, change.note
    assert _tiers(change) == [
        (0, B, Decimal("0.70")),
        (B, 2_500 * M, Decimal("0.65")),
        (2_500 * M, 5 * B, Decimal("0.60")),
        (5 * B, None, Decimal("0.55")),
    ]


def test_prose_with_a_proviso_is_not_certain() -> None:
    text = PROSE.replace(
        "over $5 billion.", "over $5 billion; provided, however, that the rate may be lower."
    )
    (change,) = _read(text).changes
    assert not change.parseable
    assert change.note


DOT_LEADERS_AND_RANGES = """SCHEDULE A
(as of January 1, 2022)

Sample Small Cap Portfolio
First $250 million.............................0.95%
Next $250 million..............................0.90%
Over $500 million..............................0.85%

Sample Bond Portfolio
First $1 billion........ 0.40%
$1 billion - $3 billion ....... 0.35%
Greater than $3 billion........ 0.30%
"""


def test_dot_leaders_and_range_bands_of_a_restated_schedule() -> None:
    small, bond = _read(DOT_LEADERS_AND_RANGES).changes
    assert (small.portfolio, bond.portfolio) == (
        "Sample Small Cap Portfolio",
        "Sample Bond Portfolio",
    )
    assert small.action == bond.action == "replace_in_whole"
    assert _tiers(small)[-1] == (500 * M, None, Decimal("0.85"))
    assert _tiers(bond) == [
        (0, B, Decimal("0.40")),
        (B, 3 * B, Decimal("0.35")),
        (3 * B, None, Decimal("0.30")),
    ]


BANDS_AS_HEADERS = """AMENDMENT made this 1st day of June, 2021 to the Investment Management \
Contract dated May 8, 2012 (the "Agreement"), between Sample Series Trust, on behalf of its \
series Sample Classic Fund (the "Fund"), and Sample Advisers, LLC.
Section 4 of the Agreement is hereby amended to reflect the following fee schedule for the Fund:
Fund | First $2.5 billion of
Average Net Assets | Next $2.5 billion of
Average Net Assets | Excess over $5 billion of
Average Net Assets |
Sample Classic Fund | 0.750 | % | 0.740 | % | 0.730 | % |
2. | EFFECTIVE DATE |
This Amendment shall become effective as of the date first mentioned above.
"""


def test_bands_as_column_headers() -> None:
    (change,) = _read(BANDS_AS_HEADERS).changes
    assert change.portfolio == "Sample Classic Fund"
    assert change.parseable, change.note
    assert _tiers(change) == [
        (0, 2_500 * M, Decimal("0.750")),
        (2_500 * M, 5 * B, Decimal("0.740")),
        (5 * B, None, Decimal("0.730")),
    ]


RENAME_RULE = """AMENDMENT NO. 1 TO MASTER INVESTMENT ADVISORY AGREEMENT
This Amendment dated as of October 1, 2019, amends the Master Investment Advisory Agreement (the
"Agreement"), dated May 2, 2016, between Sample Stock Funds, a Delaware statutory trust, and
Sample Advisors, Inc., a Delaware corporation.
WHEREAS, the parties desire to amend the Agreement to rename each OLDCO Fund by replacing "OLDCO"
with "NEWCO" and further to change the name of OLDCO Tiny Cap Fund to NEWCO Small Cap Fund;
NOW, THEREFORE, the parties agree as follows:
1. Appendix A to the Agreement is hereby deleted in its entirety and replaced with the following:
NEWCO Momentum Fund
Net Assets | Annual Rate |
First $350 million | 0.60 | % |
Over $350 million | 0.55 | % |
NEWCO Small Cap Fund
Net Assets | Annual Rate |
All Assets | 1.00 | % |
"""


def test_rename_rule_stated_once_sets_formerly() -> None:
    momentum, small = _read(RENAME_RULE).changes
    assert (momentum.portfolio, momentum.formerly) == ("NEWCO Momentum Fund", "OLDCO Momentum Fund")
    assert (small.portfolio, small.formerly) == ("NEWCO Small Cap Fund", "OLDCO Tiny Cap Fund")
    assert momentum.parseable and small.parseable
    assert momentum.action == "replace_in_whole"


REMOVAL = """AMENDMENT NO. 9 TO MANAGEMENT AGREEMENT
This Amendment No. 9 to the Management Agreement dated May 1, 2001, by and between Sample Series
Trust and Sample Advisory LLC (the "Manager"), is entered into effective the 1st day of May, 2009.
NOW, THEREFORE, the Manager and the Trust hereby agree that the Agreement is amended as follows:
1. Schedule A of the Agreement hereby is amended to remove the following Portfolio:

     Portfolio                     Percentage of average daily net assets
---------------------------     ----------------------------------------
Sample Core Equity Portfolio    0.75% of first $150 million of such assets plus
                                0.70% of such assets over $150 million.

2. All other terms and conditions of the Agreement shall remain in full force and effect.
"""


def test_removal_table_repeating_the_fee_is_a_removal() -> None:
    (change,) = _read(REMOVAL).changes
    assert (change.action, change.portfolio) == ("remove", "Sample Core Equity Portfolio")
    assert change.schedule is None
    assert change.parseable


CAPTION = """AMENDMENT NUMBER ONE TO THE INVESTMENT ADVISORY AGREEMENT
This Amendment Number One, dated November 1, 2014, to the Investment Advisory Agreement dated
May 31, 2007 (the "Agreement") by and between Sample Corporate Bond Fund, a Delaware statutory
trust (the "Fund"), and Sample Asset Management (the "Adviser"), amends the Agreement.
Section 3 of the Agreement is hereby deleted in its entirety and replaced with the following:
3. Compensation. The Fund shall pay to the Adviser a monthly fee at the following annual rate:
AVERAGE DAILY FEE AS A PERCENT PER ANNUM
NET ASSETS OF AVERAGE DAILY NET ASSETS
------------------ ---------------------------
First $500 million 0.42%
Next $750 million 0.35%
Over $1.25 billion 0.22%
Such fee shall be payable for each calendar month.
"""


def test_a_table_caption_is_never_a_portfolio() -> None:
    (change,) = _read(CAPTION).changes
    assert change.portfolio == "Sample Corporate Bond Fund"
    assert change.action == "replace_in_whole"
    assert _tiers(change)[-1] == (1_250 * M, None, Decimal("0.22"))


def test_a_caption_with_no_fund_defined_gives_no_portfolio() -> None:
    text = CAPTION.replace('(the "Fund")', '(the "Trust")')
    for change in _read(text).changes:
        assert change.portfolio is None or "AVERAGE" not in change.portfolio.upper()


SHORT_NAMES = """AMENDMENT NO. 3 TO INVESTMENT ADVISORY AGREEMENT

This Amendment is made as of April 1, 2023 to the Investment Advisory Agreement dated May 1,
2012 (the "Agreement") between Sample Income Trust (the "Trust"), on behalf of its series Sample
Core Plus Bond Fund ("Core Plus Bond Fund") and Sample Short Duration Fund ("Short Duration
Fund"), and Sample Advisers LLC (the "Adviser").

1. Schedule A to the Agreement is hereby amended and restated as follows:

Core Plus Bond Fund:
0.40% of the first $1 billion of average daily net assets;
0.35% of average daily net assets over $1 billion.

Short Duration Fund:
0.30% of average daily net assets.

2. All other terms of the Agreement remain in full force and effect.
"""


def test_short_names_resolve_to_the_full_names_of_the_preamble() -> None:
    core, short = _read(SHORT_NAMES).changes
    assert (core.portfolio, short.portfolio) == (
        "Sample Core Plus Bond Fund",
        "Sample Short Duration Fund",
    )
    assert core.parseable and short.parseable
    assert _tiers(short) == [(0, None, Decimal("0.30"))]


def test_a_column_caption_over_a_schedule_is_not_a_fund() -> None:
    text = CAPTION.replace("AVERAGE DAILY FEE AS A PERCENT PER ANNUM", "Assets Under Management")
    text = text.replace('(the "Fund")', '(the "Trust")')
    for change in _read(text).changes:
        assert change.portfolio is None or not change.parseable

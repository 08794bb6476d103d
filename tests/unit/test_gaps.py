"""`gaps`: the days from the first accrued day to the last that no accrual's period covers."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.app.accruals import covered_days, gap_counts, gaps
from services.app.ledger import LedgerEntry
from services.fee_worker.service import BACKGROUND_SHARE, next_run

START = date(2024, 1, 1)


def entry(as_of: date, days: int) -> str:
    return LedgerEntry(
        accrual_id=f"p:{as_of}",
        portfolio_id="p",
        as_of=as_of.isoformat(),
        amount="1.00",
        amount_exact="1",
        accrued="1.00",
        net_assets="1",
        accrual_days=days,
        currency="USD",
        day_count="ACT/365F",
        rounding="ROUND_HALF_UP:0.01",
        report_id="r",
        revision=0,
        schedule_ref=None,
    ).to_json()


def test_a_friday_covers_its_weekend_and_a_missing_tuesday_is_a_gap() -> None:
    friday, monday, wednesday = date(2024, 1, 5), date(2024, 1, 8), date(2024, 1, 10)
    ledger = [entry(friday, 3), entry(monday, 1), entry(wednesday, 1)]
    assert gaps(covered_days(ledger)) == [date(2024, 1, 9)]
    assert gaps([]) == []


@given(st.dictionaries(st.integers(0, 60), st.integers(1, 4), min_size=1, max_size=25))
def test_every_day_between_is_covered_or_a_gap_never_both(reports: dict[int, int]) -> None:
    ledger = [entry(START + timedelta(days=d), n) for d, n in reports.items()]
    covered = {START + timedelta(days=d + i) for d, n in reports.items() for i in range(n)}
    found = gaps(covered_days(ledger))
    assert not covered & set(found)
    first, last = min(covered), max(covered)
    every = {first + timedelta(days=i) for i in range((last - first).days + 1)}
    assert covered | set(found) == every and found == sorted(found)


def test_gap_counts_are_per_portfolio_from_the_days_covered() -> None:
    covered = {"P1": {"2024-01-05", "2024-01-06", "2024-01-08"}, "P2": {"2024-01-05"}}
    assert gap_counts(covered) == {"P1": 1, "P2": 0}


@given(
    st.dictionaries(
        st.sampled_from(["P1", "P2", "P3"]),
        st.sets(st.integers(0, 800), max_size=40),
    )
)
def test_gap_counts_count_the_days_gaps_lists(days: dict[str, set[int]]) -> None:
    covered = {
        pid: [(START + timedelta(days=d)).isoformat() for d in ds] for pid, ds in days.items()
    }
    listed = {pid: len(gaps(date.fromisoformat(d) for d in ds)) for pid, ds in covered.items()}
    assert gap_counts(covered) == listed


def test_a_quick_count_comes_back_after_the_refresh_interval() -> None:
    assert next_run(100.0, 15.0, 0.2) == 115.0


@given(
    st.floats(0, 1e6),
    st.floats(0.001, 3600),
    st.floats(0, 600),
)
def test_counting_takes_at_most_its_share_of_the_time(
    now: float, refresh: float, took: float
) -> None:
    """However long a background run (a gap count, a look for group days due) takes, the next
    waits for its interval, and long enough that running stays within BACKGROUND_SHARE of the
    time from one run to the next."""
    after = next_run(now, refresh, took) - now
    slack = 1e-9 * max(now, 1.0)  # the float sum's rounding, at the magnitude of `now`
    assert after >= refresh - slack
    assert took <= BACKGROUND_SHARE * (after + slack)

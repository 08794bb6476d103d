"""Group schedules in the domain: a schedule on the combined assets of several portfolios,
recorded by amendment (members joining and leaving with effective dates), each member's share
of a day's fee by its assets, the cents allocated so the members sum exactly to the group."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from contracts.messages import AgreementRegistered, AmendmentRecorded
from services.adapters.readmodel.codec import timeline_doc, timeline_from_doc
from services.domain.book import ScheduleBook
from services.mapping import apply_to_book

TIERS = [
    {"from": "0", "to": "1000000000", "rate_pct": "0.75"},
    {"from": "1000000000", "to": None, "rate_pct": "0.70"},
]
OWN = [{"from": "0", "to": None, "rate_pct": "0.80"}]
DAY = date(2024, 3, 4)


def book_with(*changes: tuple[int, str, list[dict[str, Any]]]) -> ScheduleBook:
    book = ScheduleBook()
    apply_to_book(book, AgreementRegistered(agreement_id="AG"), "1-0")
    for n, (number, effective, change_list) in enumerate(changes, start=2):
        amendment = AmendmentRecorded.model_validate(
            {
                "agreement_id": "AG",
                "amendment_number": number,
                "effective_date": effective,
                "changes": change_list,
            }
        )
        apply_to_book(book, amendment, f"{n}-0")
    return book


def group(members: list[str], tiers: list[dict[str, Any]] = TIERS) -> dict[str, Any]:
    return {"action": "group", "group_id": "G", "members": members, "tiers": tiers}


def own(pid: str, tiers: list[dict[str, Any]] = OWN, action: str = "add") -> dict[str, Any]:
    return {"action": action, "portfolio_id": pid, "portfolio_name": pid, "tiers": tiers}


navs = st.dictionaries(
    st.sampled_from(["P1", "P2", "P3", "P4"]),
    st.integers(0, 3 * 10**11).map(lambda n: Decimal(n) / 100),
    min_size=1,
)


@given(navs)
def test_members_sum_exactly_to_the_group_and_share_by_their_assets(
    assets: dict[str, Decimal],
) -> None:
    book = book_with((1, "2024-01-01", [group(sorted(assets))]))
    priced = book.accrue_group(DAY, 1, assets)
    assert priced is not None
    period, shares = priced
    assert sum(s.amount for s in shares.values()) == period.accrual.amount
    combined = sum(assets.values(), Decimal(0))
    for pid, share in shares.items():
        if combined:
            assert abs(
                share.amount_exact - period.accrual.amount_exact * assets[pid] / combined
            ) < (Decimal("1e-20"))
            # Its cents: within a cent of its part of the group's rounded fee.
            part = period.accrual.amount * assets[pid] / combined
            assert abs(share.amount - part) < Decimal("0.01")


@given(st.integers(0, 3 * 10**11).map(lambda n: Decimal(n) / 100))
def test_a_group_of_one_is_the_plain_schedule(assets: Decimal) -> None:
    grouped = book_with((1, "2024-01-01", [group(["P1"])]))
    plain = book_with((1, "2024-01-01", [own("P1", TIERS)]))
    priced = grouped.accrue_group(DAY, 3, {"P1": assets})
    alone = plain.accrue_period("P1", DAY, 3, assets)
    assert priced is not None and alone is not None
    (share,) = priced[1].values()
    assert (share.amount, share.amount_exact) == (alone.accrual.amount, alone.accrual.amount_exact)


def test_a_member_that_leaves_by_amendment_is_priced_on_its_own_schedule_from_that_date() -> None:
    book = book_with(
        (1, "2024-01-01", [group(["P1", "P2", "P3"])]),
        (2, "2024-03-15", [group(["P1", "P2"]), own("P3", action="revise")]),
    )
    terms = book.group_on("P3", date(2024, 3, 14))
    assert terms is not None and book.group_members(terms, date(2024, 3, 14)) == ["P1", "P2", "P3"]
    assert book.group_on("P3", date(2024, 3, 15)) is None
    after = book.group_on("P1", date(2024, 3, 15))
    assert after is not None and book.group_members(after, date(2024, 3, 15)) == ["P1", "P2"]


def test_the_read_model_keeps_a_members_group() -> None:
    book = book_with((1, "2024-01-01", [group(["P1", "P2"])]))
    kept = timeline_from_doc(json.loads(timeline_doc(book.timelines["P2"])))
    (version,) = kept.versions
    assert version.group is not None and version.group.members == ("P1", "P2")
    assert timeline_doc(kept) == timeline_doc(book.timelines["P2"])


def test_schedule_and_history_answers_name_a_members_group() -> None:
    from services.mapping import answer_json

    book = book_with((1, "2024-01-01", [group(["P1", "P2"])]))
    answer = answer_json(book.schedule_on("P2", DAY), "P2")
    assert answer["set_by"]["group"] == {
        "group_id": "G",
        "members": ["P1", "P2"],
        "allocation": "pro_rata",
    }
    plain = book_with((1, "2024-01-01", [own("P1")]))
    assert "group" not in answer_json(plain.schedule_on("P1", DAY), "P1")["set_by"]

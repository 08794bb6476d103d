"""The ingest plan: names to ids, first-known schedules, refusals and operator overrides."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from services.app.ingest import apply_override, plan_ingest
from services.domain.agreement import Amendment, SetSchedule
from services.domain.book import Registration, ScheduleBook
from services.domain.fees import DayCount, FeeSchedule, RoundingPolicy
from services.domain.timeline import RecordPoint

AID = "met-investors-series-trust-management-2000-12-08"
TIERS = [{"from": 0, "to": 500000000, "rate_pct": "0.88"}, {"from": 500000000, "to": None,
         "rate_pct": "0.83"}]  # fmt: skip


def change(action: str, portfolio: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "action": action,
        "portfolio": portfolio,
        "formerly": None,
        "schedule": {"tiers": TIERS},
        "period": None,
        "parseable": True,
        "note": None,
        **extra,
    }


def reading(*changes: dict[str, Any], number: int | None = 22) -> dict[str, Any]:
    return {
        "document_title": "AMENDMENT NO. 22 TO MANAGEMENT AGREEMENT",
        "trust": "Met Investors Series Trust",
        "adviser": "Met Investors Advisory LLC",
        "agreement_date": "2000-12-08",
        "amendment_number": number,
        "effective_date": "2006-11-01",
        "agreement_type": "management",
        "changes": list(changes),
    }


def book_with(portfolio_id: str, name: str) -> ScheduleBook:
    book = ScheduleBook()
    point = RecordPoint(datetime(2002, 1, 1, tzinfo=UTC), "1-0")
    book.register(
        Registration(AID, date(2000, 12, 8), None, None, DayCount.ACT_365F, RoundingPolicy()),
        point,
    )
    add = SetSchedule(portfolio_id, name, FeeSchedule.flat(Decimal("0.90")), "add")
    book.record_amendment(Amendment(AID, 2, date(2001, 10, 1), (add,)), "e2", RecordPoint(
        datetime(2002, 1, 2, tzinfo=UTC), "2-0"))  # fmt: skip
    return book


def test_a_revision_of_a_portfolio_never_priced_is_its_first_known_schedule() -> None:
    plan = plan_ingest(reading(change("revise", "Met/AIM Small Cap Growth Portfolio")),
                       ScheduleBook())  # fmt: skip
    assert plan.changes[0].action == "add"
    assert "first known schedule" in (plan.changes[0].note or "")
    assert plan.command is not None and plan.command.changes[0].action == "add"
    # A new agreement is registered from the filing's header.
    assert plan.register is not None and plan.register.agreement_id == AID


def test_strict_keeps_the_revision_as_written() -> None:
    plan = plan_ingest(reading(change("revise", "Met/AIM Small Cap Growth Portfolio")),
                       ScheduleBook(), strict=True)  # fmt: skip
    assert plan.changes[0].action == "revise"


def test_a_portfolio_on_record_keeps_its_id_and_shows_the_schedule_before() -> None:
    book = book_with("small-cap", "Met/AIM Small Cap Growth Portfolio")
    plan = plan_ingest(reading(change("revise", "Met/AIM  Small Cap\nGrowth Portfolio*")), book)
    planned = plan.changes[0]
    assert (planned.portfolio_id, planned.action) == ("small-cap", "revise")
    assert planned.before == FeeSchedule.flat(Decimal("0.90"))
    assert plan.register is None


def test_a_rename_resolves_the_former_name_to_the_id_on_record() -> None:
    book = book_with("small-cap", "Met/AIM Small Cap Growth Portfolio")
    renamed = change("revise", "Invesco Small Cap Growth Portfolio",
                     formerly="Met/AIM Small Cap Growth Portfolio")  # fmt: skip
    plan = plan_ingest(reading(renamed), book)
    assert plan.command is not None
    actions = [(c.action, c.portfolio_id) for c in plan.command.changes]
    assert actions == [("rename", "small-cap"), ("revise", "small-cap")]


def test_unparseable_changes_are_refused_or_skipped_with_their_reason() -> None:
    cut = change("add", "Cut Portfolio", parseable=False, note="text cut (truncated)")
    good = change("add", "Whole Portfolio")
    refused = plan_ingest(reading(cut, good), ScheduleBook())
    assert [c.refused for c in refused.changes] == ["text cut (truncated)", None]
    assert refused.command is None
    skipped = plan_ingest(reading(cut, good), ScheduleBook(), skip_unparseable=True)
    assert skipped.command is not None
    assert [c.portfolio_id for c in skipped.command.changes] == ["whole-portfolio"]
    assert "skipped: text cut" in (skipped.changes[0].note or "")


def test_a_blank_amendment_number_is_a_problem_until_overridden() -> None:
    blank = reading(change("add", "Whole Portfolio"), number=None)
    assert any("amendment_number" in p for p in plan_ingest(blank, ScheduleBook()).problems)
    fixed = apply_override(blank, {"amendment_number": 3})
    plan = plan_ingest(fixed, ScheduleBook())
    assert plan.problems == [] and plan.command is not None
    assert plan.command.amendment_number == 3


def test_an_override_change_replaces_the_one_for_the_same_portfolio() -> None:
    cut = change("add", "Cut  Portfolio**", parseable=False, note="cut")
    fixed = change("add", "Cut Portfolio", schedule={"tiers": [{"from": 0, "to": None,
                                                               "rate_pct": "0.70"}]})  # fmt: skip
    merged = apply_override(reading(cut), {"changes": [fixed]})
    assert len(merged["changes"]) == 1 and merged["changes"][0]["parseable"] is True
    plan = plan_ingest(merged, ScheduleBook())
    assert plan.command is not None
    assert [str(t.rate_pct) for t in plan.command.changes[0].tiers] == ["0.70"]  # type: ignore[union-attr]


@pytest.mark.parametrize("bad", [[1], ["x"]])
def test_a_malformed_override_change_names_the_field(bad: list[Any]) -> None:
    with pytest.raises(ValueError, match=r"override\.changes"):
        apply_override(reading(), {"changes": bad})


def book_of_three() -> ScheduleBook:
    book = book_with("one", "Fund One Portfolio")
    point = RecordPoint(datetime(2002, 1, 3, tzinfo=UTC), "3-0")
    flat = FeeSchedule.flat(Decimal("0.75"))
    more = tuple(SetSchedule(pid, name, flat, "add") for pid, name in
                 (("two", "Fund Two Portfolio"), ("three", "Fund Three Portfolio")))  # fmt: skip
    book.record_amendment(Amendment(AID, 3, date(2002, 1, 1), more), "e3", point)
    return book


def test_a_restated_schedule_lists_what_it_leaves_out_and_removes_it_only_when_asked() -> None:
    restated = reading(
        change("replace_in_whole", "Fund One Portfolio"),
        change("replace_in_whole", "Fund Two Portfolio"),
    )
    plan = plan_ingest(restated, book_of_three())
    (left_out,) = [c for c in plan.changes if c.portfolio_id == "three"]
    assert left_out.action == "kept" and "--apply-removals" in (left_out.note or "")
    assert plan.command is not None
    assert [c.action for c in plan.command.changes] == ["replace", "replace"]

    plan = plan_ingest(restated, book_of_three(), apply_removals=True)
    assert plan.command is not None
    actions = [(c.action, c.portfolio_id) for c in plan.command.changes]
    assert actions == [("replace", "one"), ("replace", "two"), ("remove", "three")]


def test_a_schedule_not_restated_in_whole_removes_nothing() -> None:
    plan = plan_ingest(reading(change("revise", "Fund One Portfolio")), book_of_three())
    assert [c.portfolio_id for c in plan.changes] == ["one"]


def test_a_group_schedule_is_recorded_as_one_with_its_members_ids() -> None:
    grouped = {
        "action": "group",
        "portfolio": None,
        "formerly": None,
        "group": {"members": ["Fund One Portfolio", "Fund Four Portfolio"]},
        "schedule": {"tiers": TIERS},
        "period": None,
        "parseable": True,
        "note": None,
    }
    plan = plan_ingest(reading(grouped), book_of_three())
    (planned,) = plan.changes
    assert planned.action == "group" and planned.portfolio_id == "one, fund-four-portfolio"
    assert plan.command is not None
    (change,) = plan.command.changes
    assert change.model_dump()["members"] == ["one", "fund-four-portfolio"]
    assert change.model_dump()["action"] == "group"


def test_a_group_member_renamed_by_the_filing_keeps_its_id_and_is_renamed() -> None:
    grouped = {
        "action": "group",
        "portfolio": None,
        "group": {
            "members": ["Fund Uno Portfolio", "Fund Two Portfolio"],
            "formerly": {"Fund Uno Portfolio": "Fund One Portfolio"},
        },
        "schedule": {"tiers": TIERS},
        "parseable": True,
    }
    plan = plan_ingest(reading(grouped), book_of_three())
    assert plan.command is not None
    rename, group = (c.model_dump() for c in plan.command.changes)
    assert (rename["action"], rename["portfolio_id"], rename["new_name"]) == (
        "rename",
        "one",
        "Fund Uno Portfolio",
    )
    assert group["members"] == ["one", "two"]

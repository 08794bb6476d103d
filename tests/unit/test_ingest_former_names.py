"""A portfolio renamed by a filing whose former name is not on record gets the same id
whichever kind of change names it: the slug of its former name, as an amendment file gives it."""

from __future__ import annotations

from test_ingest_plan import TIERS, book_of_three, change, reading

from services.app.ingest import plan_ingest
from services.domain.names import portfolio_id_for

FORMER, NAME = "Fund Old Portfolio", "Fund New Portfolio"


def test_a_changed_portfolio_and_a_group_member_renamed_from_an_unknown_name_share_one_id() -> None:
    alone = plan_ingest(reading(change("add", NAME, formerly=FORMER)), book_of_three())
    grouped = {
        "action": "group",
        "portfolio": None,
        "group": {"members": [NAME, "Fund Two Portfolio"], "formerly": {NAME: FORMER}},
        "schedule": {"tiers": TIERS},
        "parseable": True,
    }
    in_group = plan_ingest(reading(grouped), book_of_three())
    assert in_group.command is not None
    (group,) = (c.model_dump() for c in in_group.command.changes)
    (planned,) = alone.changes
    assert planned.portfolio_id == portfolio_id_for(FORMER) != portfolio_id_for(NAME)
    assert group["members"] == [portfolio_id_for(FORMER), "two"]

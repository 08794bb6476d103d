"""The Agreement aggregate refuses amendments that cannot be true, naming the field and value."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.domain.agreement import (
    Agreement,
    Amendment,
    Change,
    GrantWaiver,
    Registration,
    RemovePortfolio,
    RenamePortfolio,
    SetSchedule,
)
from services.domain.errors import DomainError
from services.domain.fees import DayCount, FeeSchedule, RoundingPolicy
from services.domain.timeline import RecordPoint

AID = "met-investors-series-trust-management"
PID = "met-aim-small-cap-growth"
NAME = "Met/AIM Small Cap Growth Portfolio"
SEED = FeeSchedule.from_json(
    [
        {"from": 0, "to": 500000000, "rate_pct": "0.88"},
        {"from": 500000000, "to": None, "rate_pct": "0.83"},
    ]
)
FLAT = FeeSchedule.flat("0.75")


class Recorder:
    """Check, then apply: what the command side does with each amendment."""

    def __init__(self, registered: bool = True) -> None:
        self.agreement = Agreement(AID)
        self.position = 0
        if registered:
            self.agreement.register(
                Registration(
                    AID,
                    agreement_date=date(2000, 12, 8),
                    trust="Met Investors Series Trust",
                    adviser="Met Investors Advisory Corp.",
                    day_count=DayCount.ACT_365F,
                    rounding=RoundingPolicy(),
                )
            )

    def point(self) -> RecordPoint:
        self.position += 1
        return RecordPoint(datetime(2007, 1, 1, tzinfo=UTC), f"{self.position}-0")

    def record(self, number: int, effective: date, *changes: Change) -> None:
        amendment = Amendment(AID, number, effective, tuple(changes))
        self.agreement.check_amendment(amendment)
        self.agreement.apply_amendment(amendment, f"evt-{number}-{self.position}", self.point())

    def retract(self, number: int) -> None:
        self.agreement.check_retraction(number)
        self.agreement.apply_retraction(number, self.point())


def seeded() -> Recorder:
    r = Recorder()
    r.record(18, date(2006, 5, 1), SetSchedule(PID, NAME, FLAT, "add"))
    r.record(22, date(2006, 11, 1), SetSchedule(PID, NAME, SEED))
    return r


def refused(r: Recorder, number: int, effective: date, *changes: Change) -> DomainError:
    version = r.agreement.version
    with pytest.raises(DomainError) as err:
        r.record(number, effective, *changes)
    assert r.agreement.version == version  # nothing was applied
    assert err.value.field in str(err.value)
    assert repr(err.value.value) in str(err.value)
    return err.value


def test_the_seed_amendments_are_accepted() -> None:
    r = seeded()
    assert sorted(r.agreement.amendments) == [18, 22]
    assert r.agreement.version == 3  # registration + two amendments
    assert r.agreement.timelines[PID].schedule_on(date(2006, 11, 1)).schedule == SEED


def test_a_second_amendment_no_22_is_refused() -> None:
    err = refused(seeded(), 22, date(2006, 12, 1), SetSchedule(PID, NAME, FLAT))
    assert (err.field, err.value) == ("amendment_number", 22)


def test_revising_a_portfolio_not_on_the_schedule_is_refused() -> None:
    r = seeded()
    err = refused(r, 23, date(2007, 1, 1), SetSchedule("met-large-cap", "Large Cap", FLAT))
    assert (err.field, err.value) == ("changes[0].portfolio_id", "met-large-cap")
    # Nor before the portfolio was added.
    err = refused(r, 23, date(2006, 4, 30), SetSchedule(PID, NAME, FLAT))
    assert (err.field, err.value) == ("changes[0].portfolio_id", PID)


def test_removing_or_renaming_a_portfolio_not_on_the_schedule_is_refused() -> None:
    r = seeded()
    err = refused(r, 23, date(2007, 1, 1), RemovePortfolio("met-large-cap"))
    assert (err.field, err.value) == ("changes[0].portfolio_id", "met-large-cap")
    err = refused(
        r, 23, date(2007, 1, 1), SetSchedule(PID, NAME, SEED), RenamePortfolio("nope", "X")
    )
    assert (err.field, err.value) == ("changes[1].portfolio_id", "nope")


def test_adding_a_portfolio_already_on_the_schedule_is_refused() -> None:
    err = refused(seeded(), 23, date(2007, 1, 1), SetSchedule(PID, NAME, FLAT, "add"))
    assert (err.field, err.value) == ("changes[0].portfolio_id", PID)


def test_a_removed_portfolio_is_off_the_schedule() -> None:
    r = seeded()
    r.record(30, date(2008, 5, 1), RemovePortfolio(PID))
    # After its removal it cannot be revised, removed again or renamed ...
    err = refused(r, 31, date(2008, 6, 1), SetSchedule(PID, NAME, FLAT))
    assert (err.field, err.value) == ("changes[0].portfolio_id", PID)
    err = refused(r, 31, date(2008, 6, 1), RemovePortfolio(PID))
    assert (err.field, err.value) == ("changes[0].portfolio_id", PID)
    err = refused(r, 31, date(2008, 6, 1), RenamePortfolio(PID, "New name"))
    assert (err.field, err.value) == ("changes[0].portfolio_id", PID)
    # ... but it can be added back, and revised before the removal date.
    r.record(31, date(2009, 1, 1), SetSchedule(PID, NAME, FLAT, "add"))
    r.record(32, date(2008, 1, 1), SetSchedule(PID, NAME, FLAT))
    timeline = r.agreement.timelines[PID]
    assert timeline.schedule_on(date(2008, 6, 1)).schedule is None
    assert timeline.schedule_on(date(2009, 1, 1)).schedule == FLAT


def test_a_waiver_that_ends_before_it_starts_is_refused() -> None:
    waiver = GrantWaiver(PID, FLAT, date(2007, 6, 30), date(2007, 1, 1))
    err = refused(seeded(), 24, date(2007, 1, 1), waiver)
    assert (err.field, err.value) == ("changes[0].period.to", "2007-01-01")


def test_a_one_day_waiver_is_fine() -> None:
    r = seeded()
    r.record(24, date(2007, 1, 1), GrantWaiver(PID, FLAT, date(2007, 1, 1), date(2007, 1, 1)))
    timeline = r.agreement.timelines[PID]
    assert timeline.schedule_on(date(2007, 1, 1)).waived
    assert not timeline.schedule_on(date(2007, 1, 2)).waived


def test_an_effective_date_before_the_agreement_is_refused() -> None:
    err = refused(seeded(), 23, date(2000, 12, 7), SetSchedule(PID, NAME, FLAT))
    assert (err.field, err.value) == ("effective_date", "2000-12-07")


def test_an_unregistered_agreement_takes_no_amendments() -> None:
    err = refused(
        Recorder(registered=False), 1, date(2006, 1, 1), SetSchedule(PID, NAME, FLAT, "add")
    )
    assert (err.field, err.value) == ("agreement_id", AID)


def test_an_amendment_for_another_agreement_is_refused() -> None:
    r = seeded()
    amendment = Amendment("other-agreement", 23, date(2007, 1, 1), (RemovePortfolio(PID),))
    with pytest.raises(DomainError) as err:
        r.agreement.check_amendment(amendment)
    assert (err.value.field, err.value.value) == ("agreement_id", "other-agreement")


def test_an_amendment_that_changes_nothing_is_refused() -> None:
    err = refused(seeded(), 23, date(2007, 1, 1))
    assert err.field == "changes"


def test_an_empty_new_name_is_refused() -> None:
    err = refused(seeded(), 23, date(2007, 1, 1), RenamePortfolio(PID, "  "))
    assert (err.field, err.value) == ("changes[0].new_name", "  ")


def test_changes_in_one_amendment_build_on_each_other() -> None:
    r = seeded()
    r.record(
        23,
        date(2007, 1, 1),
        SetSchedule("met-new-fund", "New Fund", FLAT, "add"),
        RenamePortfolio("met-new-fund", "Renamed Fund"),
    )
    assert r.agreement.timelines["met-new-fund"].name_on(date(2007, 1, 1)) == "Renamed Fund"


def test_retract_then_record_the_same_number_again() -> None:
    r = seeded()
    r.retract(22)
    assert 22 in r.agreement.retracted and 22 not in r.agreement.amendments
    assert r.agreement.timelines[PID].schedule_on(date(2006, 11, 1)).schedule == FLAT
    r.record(22, date(2006, 11, 1), SetSchedule(PID, NAME, SEED))
    assert 22 not in r.agreement.retracted
    assert r.agreement.timelines[PID].schedule_on(date(2006, 11, 1)).schedule == SEED


@pytest.mark.parametrize("number", [22, 99])
def test_retracting_what_is_not_recorded_is_refused(number: int) -> None:
    r = seeded()
    if number == 22:
        r.retract(22)  # already retracted: a second retraction is refused
    with pytest.raises(DomainError) as err:
        r.retract(number)
    assert (err.value.field, err.value.value) == ("amendment_number", number)

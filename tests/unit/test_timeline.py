"""Bitemporal schedule timelines: which schedule applied on a date, as known at a moment.

Built from the seed: Amendment No. 22 to the Met Investors Series Trust management agreement
(effective 2006-11-01) revised the Met/AIM Small Cap Growth Portfolio to 0.88% of the first
$500M and 0.83% above; here it is recorded on 2007-03-01, months after it took effect.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.domain.agreement import (
    Amendment,
    GrantWaiver,
    RemovePortfolio,
    RenamePortfolio,
    SetSchedule,
)
from services.domain.book import Registration, ScheduleBook
from services.domain.fees import DayCount, FeeSchedule, RoundingPolicy
from services.domain.timeline import RecordPoint, VersionKind

AGREEMENT = "met-investors-series-trust-management"
PID = "met-aim-small-cap-growth"
NAME = "Met/AIM Small Cap Growth Portfolio"
EARLIER = FeeSchedule.from_json(
    [
        {"from": 0, "to": 150000000, "rate_pct": "0.90"},
        {"from": 150000000, "to": 500000000, "rate_pct": "0.85"},
        {"from": 500000000, "to": None, "rate_pct": "0.80"},
    ]
)
SEED = FeeSchedule.from_json(
    [
        {"from": 0, "to": 500000000, "rate_pct": "0.88"},
        {"from": 500000000, "to": None, "rate_pct": "0.83"},
    ]
)
WAIVED = FeeSchedule.flat("0.80")


def at(day: date) -> RecordPoint:
    """A record point on `day` whose log position is that day's epoch milliseconds."""
    moment = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    return RecordPoint(moment, f"{int(moment.timestamp() * 1000)}-0")


class Log:
    """A tiny agreements log: appends to a ScheduleBook with increasing positions."""

    def __init__(self) -> None:
        self.book = ScheduleBook()
        self.book.register(
            Registration(
                AGREEMENT,
                date(2000, 12, 8),
                "Met Investors Series Trust",
                "Met Investors Advisory Corp.",
                DayCount.ACT_365F,
                RoundingPolicy(),
            ),
            at(date(2000, 12, 8)),
        )
        self.events = 0

    def amend(
        self,
        number: int,
        effective: date,
        recorded: date,
        *changes: SetSchedule | RemovePortfolio | RenamePortfolio | GrantWaiver,
    ) -> RecordPoint:
        point = at(recorded)
        self.events += 1
        amendment = Amendment(AGREEMENT, number, effective, tuple(changes))
        self.book.record_amendment(amendment, f"evt-{self.events}", point)
        return point

    def retract(self, number: int, recorded: date) -> RecordPoint:
        point = at(recorded)
        self.book.retract(AGREEMENT, number, point)
        return point


def seed_log() -> tuple[Log, RecordPoint]:
    log = Log()
    log.amend(18, date(2006, 5, 1), date(2006, 4, 20), SetSchedule(PID, NAME, EARLIER, "add"))
    recorded_22 = log.amend(22, date(2006, 11, 1), date(2007, 3, 1), SetSchedule(PID, NAME, SEED))
    return log, recorded_22


def test_seed_story_answers_bitemporally() -> None:
    log, recorded_22 = seed_log()
    book = log.book

    before = book.schedule_on(PID, date(2006, 10, 31))
    assert before.schedule == EARLIER
    assert before.version is not None and before.version.provenance.amendment_number == 18

    on = book.schedule_on(PID, date(2006, 11, 1))
    assert on.schedule == SEED
    assert [str(t.rate_pct) for t in on.schedule.tiers] == ["0.88", "0.83"]
    assert on.version is not None
    provenance = on.version.provenance
    assert provenance.agreement_id == AGREEMENT
    assert provenance.amendment_number == 22
    assert provenance.effective_date == date(2006, 11, 1)
    assert provenance.recorded == recorded_22
    assert not on.waived

    # As known before the recording (by moment, and by log position), the earlier schedule.
    known_before = datetime(2007, 2, 28, tzinfo=UTC)
    assert book.schedule_on(PID, date(2006, 11, 1), known_before).schedule == EARLIER
    position_before = f"{int(known_before.timestamp() * 1000)}-0"
    assert book.schedule_on(PID, date(2006, 11, 1), position_before).schedule == EARLIER
    # As known at the recording's own position, and any later moment, Amendment No. 22.
    assert book.schedule_on(PID, date(2006, 11, 1), recorded_22.position).schedule == SEED
    assert book.schedule_on(PID, date(2007, 1, 1), datetime(2007, 3, 2, tzinfo=UTC)).schedule == (
        SEED
    )
    # Before the portfolio was added there is no schedule at all.
    assert book.schedule_on(PID, date(2006, 4, 30)).schedule is None
    assert book.schedule_on(PID, date(2006, 5, 1), datetime(2006, 4, 1, tzinfo=UTC)).schedule is (
        None
    )


def test_position_ordering_is_numeric_not_textual() -> None:
    log = Log()
    log.book.record_amendment(
        Amendment(AGREEMENT, 1, date(2006, 1, 1), (SetSchedule(PID, NAME, EARLIER, "add"),)),
        "e1",
        RecordPoint(datetime(2007, 1, 1, tzinfo=UTC), "999-5"),
    )
    log.book.record_amendment(
        Amendment(AGREEMENT, 2, date(2006, 1, 1), (SetSchedule(PID, NAME, SEED),)),
        "e2",
        RecordPoint(datetime(2007, 1, 2, tzinfo=UTC), "1000-0"),
    )
    day = date(2006, 6, 1)
    assert log.book.schedule_on(PID, day, "999-5").schedule == EARLIER
    assert log.book.schedule_on(PID, day, "999-9").schedule == EARLIER
    assert log.book.schedule_on(PID, day, "1000-0").schedule == SEED
    assert log.book.schedule_on(PID, day, "999-4").schedule is None


def test_unknown_portfolio_has_no_schedule() -> None:
    log, _ = seed_log()
    answer = log.book.schedule_on("no-such-portfolio", date(2007, 1, 1))
    assert answer.schedule is None and answer.version is None


def test_same_day_amendments_the_higher_number_wins_whatever_the_recording_order() -> None:
    log, _ = seed_log()
    later_terms = FeeSchedule.from_json(
        [
            {"from": 0, "to": 500000000, "rate_pct": "0.87"},
            {"from": 500000000, "to": None, "rate_pct": "0.82"},
        ]
    )
    # No. 23 shares No. 22's effective date; record it *before* No. 22's correction arrives.
    log.amend(23, date(2006, 11, 1), date(2007, 2, 1), SetSchedule(PID, NAME, later_terms))
    answer = log.book.schedule_on(PID, date(2006, 11, 1))
    assert answer.schedule == later_terms
    assert answer.version is not None and answer.version.provenance.amendment_number == 23
    # As known at the start of the log nothing was known; before No. 23, only No. 18.
    assert log.book.schedule_on(PID, date(2006, 11, 1), "0-0").schedule is None
    assert (
        log.book.schedule_on(PID, date(2006, 11, 1), datetime(2007, 1, 1, tzinfo=UTC)).schedule
        == EARLIER
    )
    # Only No. 23 was known on 2007-02-15 (No. 22 was recorded on 2007-03-01).
    known = datetime(2007, 2, 15, tzinfo=UTC)
    assert log.book.schedule_on(PID, date(2006, 11, 1), known).schedule == later_terms


def test_removal_ends_the_schedule_on_its_date() -> None:
    log, _ = seed_log()
    removed_at = log.amend(30, date(2008, 5, 1), date(2008, 4, 15), RemovePortfolio(PID))
    assert log.book.schedule_on(PID, date(2008, 4, 30)).schedule == SEED
    gone = log.book.schedule_on(PID, date(2008, 5, 1))
    assert gone.schedule is None
    assert gone.version is not None and gone.version.kind is VersionKind.REMOVE
    assert gone.version.provenance.amendment_number == 30
    assert log.book.schedule_on(PID, date(2010, 1, 1)).schedule is None
    # Known before the removal was recorded, the portfolio was still priced on that date.
    before = datetime(2008, 4, 14, tzinfo=UTC)
    assert log.book.schedule_on(PID, date(2008, 5, 1), before).schedule == SEED
    assert log.book.schedule_on(PID, date(2008, 5, 1), removed_at.position).schedule is None


def test_removed_portfolio_can_come_back_with_a_later_amendment() -> None:
    log, _ = seed_log()
    log.amend(30, date(2008, 5, 1), date(2008, 4, 15), RemovePortfolio(PID))
    log.amend(31, date(2009, 1, 1), date(2008, 12, 1), SetSchedule(PID, NAME, WAIVED, "add"))
    assert log.book.schedule_on(PID, date(2008, 12, 31)).schedule is None
    assert log.book.schedule_on(PID, date(2009, 1, 1)).schedule == WAIVED


def test_rename_keeps_the_id_and_changes_the_name_on_its_date() -> None:
    log, _ = seed_log()
    new_name = "Met/Invesco Small Cap Growth Portfolio"
    renamed = log.amend(
        26, date(2008, 1, 1), date(2007, 12, 1), RenamePortfolio(PID, new_name, NAME)
    )
    timeline = log.book.timelines[PID]
    assert timeline.name_on(date(2007, 12, 31)) == NAME
    assert timeline.name_on(date(2008, 1, 1)) == new_name
    assert timeline.name_on(date(2009, 6, 1)) == new_name
    # As known before the rename was recorded, the old name still applies on that date.
    assert timeline.name_on(date(2008, 1, 1), datetime(2007, 11, 30, tzinfo=UTC)) == NAME
    assert timeline.name_on(date(2008, 1, 1), renamed.position) == new_name
    # A date before any name: the earliest known name, not nothing.
    assert timeline.name_on(date(2000, 1, 1)) == NAME
    # Both names find the same portfolio, whatever the case and spacing.
    assert log.book.resolve(NAME) == PID
    assert log.book.resolve(new_name) == PID
    assert log.book.resolve("  met/invesco   SMALL cap growth portfolio ") == PID
    assert log.book.resolve(PID) == PID
    assert log.book.resolve("Met/AIM Large Cap Portfolio") is None
    # The schedule is untouched by a rename.
    assert log.book.schedule_on(PID, date(2008, 1, 1)).schedule == SEED


def test_waiver_applies_only_inside_its_period() -> None:
    log, _ = seed_log()
    waiver = GrantWaiver(PID, WAIVED, date(2007, 1, 1), date(2007, 6, 30))
    log.amend(24, date(2007, 1, 1), date(2007, 3, 5), waiver)
    book = log.book

    assert book.schedule_on(PID, date(2006, 12, 31)).schedule == SEED
    for day in (date(2007, 1, 1), date(2007, 3, 15), date(2007, 6, 30)):
        answer = book.schedule_on(PID, day)
        assert answer.schedule == WAIVED, day
        assert answer.waived
        assert answer.version is not None and answer.version.provenance.amendment_number == 24
        # The underlying schedule it stands in for is named.
        assert answer.base is not None and answer.base.provenance.amendment_number == 22
        assert answer.base.schedule == SEED
    after = book.schedule_on(PID, date(2007, 7, 1))
    assert after.schedule == SEED and not after.waived and after.base is None
    # Known before the waiver was recorded, the base schedule applied inside the period too.
    assert book.schedule_on(PID, date(2007, 2, 1), datetime(2007, 3, 4, tzinfo=UTC)).schedule == (
        SEED
    )
    # A waiver does not make a base interval.
    assert [i.version.provenance.amendment_number for i in book.timelines[PID].intervals()] == [
        18,
        22,
    ]


def test_waiver_does_not_revive_a_removed_portfolio() -> None:
    log, _ = seed_log()
    log.amend(
        24,
        date(2007, 1, 1),
        date(2007, 1, 2),
        GrantWaiver(PID, WAIVED, date(2007, 1, 1), date(2009, 12, 31)),
    )
    log.amend(30, date(2008, 5, 1), date(2008, 4, 15), RemovePortfolio(PID))
    assert log.book.schedule_on(PID, date(2008, 4, 30)).schedule == WAIVED
    assert log.book.schedule_on(PID, date(2008, 5, 1)).schedule is None


def test_retraction_withdraws_the_amendment_from_its_recording_on() -> None:
    log, recorded_22 = seed_log()
    retracted = log.retract(22, date(2007, 4, 1))
    book = log.book
    # As known now (after the retraction), No. 22's facts are gone.
    assert book.schedule_on(PID, date(2006, 11, 1)).schedule == EARLIER
    assert book.schedule_on(PID, date(2006, 11, 1), retracted.position).schedule == EARLIER
    # As known between recording and retraction, they counted.
    between = datetime(2007, 3, 15, tzinfo=UTC)
    assert book.schedule_on(PID, date(2006, 11, 1), between).schedule == SEED
    assert book.schedule_on(PID, date(2006, 11, 1), recorded_22.position).schedule == SEED
    # And before the recording, they were not known at all.
    assert book.schedule_on(PID, date(2006, 11, 1), datetime(2007, 2, 1, tzinfo=UTC)).schedule == (
        EARLIER
    )
    assert [i.version.provenance.amendment_number for i in book.timelines[PID].intervals()] == [18]
    assert [
        i.version.provenance.amendment_number for i in book.timelines[PID].intervals(between)
    ] == [18, 22]


def test_retracted_rename_and_waiver_vanish_too() -> None:
    log, _ = seed_log()
    log.amend(
        26,
        date(2008, 1, 1),
        date(2007, 12, 1),
        RenamePortfolio(PID, "Met/Invesco Small Cap Growth Portfolio"),
        GrantWaiver(PID, WAIVED, date(2008, 1, 1), date(2008, 12, 31)),
    )
    assert log.book.schedule_on(PID, date(2008, 2, 1)).waived
    log.retract(26, date(2008, 3, 1))
    timeline = log.book.timelines[PID]
    assert timeline.name_on(date(2008, 6, 1)) == NAME
    assert log.book.schedule_on(PID, date(2008, 2, 1)).schedule == SEED
    assert timeline.name_on(date(2008, 6, 1), datetime(2008, 2, 1, tzinfo=UTC)) != NAME


def test_a_retracted_number_can_be_recorded_again_as_a_correction() -> None:
    log, _ = seed_log()
    log.retract(22, date(2007, 4, 1))
    corrected = FeeSchedule.from_json(
        [
            {"from": 0, "to": 500000000, "rate_pct": "0.880"},
            {"from": 500000000, "to": None, "rate_pct": "0.830"},
        ]
    )
    log.amend(22, date(2006, 11, 1), date(2007, 4, 2), SetSchedule(PID, NAME, corrected))
    answer = log.book.schedule_on(PID, date(2006, 11, 1))
    assert answer.schedule == corrected
    assert answer.version is not None and answer.version.provenance.event_id == "evt-3"
    # The original recording, as known between it and the retraction, is still answerable.
    known = datetime(2007, 3, 15, tzinfo=UTC)
    old = log.book.schedule_on(PID, date(2006, 11, 1), known)
    assert old.schedule == SEED
    assert old.version is not None and old.version.provenance.event_id == "evt-2"


def test_intervals_give_each_base_version_its_dates() -> None:
    log, recorded_22 = seed_log()
    log.amend(30, date(2008, 5, 1), date(2008, 4, 15), RemovePortfolio(PID))
    timeline = log.book.timelines[PID]
    got = [
        (i.version.provenance.amendment_number, i.version.kind, i.start, i.end)
        for i in timeline.intervals()
    ]
    assert got == [
        (18, VersionKind.SET, date(2006, 5, 1), date(2006, 11, 1)),
        (22, VersionKind.SET, date(2006, 11, 1), date(2008, 5, 1)),
        (30, VersionKind.REMOVE, date(2008, 5, 1), None),
    ]
    # As known at No. 22's recording, the removal was not yet known.
    assert [(i.start, i.end) for i in timeline.intervals(recorded_22.position)] == [
        (date(2006, 5, 1), date(2006, 11, 1)),
        (date(2006, 11, 1), None),
    ]


def test_intervals_as_known_before_anything_was_recorded_are_none() -> None:
    log, _ = seed_log()
    before = at(date(2006, 1, 1)).position  # No. 18 was recorded in April 2006
    assert list(log.book.timelines[PID].intervals(before)) == []


def test_intervals_leave_out_a_version_superseded_on_its_first_day() -> None:
    log, _ = seed_log()
    log.amend(23, date(2006, 11, 1), date(2007, 3, 2), SetSchedule(PID, NAME, WAIVED))
    got = [
        (i.version.provenance.amendment_number, i.start)
        for i in log.book.timelines[PID].intervals()
    ]
    assert got == [(18, date(2006, 5, 1)), (23, date(2006, 11, 1))]


@pytest.mark.parametrize("day", [date(2006, 10, 31), date(2006, 11, 1), date(2007, 8, 1)])
def test_recording_the_same_event_twice_changes_nothing(day: date) -> None:
    log, recorded_22 = seed_log()
    timeline = log.book.timelines[PID]
    versions = timeline.versions
    names = timeline.names
    intervals = list(timeline.intervals())
    answer = log.book.schedule_on(PID, day)
    # Replay No. 22's event (same event id and position), as a redelivery would.
    replay = Amendment(AGREEMENT, 22, date(2006, 11, 1), (SetSchedule(PID, NAME, SEED),))
    log.book.record_amendment(replay, "evt-2", recorded_22)
    log.book.record_amendment(replay, "evt-2", recorded_22)
    assert timeline.versions == versions
    assert timeline.names == names
    assert list(timeline.intervals()) == intervals
    assert log.book.schedule_on(PID, day) == answer


def test_changed_dates_points_at_the_earliest_affected_day() -> None:
    log, _ = seed_log()
    timeline = log.book.timelines[PID]
    since = at(date(2007, 1, 1))
    assert timeline.changed_dates(since) == date(2006, 11, 1)
    assert timeline.changed_dates(None) == date(2006, 5, 1)
    assert timeline.changed_dates(at(date(2007, 3, 2))) is None
    log.retract(22, date(2007, 4, 1))
    assert timeline.changed_dates(at(date(2007, 3, 2))) == date(2006, 11, 1)


def test_terms_come_from_the_owning_agreement() -> None:
    log, _ = seed_log()
    assert log.book.terms_for(PID) == (DayCount.ACT_365F, RoundingPolicy())
    assert log.book.terms_for("unknown") == (DayCount.ACT_365F, RoundingPolicy())


def test_answers_price_the_seed_fee() -> None:
    log, _ = seed_log()
    answer = log.book.schedule_on(PID, date(2006, 11, 15))
    assert answer.schedule is not None
    assert answer.schedule.annual_fee(Decimal("750000000")) == Decimal("6475000.00")


def test_a_naive_known_at_is_read_as_utc() -> None:
    log, _ = seed_log()
    # Record points are UTC-aware; an auditor's naive "2007-02-28T00:00" must not crash.
    assert log.book.schedule_on(PID, date(2006, 11, 1), datetime(2007, 2, 28)).schedule == EARLIER
    assert log.book.schedule_on(PID, date(2006, 11, 1), datetime(2007, 3, 2)).schedule == SEED

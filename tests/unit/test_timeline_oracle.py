"""The timeline's answers, as known now and at every earlier log position, against a day-by-day
oracle written here from the rules alone.

The timeline answers every day from one sweep over the dates where an answer can change
(`services.domain.timeline._segments`). This test restates the rules for one day at a time,
with no sweep, no bisect and no change dates, over the facts visible at a position:
- the base version is the schedule set or removal in effect on the day with the greatest
  precedence (later effective date, then later amendment, then later recording);
- a removal answers no schedule, and no waiver applies to it;
- otherwise the latest recorded waiver whose period holds the day stands in for the base;
- the name is the one in effect with the greatest precedence, or before any, the earliest one.
A fact is visible at a position when it was recorded at or before it and not retracted by then.
"""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from test_timeline_segments import SPAN, START, Generated, build, timelines

from services.domain.timeline import (
    NameVersion,
    RecordPoint,
    ScheduleTimeline,
    ScheduleVersion,
    VersionKind,
    position_key,
)


def _seen(recorded: RecordPoint, retracted: RecordPoint | None, at: str | None) -> bool:
    if at is None:
        return retracted is None
    key = position_key(at)
    return recorded.key <= key and (retracted is None or retracted.key > key)


def _rank(fact: ScheduleVersion | NameVersion) -> tuple[date, int, tuple[int, int]]:
    p = fact.provenance
    return (fact.effective_from, p.amendment_number, p.recorded.key)


def oracle(
    timeline: ScheduleTimeline, day: date, at: str | None
) -> tuple[ScheduleVersion | None, ScheduleVersion | None, str | None]:
    """(the answering version, the base a waiver stands in for, the name) on `day`."""
    versions = [v for v in timeline.versions if _seen(v.provenance.recorded, v.retracted, at)]
    bases = [v for v in versions if v.kind is not VersionKind.WAIVER and v.effective_from <= day]
    base = max(bases, key=_rank, default=None)
    waivers = [
        v
        for v in versions
        if v.kind is VersionKind.WAIVER
        and v.effective_from <= day
        and (v.effective_to is None or day <= v.effective_to)
    ]
    waiver = max(waivers, key=lambda v: v.provenance.recorded.key, default=None)
    names = [n for n in timeline.names if _seen(n.provenance.recorded, n.retracted, at)]
    in_effect = [n for n in names if n.effective_from <= day]
    name = max(in_effect, key=_rank, default=None) or min(
        names, key=lambda n: n.effective_from, default=None
    )
    named = None if name is None else name.name
    if base is None or base.kind is VersionKind.REMOVE or waiver is None:
        return base, None, named
    return waiver, base, named


def positions(timeline: ScheduleTimeline) -> list[str | None]:
    """As known now, and just after each fact's recording or retraction."""
    points = {v.provenance.recorded.position for v in timeline.versions}
    points |= {v.retracted.position for v in timeline.versions if v.retracted is not None}
    return [None, *sorted(points, key=position_key)]


@settings(max_examples=300, deadline=None)
@given(timelines)
def test_every_day_at_every_position_answers_as_the_rules_say(generated: Generated) -> None:
    timeline = build(*generated)
    for at in positions(timeline):
        for offset in range(-3, SPAN + 15):
            day = START + timedelta(days=offset)
            version, base, name = oracle(timeline, day, at)
            answer = timeline.schedule_on(day, at)
            assert (answer.version, answer.base) == (version, base), (day, at)
            expected = None if version is None or version.kind is VersionKind.REMOVE else version
            assert answer.schedule is (None if expected is None else expected.schedule), (day, at)
            assert timeline.name_on(day, at) == name, (day, at)

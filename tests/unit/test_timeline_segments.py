"""`ScheduleTimeline.segments_now` (the read model's answers as known now) agrees with the timeline.

For generated timelines (schedules set, removals, waivers, renames, retractions, effective dates
out of recording order, ties on a date) the answer stored for the segment holding a day must be
exactly what `schedule_on(day)` and `name_on(day)` say as known now.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.domain.fees import FeeSchedule
from services.domain.timeline import (
    NameVersion,
    Provenance,
    RecordPoint,
    ScheduleTimeline,
    ScheduleVersion,
    VersionKind,
)

START = date(2000, 1, 1)
SPAN = 40  # effective dates fall in [START, START + SPAN); days checked a little around it
SCHEDULES = [FeeSchedule.flat(rate) for rate in ("0.50", "0.45", "0.30")]


@dataclass(frozen=True)
class Step:
    """One recorded fact of a generated timeline, with the name its amendment states."""

    kind: VersionKind
    day: int
    waiver_days: int
    amendment: int
    schedule: int
    # Several entries may share a millisecond; the sequence keeps recording order total.
    ms_step: int
    name: str | None
    name_shift: int


steps = st.builds(
    Step,
    kind=st.sampled_from(
        [VersionKind.SET, VersionKind.SET, VersionKind.REMOVE, VersionKind.WAIVER]
    ),
    day=st.integers(0, SPAN - 1),
    waiver_days=st.integers(-2, 12),
    amendment=st.integers(1, 5),
    schedule=st.integers(0, len(SCHEDULES) - 1),
    ms_step=st.integers(0, 2),
    name=st.none() | st.sampled_from(["Alpha", "Beta", "Gamma"]),
    name_shift=st.integers(-3, 3),
)
# Retractions: (amendment number, after how many steps it is recorded).
Generated = tuple[list[Step], list[tuple[int, int]]]
timelines = st.tuples(
    st.lists(steps, max_size=14),
    st.lists(st.tuples(st.integers(1, 5), st.integers(0, 14)), max_size=3),
)


def build(steps: list[Step], retractions: list[tuple[int, int]]) -> ScheduleTimeline:
    timeline = ScheduleTimeline("p")
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    ms = 1000
    pending = sorted(retractions, key=lambda r: r[1])

    def retract_due(done: int, seq: int) -> None:
        while pending and pending[0][1] <= done:
            number, _ = pending.pop(0)
            timeline.retract("agr", number, RecordPoint(moment, f"{ms}-{seq}"))

    for i, step in enumerate(steps):
        retract_due(i, 1000 + i)
        ms += step.ms_step
        on = START + timedelta(days=step.day)
        provenance = Provenance(
            "agr", step.amendment, on, f"e{i}", RecordPoint(moment, f"{ms}-{i}")
        )
        schedule = None if step.kind is VersionKind.REMOVE else SCHEDULES[step.schedule]
        until = on + timedelta(days=step.waiver_days) if step.kind is VersionKind.WAIVER else None
        timeline.record(
            ScheduleVersion("p", step.kind, step.kind.value, schedule, on, provenance, until)
        )
        if step.name is not None:
            named = on + timedelta(days=step.name_shift)
            timeline.record_name(NameVersion(step.name, named, provenance))
    retract_due(len(steps) + 100, 5000)
    return timeline


@settings(max_examples=400, deadline=None)
@given(timelines)
def test_every_days_segment_answers_as_schedule_on_and_name_on(
    generated: Generated,
) -> None:
    timeline = build(*generated)
    segments, visible = timeline.segments_now()
    starts = [s.start for s in segments]
    assert starts and starts[0] == date.min and starts == sorted(set(starts))
    for offset in range(-5, SPAN + 20):
        day = START + timedelta(days=offset)
        segment = segments[bisect.bisect_right(starts, day) - 1]
        answer = timeline.schedule_on(day)
        version = None if segment.version is None else visible[segment.version]
        base = None if segment.base is None else visible[segment.base]
        assert version is answer.version, day
        assert base is answer.base, day
        assert segment.name == timeline.name_on(day), day

"""Bitemporal schedule history of one portfolio.

Two clocks: *valid time* (the date an amendment is effective from) and *record time* (when the
log learned of it: a moment and a log position). `ScheduleTimeline.schedule_on(day, known_at)`
answers "which schedule applied on `day`, as the log knew it at `known_at`", so a fee can be
explained with exactly the knowledge that priced it, and late knowledge never rewrites the past.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import TypeAlias

from services.domain.fees import DayCount, FeeSchedule
from services.domain.group import GroupTerms


def position_key(position: str) -> tuple[int, int]:
    """Order of a Redis stream entry id ("1700000000000-3"); malformed ids sort first."""
    ms, _, seq = position.partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:
        return (-1, -1)


@dataclass(frozen=True, slots=True)
class RecordPoint:
    """When the log learned a fact: the moment, and the log position that totally orders it."""

    recorded_at: datetime
    position: str
    # The position's order, parsed once (every precedence comparison reads it).
    key: tuple[int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", position_key(self.position))


# What an answer may know: everything (None), what was recorded by a moment, or up to a position.
KnownAt: TypeAlias = datetime | str | None


def as_utc(moment: datetime) -> datetime:
    """Naive moments are read as UTC, so naive and aware moments compare instead of raising."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def is_known(point: RecordPoint, known_at: KnownAt) -> bool:
    if known_at is None:
        return True
    if isinstance(known_at, datetime):
        return as_utc(point.recorded_at) <= as_utc(known_at)
    return point.key <= position_key(known_at)


def in_force(recorded: RecordPoint, retracted: RecordPoint | None, known_at: KnownAt) -> bool:
    """A fact counts at `known_at` if it was recorded by then and not yet retracted."""
    return is_known(recorded, known_at) and (retracted is None or not is_known(retracted, known_at))


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a version came from: which amendment, which event, and when it was recorded."""

    agreement_id: str
    amendment_number: int
    effective_date: date
    event_id: str
    recorded: RecordPoint


class VersionKind(StrEnum):
    SET = "set"
    REMOVE = "remove"
    WAIVER = "waiver"


@dataclass(frozen=True, slots=True)
class ScheduleVersion:
    """One fact about a portfolio's fee: a schedule set, a removal, or a waiver for a period."""

    portfolio_id: str
    kind: VersionKind
    action: str
    schedule: FeeSchedule | None
    effective_from: date
    provenance: Provenance
    # Waivers only: the last day (inclusive) the waiver applies.
    effective_to: date | None = None
    retracted: RecordPoint | None = None
    # A group schedule's version: the schedule is on the group's combined assets.
    group: GroupTerms | None = None

    def visible(self, known_at: KnownAt) -> bool:
        return in_force(self.provenance.recorded, self.retracted, known_at)

    def covers(self, day: date) -> bool:
        """Whether a waiver's period holds `day`."""
        until = self.effective_to
        return self.effective_from <= day and (until is None or day <= until)


@dataclass(frozen=True, slots=True)
class NameVersion:
    """A portfolio's name from a date on; the portfolio id never changes, names are aliases."""

    name: str
    effective_from: date
    provenance: Provenance
    retracted: RecordPoint | None = None

    def visible(self, known_at: KnownAt) -> bool:
        return in_force(self.provenance.recorded, self.retracted, known_at)


def precedence(item: ScheduleVersion | NameVersion) -> tuple[date, int, tuple[int, int]]:
    """Which of two facts prevails: the later effective date; on the same date the later
    amendment, then the later recording."""
    p = item.provenance
    return (item.effective_from, p.amendment_number, p.recorded.key)


def _change_dates(versions: Iterable[ScheduleVersion]) -> set[date]:
    """The dates where an answer can change: a version takes effect, a waiver starts, or one
    ends (the day after its last)."""
    starts = {date.min}
    for v in versions:
        starts.add(v.effective_from)
        if v.effective_to is not None and v.effective_to < date.max:
            starts.add(v.effective_to + timedelta(days=1))
    return starts


@dataclass(frozen=True, slots=True)
class ScheduleAnswer:
    """The schedule in force on a day, and the versions that put it there."""

    portfolio_id: str
    on: date
    schedule: FeeSchedule | None
    version: ScheduleVersion | None
    # When a waiver applies: the schedule it stands in for.
    base: ScheduleVersion | None = None

    # Written out: see Accrual.__init__ (services.domain.fees).
    def __init__(
        self,
        portfolio_id: str,
        on: date,
        schedule: FeeSchedule | None,
        version: ScheduleVersion | None,
        base: ScheduleVersion | None = None,
    ) -> None:
        object.__setattr__(self, "portfolio_id", portfolio_id)
        object.__setattr__(self, "on", on)
        object.__setattr__(self, "schedule", schedule)
        object.__setattr__(self, "version", version)
        object.__setattr__(self, "base", base)

    @property
    def waived(self) -> bool:
        return self.version is not None and self.version.kind is VersionKind.WAIVER


def answer_runs(
    days: Iterable[date], schedule_on: Callable[[date], ScheduleAnswer], day_count: DayCount
) -> list[tuple[date, int, ScheduleAnswer]]:
    """Consecutive days cut where the answer changes (another version or waived schedule) or
    the year basis does: each run (its first day, its days, its answer) is priced alike."""
    runs: list[tuple[date, int, ScheduleAnswer]] = []
    for day in days:
        answer = schedule_on(day)
        if runs:
            start, n, held = runs[-1]
            if (
                held.version is answer.version
                and held.base is answer.base
                and day_count.year_basis(day) == day_count.year_basis(start)
            ):
                runs[-1] = (start, n + 1, held)
                continue
        runs.append((day, 1, answer))
    return runs


@dataclass(frozen=True, slots=True)
class Interval:
    """A base version with the dates it governs (as known at some moment)."""

    version: ScheduleVersion
    start: date
    # Exclusive end; None while nothing later supersedes it.
    end: date | None


class ScheduleTimeline:
    """Every version of one portfolio's schedule, answering bitemporal questions."""

    def __init__(self, portfolio_id: str) -> None:
        self.portfolio_id = portfolio_id
        self._versions: list[ScheduleVersion] = []
        self._names: list[NameVersion] = []
        self._event_ids: set[tuple[str, str, object]] = set()
        # Whether any version prices a group (kept as versions are recorded: the fee worker
        # asks it for every report).
        self.grouped = False
        # The agreement whose terms (day count, rounding) govern the fee: the first to set it.
        self.owner: str | None = None
        # The answers as known now, and as known at the last other moment asked (a page asks
        # one moment many times): swept once (`_known`), until a fact is recorded or retracted.
        self._now: _Known | None = None
        self._then: tuple[KnownAt, _Known] | None = None

    @property
    def versions(self) -> tuple[ScheduleVersion, ...]:
        return tuple(self._versions)

    @property
    def names(self) -> tuple[NameVersion, ...]:
        return tuple(self._names)

    def record(self, version: ScheduleVersion) -> None:
        """Add a version. Recording the same event twice changes nothing (replays are safe)."""
        key = (version.provenance.event_id, version.kind.value, version.effective_from)
        if key not in self._event_ids:
            self._event_ids.add(key)
            self._versions.append(version)
            self._now = self._then = None
            self.grouped = self.grouped or version.group is not None

    def record_name(self, name: NameVersion) -> None:
        key = (name.provenance.event_id, "name", name.name)
        if key not in self._event_ids:
            self._event_ids.add(key)
            self._names.append(name)
            self._now = self._then = None

    def retract(self, agreement_id: str, amendment_number: int, point: RecordPoint) -> None:
        """Mark every fact of that amendment as withdrawn from `point` on."""

        def hit(fact: ScheduleVersion | NameVersion) -> bool:
            p = fact.provenance
            return (
                fact.retracted is None
                and p.agreement_id == agreement_id
                and p.amendment_number == amendment_number
                and p.recorded.key < point.key
            )

        self._versions = [replace(v, retracted=point) if hit(v) else v for v in self._versions]
        self._names = [replace(n, retracted=point) if hit(n) else n for n in self._names]
        self._now = self._then = None

    def _known(self, known_at: KnownAt) -> _Known:
        """Every answer as known at `known_at`: `_segments` of the facts visible then."""
        # Each read once into a local: what is answered is what was swept, whoever sweeps next.
        if known_at is None:
            now = self._now
            if now is None:
                # Every fact not retracted, told without a call per fact (the read model's
                # rebuild asks this of every portfolio).
                visible = [v for v in self._versions if v.retracted is None]
                names = [n for n in self._names if n.retracted is None]
                now = self._now = _segments(visible, names)
            return now
        then = self._then
        if then is None or then[0] != known_at:
            visible = [v for v in self._versions if v.visible(known_at)]
            names = [n for n in self._names if n.visible(known_at)]
            then = self._then = (known_at, _segments(visible, names))
        return then[1]

    def schedule_on(self, on: date, known_at: KnownAt = None) -> ScheduleAnswer:
        """The schedule that applied on `on`, as known at `known_at` (None: as known now)."""
        starts, segments, visible = self._known(known_at)
        segment = segments[bisect_right(starts, on) - 1]
        return segment_answer(self.portfolio_id, on, visible, segment.version, segment.base)

    def name_on(self, on: date, known_at: KnownAt = None) -> str | None:
        starts, segments, _ = self._known(known_at)
        return segments[bisect_right(starts, on) - 1].name

    def intervals(self, known_at: KnownAt = None) -> Iterator[Interval]:
        """The base versions in valid-time order with the dates each governs.

        A version superseded on its own first day (same date, later amendment) is left out.
        """
        visible = [v for v in self._versions if v.visible(known_at)]
        bases = _bases(visible)
        # Each with the one after it (None for the last); no version visible: no interval.
        for (start, i), nxt in zip(bases, [*bases[1:], None], strict=False):
            yield Interval(visible[i], start, None if nxt is None else nxt[0])

    def segments_now(self) -> tuple[list[Segment], list[ScheduleVersion]]:
        """Every answer as known now (`schedule_on(day)` and `name_on(day)` for every day at
        once), with the visible versions the segments index."""
        _, segments, visible = self._known(None)
        return segments, visible

    def changed_dates(self, since: RecordPoint | None) -> date | None:
        """Earliest date whose answer may differ for facts recorded or retracted after `since`."""

        def after(point: RecordPoint | None) -> bool:
            return point is not None and (since is None or point.key > since.key)

        changed = (v for v in self._versions if after(v.provenance.recorded) or after(v.retracted))
        return min((v.effective_from for v in changed), default=None)


# ---- the answers as known at a moment, for every day at once ---------------------------------


@dataclass(frozen=True, slots=True)
class Segment:
    """From `start` until the next segment's start, the answer is the same: the version that
    answers (an index into the visible versions), the version a waiver stands in for, and the
    name."""

    start: date
    version: int | None
    base: int | None
    name: str | None


# The segments of the facts visible at a moment: their starts, they, and the versions they index.
_Known: TypeAlias = tuple[list[date], list[Segment], list[ScheduleVersion]]


def segment_answer(
    portfolio_id: str,
    on: date,
    visible: Sequence[ScheduleVersion],
    at: int | None,
    waived: int | None,
) -> ScheduleAnswer:
    """The answer on `on` of a segment's versions (indices into `visible`): the answering
    version's schedule, none where it is a removal."""
    version = None if at is None else visible[at]
    base = None if waived is None else visible[waived]
    schedule = None if version is None or version.kind is VersionKind.REMOVE else version.schedule
    return ScheduleAnswer(portfolio_id, on, schedule, version, base)


def _bases(visible: Sequence[ScheduleVersion]) -> list[tuple[date, int]]:
    """Each date a base version (not a waiver) takes effect on, ascending, with the one that
    prevails there (an index into `visible`): the greatest `precedence`, the later recorded
    among equals (one amendment changing a portfolio twice)."""
    prevailing: dict[date, int] = {}  # of one date, the base version sorted last
    for i in sorted(range(len(visible)), key=lambda i: precedence(visible[i])):
        if visible[i].kind is not VersionKind.WAIVER:
            prevailing[visible[i].effective_from] = i
    return list(prevailing.items())


def _segments(visible: list[ScheduleVersion], names: Sequence[NameVersion]) -> _Known:
    """One sweep over the dates where an answer can change (a version or name takes effect, a
    waiver starts or ends): on each, the base version that prevails (`_bases`), the name of the
    greatest `precedence` (the later recorded among equals), and of the waivers covering it the
    latest recorded. Returns the segments' starts, the segments, and `visible`."""
    bases = _bases(visible)
    waivers = [i for i, v in enumerate(visible) if v.kind is VersionKind.WAIVER]
    named = sorted(names, key=precedence)
    earliest = min(names, key=lambda n: n.effective_from, default=None)
    starts = _change_dates(visible) | {n.effective_from for n in names}
    segments: list[Segment] = []
    for start in sorted(starts):
        b = bisect_right(bases, start, key=lambda base: base[0])
        n = bisect_right(named, start, key=lambda name: name.effective_from)
        version, waived = _answer_at(start, visible, bases[b - 1][1] if b else None, waivers)
        name = named[n - 1].name if n else (None if earliest is None else earliest.name)
        last = segments[-1] if segments else None
        if last is None or (last.version, last.base, last.name) != (version, waived, name):
            segments.append(Segment(start, version, waived, name))
    return [s.start for s in segments], segments, visible


def _answer_at(
    day: date, visible: Sequence[ScheduleVersion], base: int | None, waivers: list[int]
) -> tuple[int | None, int | None]:
    """(the answering version, the base a waiver stands in for) on `day`, as indices."""
    if base is None or visible[base].kind is VersionKind.REMOVE:
        return base, None
    covering = [w for w in waivers if visible[w].covers(day)]
    waiver = max(covering, key=lambda w: visible[w].provenance.recorded.key, default=None)
    return (base, None) if waiver is None else (waiver, base)

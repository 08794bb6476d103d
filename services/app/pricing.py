"""Pricing net assets: what the fee worker decides for a batch, and the handlers that settle it.

`Pricer` is pure (entries and schedules in, operations out): it validates each net-asset entry,
prices it with the schedule the `ScheduleBook` holds for its date (or parks it unpriced, or
dead-letters it), decides which report wins when a date already holds one, and recomputes
ledger entries when the agreements log learns something that changes past dates. Every entry
ends in FeeAccrued, FeeAdjusted, ReportHeld, ReportIgnored or a dead letter. Its answers are the
operations of services.app.ledger, which a `LedgerStore` applies in one atomic step as
set-if-absent and compare-and-set writes. Ids and amounts depend only on the inputs, so
replanning a redelivered batch gives the same operations, and the store's checks make applying
them twice change nothing.

The handlers that join the two (plan, settle, resolve what conflicted, settle again) are
services.app.settling.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, Protocol, TypeAlias, TypeVar, cast

from pydantic import ValidationError

from contracts.messages import (
    AccrualSegment,
    BandCharge,
    ClassDelta,
    ClassShare,
    DeadLetter,
    DeadLetterCode,
    FeeAccrued,
    FeeAdjusted,
    HeldCode,
    IgnoredCode,
    NetAssetsReported,
    ReportHeld,
    ReportIgnored,
    ScheduleRef,
)
from contracts.scalars import plain_decimal
from contracts.trusted import trusted
from contracts.wire import WireError, decode, encode, first_error, not_accepted
from services.app.ledger import LedgerEntry
from services.app.ledger_read import Basis, LedgerRead
from services.app.operations import (
    Accrue,
    Ack,
    Conflict,
    Emit,
    ExpectLength,
    Op,
    Park,
    Revise,
    Unpark,
    Where,
    closed_field,
    name_parts,
    unpriced_field,
)
from services.domain.allocation import allocate, check_classes, exact_shares
from services.domain.basis import FeeBase
from services.domain.book import PeriodAccrual, ScheduleBook, Stretch
from services.domain.fees import ZERO, Accrual, FeeSchedule, MonthToDate, RoundingPolicy
from services.domain.fees import BandCharge as DomainBand
from services.domain.month import posting_month
from services.domain.timeline import RecordPoint, ScheduleVersion
from services.mapping import schedule_ref

log = logging.getLogger("feeschedule.fee_worker")

# Deterministic event ids: replanning the same inputs names the same events.
EVENT_NAMESPACE = uuid.UUID("6f1c1c2e-52a4-4a4e-9d8e-3f4f0c6a9b11")
# Plain wire field names: ASCII tokens (anything else is refused at the edge).
FIELD_NAME = re.compile(rb"[A-Za-z0-9_.\-]{1,64}\Z")
# The plain wire format's own field names (ASCII tokens, as FIELD_NAME checks any other).
_WIRE_FIELDS = frozenset((b"type", b"event_id", b"schema_version", b"data"))
# A dead letter keeps the original fields, each cut to this many characters.
DEAD_LETTER_FIELD_LIMIT = 64 * 1024

# The longest period a report may cover (NetAssetsReported.accrual_days).
MAX_ACCRUAL_DAYS = 366

AdjustmentReason: TypeAlias = Literal["amendment", "retraction", "revised_report"]

# An accrual priced on its report alone (a same-day base, rounded by itself).
PLAIN = Basis()
FIRST_REPORT_NOTE = "the portfolio's first report: priced on its own net assets"


class Incoming(Protocol):
    """One input stream entry as delivered (services.adapters.consumer.Delivery fits)."""

    @property
    def entry_id(self) -> str: ...
    @property
    def fields(self) -> Mapping[bytes, bytes]: ...
    @property
    def deliveries(self) -> int: ...


E = TypeVar("E", bound=Incoming)


def accrual_id_of(portfolio_id: str, as_of: date | str) -> str:
    return f"{portfolio_id}:{as_of}"


# uuid5's variant digit (RFC 4122: binary 10xx), by the hex digit of the digest in its place.
_VARIANT_DIGIT = {d: "89ab"[int(d, 16) & 3] for d in "0123456789abcdef"}
_NAMESPACE_BYTES = EVENT_NAMESPACE.bytes


def _event_id(kind: str, key: str) -> str:
    """str(uuid.uuid5(EVENT_NAMESPACE, f"{kind}|{key}")), from the digest's hex digits: the
    UUID object, or its 128-bit integer, would cost twice as much (one is made for every
    report, and a unit test checks they agree)."""
    h = hashlib.sha1(_NAMESPACE_BYTES + f"{kind}|{key}".encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT_DIGIT[h[16]]}{h[17:20]}-{h[20:32]}"


def _plain(value: Decimal) -> Decimal:
    # "1E+9" is a valid input but would travel as "1E+9"; the wire wants plain digits. (A
    # positive exponent is what str() writes as "E+": cheaper than as_tuple()'s digits.)
    if not value.is_finite():
        raise ValueError(f"{value} is not a finite amount")
    return value.quantize(1) if "E+" in str(value) else value


# ---- reading a report at the edge ----------------------------------------------------------


class EntryRefused(ValueError):
    """An entry that is dead-lettered, with its machine-readable code."""

    def __init__(self, message: str, code: DeadLetterCode) -> None:
        super().__init__(message)
        self.code: DeadLetterCode = code


def read_report(fields: Mapping[bytes, bytes]) -> NetAssetsReported:
    """The report in an entry, or WireError naming the field and the value."""
    for name in fields:
        if name not in _WIRE_FIELDS and not FIELD_NAME.match(name):
            shown = name.decode("utf-8", "backslashreplace")[:40]
            raise WireError(
                f"field name: {shown!r} is not an ASCII token ([A-Za-z0-9_.-], 1-64)",
                "invalid_encoding",
            )
    outer = fields.get(b"type")
    if outer is not None and outer != b"NetAssetsReported":
        shown = outer.decode("utf-8", "backslashreplace")[:60]
        raise not_accepted(shown, NetAssetsReported, "net-assets")
    message = decode(cast("Mapping[bytes | str, bytes | str]", fields))
    if not isinstance(message, NetAssetsReported):
        raise not_accepted(message.type, NetAssetsReported, "net-assets")
    return message


@dataclass(frozen=True, slots=True)
class ReadReport:
    """An entry whose report has been read already (the worker decides on it which partition
    settles the entry), so that planning does not read it again."""

    entry_id: str
    fields: Mapping[bytes, bytes]
    deliveries: int
    report: NetAssetsReported


def read_ahead(entry: Incoming) -> Incoming:
    """`entry` with its report read; as it is when it does not read (planning refuses it then,
    with the reason)."""
    try:
        report = read_report(entry.fields)
    except Exception:  # whatever it is, `_plan_entry` meets it again and dead-letters the entry
        return entry
    return ReadReport(entry.entry_id, entry.fields, entry.deliveries, report)


def _text_fields(fields: Mapping[bytes, bytes]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in fields.items():
        text = value.decode("utf-8", "backslashreplace")
        if len(text) > DEAD_LETTER_FIELD_LIMIT:
            text = text[:DEAD_LETTER_FIELD_LIMIT] + f"...[cut: {len(value)} bytes]"
        out[name.decode("utf-8", "backslashreplace")[:200]] = text
    return out


def refusal(exc: Exception) -> tuple[DeadLetterCode, str]:
    """The dead letter's code and reason for what went wrong with one entry."""
    if isinstance(exc, WireError | EntryRefused):
        return exc.code, str(exc)
    if isinstance(exc, ValidationError):
        return "invalid_field", first_error(exc)
    if isinstance(exc, ValueError | ArithmeticError):  # DomainError, decimal trouble
        return "invalid_field", str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    first = str(exc).splitlines()[0][:200] if str(exc) else ""
    return "internal_error", f"{type(exc).__name__} while pricing the entry: {first}".rstrip(": ")


@dataclass(frozen=True, slots=True)
class Held:
    """What is already stored for a (portfolio, date): the report it came from."""

    report_id: str
    revision: int
    net_assets: Decimal
    accrual_days: int
    currency: str
    classes: tuple[tuple[str, Decimal], ...] = ()

    @classmethod
    def of(cls, report: NetAssetsReported) -> Held:
        return cls(
            report.report_id,
            report.revision,
            report.net_assets,
            report.accrual_days,
            report.currency,
            _class_weights(report),
        )

    @classmethod
    def stored(cls, where: Where, text: str) -> Held:
        if where == "unpriced":
            return cls.of(NetAssetsReported.model_validate_json(text))
        entry = LedgerEntry.from_json(text)
        return cls(
            entry.report_id,
            entry.revision,
            Decimal(entry.net_assets),
            entry.accrual_days,
            entry.currency,
            tuple(entry.class_weights()),
        )

    def verdict(self, report: NetAssetsReported) -> IgnoredCode | None:
        """Why `report` changes nothing beside what is held, or None: it supersedes it."""
        if report.revision > self.revision:
            return None
        if report.revision < self.revision:
            return "older_revision"
        return "duplicate" if Held.of(report) == self else "same_revision_different_content"


IGNORED_REASONS: dict[IgnoredCode, str] = {
    "duplicate": "the same report (id, revision and content) is already held",
    "older_revision": "a report of a higher revision for the date is already held",
    "same_revision_different_content": (
        "a different report of the same revision for the date is already held"
        " (send a higher revision to correct it)"
    ),
}


# ---- the pricer ----------------------------------------------------------------------------


@dataclass
class Pricer:
    """Prices reports against the schedules a `ScheduleBook` holds (as it knows them now)."""

    book: ScheduleBook
    source_stream: str
    consumer: str | None = None
    max_deliveries: int = 5
    _refs: dict[tuple[str, bool], ScheduleRef] = field(default_factory=dict)
    # The JSON form of each cached ref, as a ledger entry holds it (keyed by the ref's id:
    # refs live as long as the cache).
    _ref_dicts: dict[int, dict[str, Any]] = field(default_factory=dict)
    # Portfolio -> its closed months, as last read from the ledger (`refresh_closed`): a
    # change to a day of a closed month is booked in the first open month after it.
    closed: Mapping[str, Collection[str]] = field(default_factory=dict)
    # The contract form of the band charges a schedule shares between all reports (those its
    # assets do not reach or fill: FeeSchedule.shared_bands), by the id of the domain's object
    # (kept beside it, so the id stays its own).
    _shared_bands: dict[int, tuple[DomainBand, BandCharge]] = field(default_factory=dict)
    _shared: dict[int, FeeSchedule] = field(default_factory=dict)

    # -- one report --

    def _ref(self, version: ScheduleVersion) -> ScheduleRef:
        key = (version.provenance.event_id, version.kind.value == "waiver")
        ref = self._refs.get(key)
        if ref is None:
            ref = self._refs[key] = schedule_ref(version)
            self._ref_dicts[id(ref)] = ref.model_dump(mode="json")
        return ref

    def _share(self, schedule: FeeSchedule | None) -> None:
        """The contract form of the band charges the schedule shares, made once."""
        if schedule is None or id(schedule) in self._shared:
            return
        self._shared[id(schedule)] = schedule
        for band in schedule.shared_bands():
            self._shared_bands[id(band)] = (band, _band(band))

    def _bands(self, accrual: Accrual, schedule: FeeSchedule | None) -> list[BandCharge]:
        """The accrual's band charges (of `schedule`) as FeeAccrued lists them."""
        self._share(schedule)
        out = []
        for band in accrual.breakdown:
            shared = self._shared_bands.get(id(band))
            out.append(shared[1] if shared is not None and shared[0] is band else _band(band))
        return out

    def _member_period(
        self, portfolio_id: str, as_of: date, accrual_days: int, group: Mapping[str, Decimal]
    ) -> PeriodAccrual | None:
        """A group member's share of the group's period (priced on the members' combined net
        assets, `group`), as its own period."""
        priced = self.book.accrue_group(as_of, accrual_days, group)
        if priced is None:
            return None
        period, shares = priced
        share = shares[portfolio_id]
        accrual = replace(
            period.accrual,
            net_assets=share.net_assets,
            amount=share.amount,
            amount_exact=share.amount_exact,
        )
        stretch = Stretch(as_of, accrual_days, period.first.answer, accrual)
        return PeriodAccrual(accrual, (stretch,), share.amount_exact)

    def _segments(self, period: PeriodAccrual) -> list[AccrualSegment]:
        """The period's stretches, as FeeAccrued lists them (none for a single stretch)."""
        if len(period.stretches) == 1:
            return []
        return [
            trusted(
                AccrualSegment,
                {
                    "start": s.start,
                    "end": s.start + timedelta(days=s.days - 1),
                    "days": s.days,
                    "schedule_ref": None
                    if s.answer.version is None
                    else self._ref(s.answer.version),
                    "effective_rate_pct": ZERO
                    if s.accrual is None
                    else s.accrual.effective_rate_pct,
                    "amount_exact": ZERO if s.accrual is None else s.accrual.amount_exact,
                },
            )
            for s in period.stretches
        ]

    def _accrue_or_park(
        self,
        report: NetAssetsReported,
        ack: str | None,
        parked: tuple[str, str] | None = None,
        basis: Basis = PLAIN,
    ) -> Accrue | Park | None:
        pid, as_of = report.portfolio_id, report.as_of
        priced_on = report.net_assets if basis.base_net_assets is None else basis.base_net_assets
        priced = self._price_on(pid, as_of, report.accrual_days, priced_on, basis.group)
        if priced is None:
            return None if parked else self._park(report, ack)
        period, ref = priced
        period = period.booked_in(basis.month)
        accrued = self._accrued(report, period, ref, basis)
        entry = LedgerEntry(
            accrual_id=accrued.accrual_id,
            portfolio_id=pid,
            as_of=as_of.isoformat(),
            accrued=str(period.accrual.amount),
            **_report_fields(report),
            **self._priced(period, ref),
            **({} if basis is PLAIN else _basis_fields(basis)),
        )
        covers = (entry.as_of,) if report.accrual_days == 1 else _days(as_of, report.accrual_days)
        return Accrue(
            pid, entry.as_of, entry.to_json(), report, encode(accrued), ack, parked, covers
        )

    def _accrued(
        self, report: NetAssetsReported, period: PeriodAccrual, ref: ScheduleRef, basis: Basis
    ) -> FeeAccrued:
        extra: dict[str, Any] = {}
        if basis.provisional:
            extra["provisional"] = list(basis.provisional)
        if basis.base_as_of is not None:
            extra["fee_base_as_of"] = basis.base_as_of
            if basis.base_as_of == report.as_of:
                extra["fee_base_note"] = FIRST_REPORT_NOTE
        if report.classes:
            extra["classes"] = class_shares(period.accrual, _class_weights(report))
        if period.waived:
            base = period.first.answer.base or period.first.answer.version
            assert base is not None  # a waived period's first priced day has a schedule
            extra["gross_amount"] = period.gross_amount
            extra["gross_amount_exact"] = period.gross_exact
            extra["waived_amount"] = period.waived_amount
            extra["waived_amount_exact"] = period.gross_exact - period.accrual.amount_exact
            extra["gross_schedule_ref"] = self._ref(base)
        bands = self._bands(period.accrual, period.first.answer.schedule)
        return fee_accrued(report, period.accrual, ref, self._segments(period), extra, bands)

    def _park(
        self,
        report: NetAssetsReported,
        ack: str | None,
        expected: str | None = None,
        waiting_for: Sequence[str] = (),
    ) -> Park:
        """Keep the report unpriced: no schedule yet, or (`waiting_for`) its group's day waits
        for those members' reports."""
        pid, as_of = report.portfolio_id, report.as_of.isoformat()
        if waiting_for:
            code: HeldCode = "group_incomplete"
            reason = (
                f"as_of: the group day {as_of} waits for the reports of {', '.join(waiting_for)};"
                " it is priced when every member's report is in"
            )
        else:
            code = "no_schedule"
            reason = (
                f"as_of: no schedule of portfolio {pid!r} is in force on {as_of}; the report"
                " waits and is priced when one is recorded"
            )
        held = ReportHeld(**self._outcome("ReportHeld", report, ack), code=code, reason=reason)
        return Park(pid, as_of, report, encode(held), ack, expected)

    def reject(self, entry: Incoming, code: DeadLetterCode, reason: str) -> Emit:
        """The entry to the dead letters, with its code and reason."""
        try:
            fields = _text_fields(entry.fields)
        except Exception as exc:  # the entry itself is what failed: keep its id and why
            fields, reason = {}, f"{reason} (its fields could not be read: {type(exc).__name__})"
        return self._dead_letter(entry.entry_id, fields, code, reason, entry.deliveries)

    def _dead_letter(
        self,
        entry_id: str,
        fields: dict[str, str],
        code: DeadLetterCode,
        reason: str,
        deliveries: int = 1,
    ) -> Emit:
        letter = DeadLetter(
            event_id=_event_id("DeadLetter", f"{self.source_stream}|{entry_id}"),
            source_stream=self.source_stream,
            entry_id=entry_id,
            fields=fields,
            code=code,
            reason=reason,
            deliveries=deliveries,
            consumer=self.consumer,
        )
        return Emit("dead_letters", encode(letter), entry_id)

    def _ignore(self, op: Accrue | Park, code: IgnoredCode, held: Held) -> Emit:
        ignored = ReportIgnored(
            **self._outcome("ReportIgnored", op.report, op.ack),
            code=code,
            reason=IGNORED_REASONS[code],
            accrual_id=accrual_id_of(op.report.portfolio_id, op.report.as_of),
            held_report_id=held.report_id,
            held_revision=held.revision,
        )
        return Emit("report_outcomes", encode(ignored), op.ack)

    def _outcome(self, kind: str, report: NetAssetsReported, ack: str | None) -> dict[str, Any]:
        """The fields every report outcome (ReportHeld, ReportIgnored) has: the entry it
        answers, which names its event (a redelivery names the same one), and the report."""
        return {
            "event_id": _event_id(kind, f"{self.source_stream}|{ack}"),
            "source_stream": self.source_stream,
            "entry_id": ack or "",
            "report_id": report.report_id,
            "portfolio_id": report.portfolio_id,
            "as_of": report.as_of,
            "revision": report.revision,
        }

    # -- a batch --

    def plan_batch(self, entries: Sequence[Incoming]) -> list[Op]:
        """One operation per entry, in order: accrue, park, or reject with the reason.

        Whatever goes wrong with one entry (a malformed value, a nesting that would recurse,
        a bug) dead-letters that entry alone: its neighbours are planned as usual.
        """
        ops: list[Op] = []
        for entry in entries:
            try:
                ops.append(self._plan_entry(entry))
            except Exception as exc:
                code, reason = refusal(exc)
                if code == "internal_error":
                    log.exception("entry %s dead-lettered: %s", entry.entry_id, reason)
                ops.append(self.reject(entry, code, reason))
        return ops

    def _plan_entry(self, entry: Incoming) -> Op:
        if not entry.fields:
            # A pending entry deleted from the stream: nothing left to price.
            return Ack(entry.entry_id)
        if entry.deliveries > self.max_deliveries:
            raise EntryRefused(
                f"deliveries: {entry.deliveries} exceeds max_deliveries"
                f" ({self.max_deliveries}); processing it failed every time",
                "max_deliveries",
            )
        report = entry.report if type(entry) is ReadReport else read_report(entry.fields)
        if report.portfolio_id not in self.book.timelines:
            # Never named by any agreement: a typo or a fund not yet set up. Parking it
            # would hide it; the dead letter keeps it, with what to do about it.
            raise EntryRefused(
                f"portfolio_id: {report.portfolio_id!r} is on no recorded agreement"
                " (record its amendment, then send the report again)",
                "unknown_portfolio",
            )
        self.book.check_currency(report.portfolio_id, report.currency)
        if report.classes:
            check_classes(report.net_assets, _class_weights(report))
        op = self._accrue_or_park(report, entry.entry_id)
        assert op is not None
        return op

    def resolve(self, conflicts: Sequence[Conflict]) -> list[Op]:
        """Reports whose date already holds one: the higher revision wins, the rest are
        ignored with the reason.

        Several reports of one date in a batch are taken in order, as if applied one by one;
        only the last winner is written (the ledger ends where applying them one by one would
        end, in one adjustment).
        """
        ops: list[Op] = []
        state: dict[tuple[str, str, Where], tuple[str, Held | None, Accrue | Park | None]] = {}
        for op, where, stored in conflicts:
            if where == "coverage" or isinstance(op, Revise):
                ops += self._overlapping(op, stored)
                continue
            key = (op.portfolio_id, op.as_of, where)
            if key not in state:
                # Nothing stored: a parked report taken away since the step was planned.
                state[key] = (stored, Held.stored(where, stored) if stored else None, None)
            stored, held, winner = state[key]
            if held is not None and (code := held.verdict(op.report)) is not None:
                ops.append(self._dismiss(op, code, held))
                continue
            if winner is not None:
                ops.append(self._dismiss(winner, "older_revision", Held.of(op.report)))
            state[key] = (stored, Held.of(op.report), op)
        for (_, _, where), (stored, _, winner) in state.items():
            if winner is not None:
                ops += self._supersede(winner, where, stored)
        return ops

    def _overlapping(self, op: Accrue | Park | Revise, stored: str) -> list[Op]:
        """A report whose period reaches a day another report's accrual covers: dead-lettered,
        naming both periods (a parked report priced by the worker itself stays parked)."""
        report = op.report
        if op.ack is None or report is None:
            return []
        if stored.startswith("{"):
            held = LedgerEntry.from_json(stored)
            theirs = _period(date.fromisoformat(held.as_of), held.accrual_days)
            theirs += f", accrued for report {held.report_id!r}"
        else:  # only the day's holder is known (its entry is gone)
            theirs = f"the period of the accrual of {stored}"
        reason = (
            f"accrual_days: the period {_period(report.as_of, report.accrual_days)} overlaps"
            f" {theirs}; one report covers a day (send a revision of that report to change"
            " its period)"
        )
        return self._refused(op.ack, report, reason)

    def _refused(self, ack: str | None, report: NetAssetsReported, reason: str) -> list[Op]:
        """A valid report that cannot be priced as sent, to the dead letters with `reason`."""
        if ack is None:
            return []  # a parked report priced by the worker itself: it stays parked
        return [self._dead_letter(ack, encode(report), "invalid_field", reason)]

    def _dismiss(self, op: Accrue | Park, code: IgnoredCode, held: Held) -> Op:
        if op.ack is not None:
            return self._ignore(op, code, held)
        # A parked report priced by the worker itself (no entry to answer for): it already
        # said ReportHeld; it leaves the unpriced hash, as if accrued.
        assert isinstance(op, Accrue) and op.unpriced is not None
        return Unpark(*op.unpriced)

    def _supersede(self, op: Accrue | Park, where: Where, stored: str) -> list[Op]:
        if where == "unpriced":
            return [self._park(op.report, op.ack, expected=stored)]
        revised = self._revise(stored, op.ack, op.report)
        assert revised is not None  # a revised report always adjusts
        if isinstance(op, Accrue) and op.unpriced is not None:
            return [revised, Unpark(*op.unpriced)]
        return [revised]

    # -- late knowledge --

    def affected(self, since: str | None) -> dict[str, date]:
        """Portfolio -> earliest date whose schedule may differ from what `since` knew."""
        point = None if not since else RecordPoint(datetime.min.replace(tzinfo=UTC), since)
        changed = {pid: t.changed_dates(point) for pid, t in self.book.timelines.items()}
        return {pid: earliest for pid, earliest in changed.items() if earliest is not None}

    def plan_advance(
        self,
        affected: Mapping[str, date],
        ledgers: Mapping[str, Mapping[str, str]],
        unpriced: Mapping[str, str],
        unwritable: Collection[str] = (),
        elsewhere: Mapping[str, Mapping[str, str]] | None = None,
    ) -> list[Op]:
        """Adjust every ledger entry the new knowledge changes; price parked reports it covers
        (but for portfolios whose ledger cannot be written: theirs wait). `elsewhere`: what the
        group members' ledgers hold in other partitions, read for a day the log has made a
        group's, where each member's entry is priced again as its share."""
        ops: list[Op] = []
        reads: dict[str, LedgerRead] = {}
        members = {
            pid: {**(elsewhere or {}).get(pid, {}), **ledgers.get(pid, {})}
            for pid in {*ledgers, *(elsewhere or {})}
        }
        for portfolio_id, earliest in sorted(affected.items()):
            ledger = ledgers.get(portfolio_id)
            if ledger is None:
                continue  # not readable as a ledger: nothing there to adjust
            if self.contextual(portfolio_id):
                read = reads[portfolio_id] = LedgerRead(portfolio_id, ledger)
                ops += self._advance_in_context(read, earliest, members)
                continue
            ops.append(ExpectLength(portfolio_id, len(ledger)))
            days = sorted(d for d in ledger if _reaches(d, ledger[d], earliest))
            ops += filter(None, (self._revise(ledger[as_of], None) for as_of in days))
        waiting = dict(unpriced)  # as the plan leaves it: a group's day takes its members'
        for name, report_json in sorted(unpriced.items()):
            try:
                report = NetAssetsReported.model_validate_json(report_json)
            except ValidationError:
                continue  # only the worker writes this hash; a bad value stays for a human
            pid = report.portfolio_id
            if pid in unwritable or (self.contextual(pid) and pid not in reads):
                continue  # (a ledger it would be priced on, unread: it waits for the next)
            if pid in reads and name not in waiting:
                continue  # priced already, with its group's day
            op = self._accrue_or_park(report, None, parked=(name, report_json))
            if isinstance(op, Accrue):
                ops += [op] if pid not in reads else self._planned(op, reads, waiting)
        return _as_read(ops, reads, unpriced)

    # -- accruals that depend on their ledger --

    def members_elsewhere(
        self, affected: Mapping[str, date], ledgers: Mapping[str, Mapping[str, str]]
    ) -> list[str]:
        """The group members whose entries of a day another partition may hold: the days
        priced alone here (of `ledgers`, as new knowledge from `affected`'s dates reaches them)
        that the log now makes a group's, for members with no entry of that day here."""
        wanted: set[str] = set()
        for pid, earliest in affected.items():
            timeline, ledger = self.book.timelines.get(pid), ledgers.get(pid, {})
            if timeline is None or not timeline.grouped:
                continue
            for day in (d for d in ledger if _reaches(d, ledger[d], earliest)):
                members = self._members(pid, date.fromisoformat(day))
                if members is not None and LedgerEntry.from_json(ledger[day]).group is None:
                    wanted.update(m for m in members if day not in ledgers.get(m, {}))
        return sorted(wanted)

    def _members(self, portfolio_id: str, on: date) -> list[str] | None:
        """The members of the group whose schedule prices the portfolio on `on`, if any."""
        group = self.book.group_on(portfolio_id, on)
        return None if group is None else self.book.group_members(group, on)

    def contextual(self, portfolio_id: str) -> bool:
        """Whether the portfolio's accruals depend on its ledger: month-to-date rounding books
        beside the month's other accruals; a prior-day fee base prices on the report before."""
        _, rounding = self.book.terms_for(portfolio_id)
        if rounding.month_to_date or self.book.fee_base(portfolio_id) is FeeBase.PRIOR_DAY:
            return True
        return self.ever_grouped(portfolio_id)

    def ever_grouped(self, portfolio_id: str) -> bool:
        """Whether any schedule the log holds prices the portfolio in a group (else no day of
        its waits for a group's members)."""
        timeline = self.book.timelines.get(portfolio_id)
        return timeline is not None and timeline.grouped

    def in_context(self, op: Op) -> bool:
        """Whether an entry's operation is to be planned on its ledger (`plan_in_context`)."""
        return (
            isinstance(op, Accrue | Park)
            and op.ack is not None
            and self.contextual(op.portfolio_id)
        )

    def context_of(self, op: Accrue | Park) -> list[str]:
        """The portfolios whose ledgers the report's plan reads: its group's members on its
        date (with it), else its own."""
        members = self._members(op.portfolio_id, op.report.as_of)
        return [op.portfolio_id] if members is None else sorted({op.portfolio_id, *members})

    def reads_parked(self, op: Accrue | Park) -> bool:
        """Whether the report's plan reads the parked reports: a group day's other members
        wait there."""
        return self.book.group_on(op.portfolio_id, op.report.as_of) is not None

    def plan_in_context(
        self,
        op: Accrue | Park,
        ledgers: Mapping[str, Mapping[str, str]],
        unpriced: Mapping[str, str] | None = None,
    ) -> list[Op]:
        """The report of `op` planned again on the ledgers (and, for a group's day, the parked
        reports) as read: a step that holds only while what it read is unchanged."""
        reads = {pid: LedgerRead(pid, ledgers.get(pid, {})) for pid in self.context_of(op)}
        return _as_read(self._planned(op, reads, dict(unpriced or {})), reads, unpriced)

    def _planned(
        self, op: Accrue | Park, reads: Mapping[str, LedgerRead], unpriced: dict[str, str]
    ) -> list[Op]:
        members = self._members(op.portfolio_id, op.report.as_of)
        if members is not None and any(m not in reads for m in members):
            return []  # a member's ledger unread: the day waits for the next plan
        stored = reads[op.portfolio_id].now.get(op.report.as_of.isoformat())
        held = None if stored is None else Held.stored("ledger", stored)
        if held is not None and (code := held.verdict(op.report)) is not None:
            return [self._dismiss(op, code, held)]
        if members is None:
            return self._in_context(op, reads[op.portfolio_id])
        return self._group_day(op, members, reads, unpriced)

    def _group_day(
        self,
        op: Accrue | Park,
        members: Sequence[str],
        reads: Mapping[str, LedgerRead],
        unpriced: dict[str, str],
    ) -> list[Op]:
        """A group member's report: the group's day priced for every member once each has
        reported, else the report waits (`group_incomplete`)."""
        report = op.report
        days, navs = self._members_day(report, members, reads, unpriced)
        if days != {report.accrual_days}:
            why = f"accrual_days: the group's members report periods of {sorted(days)} days"
            return self._refused(op.ack, report, why + " for one day; they must be alike")
        waiting = [m for m in members if m not in navs]
        if not waiting:
            return self._group_ops(op, Basis(group=navs), reads, unpriced)
        own = unpriced.get(unpriced_field(report.portfolio_id, report.as_of.isoformat()))
        return [] if op.ack is None else [self._park(report, op.ack, own, waiting)]

    def _group_ops(
        self,
        op: Accrue | Park,
        basis: Basis,
        reads: Mapping[str, LedgerRead],
        unpriced: dict[str, str],
    ) -> list[Op]:
        assert basis.group is not None
        planned = (self._member_op(op, m, basis, reads[m], unpriced) for m in sorted(basis.group))
        return [member_op for member_op in planned if member_op is not None]

    def plan_provisional(
        self,
        ledgers: Mapping[str, Mapping[str, str]],
        unpriced: Mapping[str, str],
        due: Callable[[NetAssetsReported], bool],
    ) -> list[Op]:
        """Group days that waited long enough (`due`), priced on the members that reported and
        marked provisional: a late member's report then adjusts every member."""
        reads = {pid: LedgerRead(pid, ledger) for pid, ledger in ledgers.items()}
        waiting = dict(unpriced)
        ops: list[Op] = []
        for name, text, report in self._maybe_grouped(sorted(unpriced.items())):
            members = self._members(report.portfolio_id, report.as_of)
            if name not in waiting or members is None or not due(report):
                continue
            if any(m not in reads for m in members):
                continue
            days, navs = self._members_day(report, members, reads, waiting)
            if days != {report.accrual_days}:
                continue  # refused when the day's report that differs comes again
            missing = tuple(m for m in members if m not in navs)
            parked = Park(report.portfolio_id, report.as_of.isoformat(), report, {}, None, text)
            ops += self._group_ops(parked, Basis(group=navs, provisional=missing), reads, waiting)
        return _as_read(ops, reads, unpriced)

    def groups_waiting(self, unpriced: Mapping[str, str]) -> list[str]:
        """The members of every group with a day waiting for reports (whose ledgers a
        provisional pricing reads)."""
        members: set[str] = set()
        for _, _, report in self._maybe_grouped(unpriced.items()):
            members.update(self._members(report.portfolio_id, report.as_of) or ())
        return sorted(members)

    def _maybe_grouped(
        self, parked: Iterable[tuple[str, str]]
    ) -> Iterator[tuple[str, str, NetAssetsReported]]:
        """The parked reports (name, text) of portfolios some group prices, read. The others
        (waiting for a schedule of their own, however many) are passed over by name, unread:
        provisional pricing looks at the parked reports on every idle pass."""
        for name, text in parked:
            if self.ever_grouped(name_parts(name)[0]):
                yield name, text, NetAssetsReported.model_validate_json(text)

    def _members_day(
        self,
        report: NetAssetsReported,
        members: Sequence[str],
        reads: Mapping[str, LedgerRead],
        unpriced: Mapping[str, str],
    ) -> tuple[set[int], dict[str, Decimal]]:
        """The periods and net assets of the members' reports of the day (the report itself,
        accrued ones, parked ones)."""
        day = report.as_of.isoformat()
        navs = {report.portfolio_id: report.net_assets}
        days = {report.accrual_days}
        for member in [m for m in members if m != report.portfolio_id]:
            if day in reads[member].now:
                navs[member] = reads[member].base(report.as_of)
                days = days | {reads[member].entry(day).accrual_days}
            elif (parked := unpriced.get(unpriced_field(member, day))) is not None:
                waiting = NetAssetsReported.model_validate_json(parked)
                navs[member], days = waiting.net_assets, days | {waiting.accrual_days}
        return days, navs

    def _member_op(
        self,
        op: Accrue | Park,
        member: str,
        basis: Basis,
        read: LedgerRead,
        unpriced: dict[str, str],
    ) -> Op | None:
        """One member's part of the group's day: accrued, or (accrued already) adjusted."""
        own = member == op.portfolio_id
        ack = op.ack if own else None
        day = op.report.as_of.isoformat()
        stored = read.now.get(day)
        if stored is not None:
            planned: Op | None = self._revise(stored, ack, op.report if own else None, basis)
        else:
            field = unpriced_field(member, day)
            report = op.report if own else NetAssetsReported.model_validate_json(unpriced[field])
            parked = (field, unpriced.pop(field)) if field in unpriced else None
            planned = self._accrue_or_park(report, ack, parked, basis)
        if isinstance(planned, Accrue | Revise):
            read.write(day, planned.ledger)
        return planned

    def _in_context(self, op: Accrue | Park, read: LedgerRead) -> list[Op]:
        report = op.report
        as_of = report.as_of.isoformat()
        held = read.now.get(as_of)
        # Checked here, not left to the step: the step's other operations depend on this one.
        if (other := read.overlap(report.as_of, report.accrual_days)) is not None:
            return self._overlapping(op, other)
        if held is not None:
            first: Op | None = self._revise(held, op.ack, report, self._basis(report, read))
        else:
            parked = op.unpriced if isinstance(op, Accrue) else None
            first = self._accrue_or_park(report, op.ack, parked, self._basis(report, read))
        if not isinstance(first, Accrue | Revise):
            return [] if first is None else [first]
        read.write(as_of, first.ledger)
        later = self._rebase_next(report, read)
        if later and isinstance(first, Revise):
            before = LedgerEntry.from_json(first.expected).amount
            if LedgerEntry.from_json(first.ledger).amount == before:
                # Its own amount is unchanged (priced on the report before it): the adjustment
                # it causes is the next report's.
                first = replace(first, event={})
        return [first, *later]

    def _basis(self, report: NetAssetsReported, read: LedgerRead) -> Basis:
        """What the report's accrual is priced on beyond it, from its ledger as read."""
        pid = report.portfolio_id
        fee_base = self.book.fee_base(pid)
        month = self._month(pid, report.as_of, read)
        if fee_base is FeeBase.SAME_DAY:
            return Basis(month=month)
        on = fee_base.base_of(report.as_of, read.dates())
        return Basis(on, report.net_assets if on == report.as_of else read.base(on), month)

    def _month(self, portfolio_id: str, as_of: date, read: LedgerRead) -> MonthToDate:
        _, rounding = self.book.terms_for(portfolio_id)
        return read.month(as_of) if rounding.month_to_date else MonthToDate()

    def _rebase_next(self, report: NetAssetsReported, read: LedgerRead) -> list[Op]:
        """Under a prior-day base: the next report's accrual, priced again on this report."""
        ops: list[Op] = []
        for day in self.book.fee_base(report.portfolio_id).priced_by(report.as_of, read.dates()):
            if day == report.as_of:
                continue
            month = self._month(report.portfolio_id, day, read)
            basis = Basis(report.as_of, report.net_assets, month)
            revised = self._revise(read.now[day.isoformat()], None, basis=basis)
            if revised is not None:
                read.write(day.isoformat(), revised.ledger)
                ops.append(revised)
        return ops

    def _advance_in_context(
        self, read: LedgerRead, earliest: date, members: Mapping[str, Mapping[str, str]]
    ) -> list[Op]:
        """Late knowledge on a ledger whose accruals depend on it: each entry repriced in date
        order, booked beside its month as the step leaves it (its fee base kept; a day the log
        has made a group's, on its members' net assets as `members`' entries give them)."""
        ops: list[Op] = []
        for as_of in sorted(d for d in read.read if _reaches(d, read.read[d], earliest)):
            month = self._month(read.portfolio_id, date.fromisoformat(as_of), read)
            group = self._newly_grouped(read.entry(as_of), members)
            revised = self._revise(read.now[as_of], None, basis=Basis(month=month, group=group))
            if revised is not None:
                read.write(as_of, revised.ledger)
                ops.append(revised)
        return ops

    def _newly_grouped(
        self, stored: LedgerEntry, members: Mapping[str, Mapping[str, str]]
    ) -> dict[str, Decimal] | None:
        """The members' net assets of a day priced alone that the log now makes a group's day,
        read from their entries of that day (in any partition); None when it is not such a
        day, or a member has no entry of it (not reported yet: the day stays as it is)."""
        if stored.group is not None:
            return None  # priced as a group: its stored members' assets price it again
        in_group = self._members(stored.portfolio_id, date.fromisoformat(stored.as_of))
        if in_group is None:
            return None
        navs: dict[str, Decimal] = {}
        for member in in_group:
            held = members.get(member, {}).get(stored.as_of)
            if held is None:
                return None
            navs[member] = Decimal(LedgerEntry.from_json(held).priced_net_assets)
        return navs

    def _reason(self, stored: LedgerEntry) -> AdjustmentReason:
        ref = stored.schedule_ref
        if ref is not None:
            agreement = self.book.agreements.get(str(ref["agreement_id"]))
            if agreement is not None and int(ref["amendment_number"]) in agreement.retracted:
                return "retraction"
        return "amendment"

    def _revise(
        self,
        stored_json: str,
        ack: str | None,
        report: NetAssetsReported | None = None,
        basis: Basis = PLAIN,
    ) -> Revise | None:
        """The adjustment of one ledger entry (by a revised `report`, by a new prior-day
        `basis`, or by what the book now knows), or None when its amount stays the same.

        A revised report or fee base always yields an adjustment (new inputs are news even
        when the cents do not move); new schedule knowledge only where the amount changes.
        """
        stored = LedgerEntry.from_json(stored_json)
        entry, ref = self._repriced(stored, report, basis)
        rebased = basis.base_as_of is not None and (
            (entry.base_as_of, entry.base_net_assets) != (stored.base_as_of, stored.base_net_assets)
        )
        rebased = rebased or (basis.group is not None and entry.group != stored.group)
        news = report is not None or rebased
        if not news and Decimal(entry.amount) == Decimal(stored.amount):
            return None
        # A day the log made a group's (priced alone before): the amendment's doing.
        grouped_by_log = report is None and stored.group is None and basis.group is not None
        reason: AdjustmentReason = (
            "revised_report" if news and not grouped_by_log else self._reason(stored)
        )
        month = stored.as_of[:7]
        books_in = posting_month(month, self.closed.get(stored.portfolio_id, ()))
        adjusted = _adjusted(stored, entry, ref, reason, None if books_in == month else books_in)
        covers: tuple[str, ...] = ()
        releases: tuple[str, ...] = ()
        if report is not None and report.accrual_days != stored.accrual_days:
            # A new period: its days claimed, those it no longer reaches given back.
            covers = _days(report.as_of, report.accrual_days)
            releases = tuple(sorted(set(_days(report.as_of, stored.accrual_days)) - set(covers)))
        return Revise(
            stored.portfolio_id,
            stored.as_of,
            stored_json,
            entry.to_json(),
            encode(adjusted),
            ack,
            covers,
            releases,
            report,
            closed_field(stored.portfolio_id, books_in),
        )

    def _repriced(
        self, stored: LedgerEntry, report: NetAssetsReported | None, basis: Basis
    ) -> tuple[LedgerEntry, ScheduleRef | None]:
        """The entry priced as the book knows it now (on the revised `report`'s inputs and the
        `basis`'s fee base, if any, booked beside its month), with its adjustments still
        those stored; and the schedule that priced it."""
        if report is not None:
            stored = replace(stored, **_report_fields(report))
        stored = replace(stored, **_basis_fields(basis))
        as_of = date.fromisoformat(stored.as_of)
        group = None if stored.group is None else {m: Decimal(v) for m, v in stored.group.items()}
        on = Decimal(stored.priced_net_assets)
        priced = self._price_on(stored.portfolio_id, as_of, stored.accrual_days, on, group)
        if priced is None:
            # No schedule covers the date any more (retracted or removed): nothing is owed.
            day_count, rounding = self.book.terms_for(stored.portfolio_id)
            return replace(
                stored,
                amount=str(rounding.booked(ZERO, basis.month)),
                amount_exact=str(Decimal(0)),
                day_count=day_count.value,
                rounding=rounding.name,
                schedule_ref=None,
                gross=None,
                waived=None,
            ), None
        period, ref = priced
        return replace(stored, **self._priced(period.booked_in(basis.month), ref)), ref

    def _price_on(
        self,
        portfolio_id: str,
        as_of: date,
        accrual_days: int,
        net_assets: Decimal,
        group: Mapping[str, Decimal] | None,
    ) -> tuple[PeriodAccrual, ScheduleRef] | None:
        """The fee of the period from `as_of`, each day priced by the schedule in force on it
        (on the portfolio's own net assets, or as its share of `group`'s), and the schedule of
        its first priced day; None when no day of it has a schedule."""
        if group is None:
            period = self.book.accrue_period(portfolio_id, as_of, accrual_days, _plain(net_assets))
        else:
            period = self._member_period(portfolio_id, as_of, accrual_days, group)
        if period is None:
            return None
        version = period.first.answer.version
        assert version is not None  # a priced stretch has the version that priced it
        return period, self._ref(version)

    def _priced(self, period: PeriodAccrual, ref: ScheduleRef) -> dict[str, Any]:
        """The ledger entry's fields that pricing the period sets (gross and waived amounts
        null where no waiver applies)."""
        accrual = period.accrual
        waived = period.waived
        return {
            "amount": str(accrual.amount),
            "amount_exact": plain_decimal(accrual.amount_exact),
            "day_count": accrual.day_count.value,
            "rounding": accrual.rounding.name,
            "schedule_ref": self._ref_dicts[id(ref)],
            "gross": str(period.gross_amount) if waived else None,
            "waived": str(period.waived_amount) if waived else None,
        }


def _as_read(
    ops: list[Op], reads: Mapping[str, LedgerRead], unpriced: Mapping[str, str] | None
) -> list[Op]:
    """`ops` held while what they were planned on is as read: each ledger's length (and the
    parked reports', when read), and the entries used."""
    held = [ExpectLength(pid, len(read.read)) for pid, read in sorted(reads.items())]
    held += [] if unpriced is None else [ExpectLength(None, len(unpriced))]
    return [*held, *ops, *(e for read in reads.values() for e in read.expectations())]


def _reaches(as_of: str, entry_json: str, earliest: date) -> bool:
    """Whether the period of a ledger entry reaches `earliest` or later; only entries that
    began up to a year before it are read to see their length."""
    day = date.fromisoformat(as_of)
    if day >= earliest:
        return True
    if day < earliest - timedelta(days=MAX_ACCRUAL_DAYS - 1):
        return False
    return day + timedelta(days=LedgerEntry.from_json(entry_json).accrual_days - 1) >= earliest


def _adjusted(
    stored: LedgerEntry,
    entry: LedgerEntry,
    ref: ScheduleRef | None,
    reason: AdjustmentReason,
    posted_in: str | None,
) -> FeeAdjusted:
    """The FeeAdjusted of `stored` becoming `entry`, its adjustment added to `entry`'s list
    (booked in `posted_in` when the day's month is closed)."""
    previous, amount = Decimal(stored.amount), Decimal(entry.amount)
    adjustment_id = f"{stored.accrual_id}:{len(stored.adjustments) + 1}"
    adjustment: dict[str, Any] = {
        "adjustment_id": adjustment_id,
        "reason": reason,
        "previous_amount": str(previous),
        "new_amount": str(amount),
        "delta": str(amount - previous),
    }
    if posted_in is not None:
        adjustment["posted_in"] = posted_in
    entry.adjustments = (*stored.adjustments, adjustment)
    return FeeAdjusted(
        event_id=_event_id("FeeAdjusted", adjustment_id),
        adjustment_id=adjustment_id,
        accrual_id=stored.accrual_id,
        portfolio_id=stored.portfolio_id,
        as_of=date.fromisoformat(stored.as_of),
        previous_amount=previous,
        new_amount=amount,
        delta=amount - previous,
        new_amount_exact=Decimal(entry.amount_exact),
        net_assets=Decimal(entry.priced_net_assets),
        reason=reason,
        schedule_ref=ref,
        previous_schedule_ref=stored.ref,
        report_id=entry.report_id,
        revision=entry.revision,
        fee_base_as_of=None if entry.base_as_of is None else date.fromisoformat(entry.base_as_of),
        posted_in=posted_in,
        classes=class_deltas(stored, entry),
    )


def _band(band: DomainBand) -> BandCharge:
    return trusted(
        BandCharge,
        {
            "lower": band.tier.lower,
            "upper": band.tier.upper,
            "rate_pct": band.tier.rate_pct,
            "assets_in_band": band.assets_in_band,
            "annual_charge": band.annual_charge,
        },
    )


def _class_weights(report: NetAssetsReported) -> tuple[tuple[str, Decimal], ...]:
    return tuple(sorted((c.class_id, c.net_assets) for c in report.classes))


def class_shares(accrual: Accrual, weights: Sequence[tuple[str, Decimal]]) -> list[ClassShare]:
    """Each share class's part of an accrual, by its relative net assets."""
    amounts = allocate(accrual.amount, weights, accrual.rounding.quantum)
    exact = exact_shares(accrual.amount_exact, weights)
    return [
        ClassShare(class_id=c, net_assets=v, amount=amounts[c], amount_exact=exact[c])
        for c, v in weights
    ]


def class_deltas(before: LedgerEntry, after: LedgerEntry) -> list[ClassDelta]:
    """Each share class's part of an adjustment (a class in only one of them had nothing in the
    other)."""
    if not before.classes and not after.classes:
        return []
    quantum = RoundingPolicy.parse(after.rounding).quantum
    old, new = (
        allocate(Decimal(e.amount), e.class_weights(), quantum) if e.classes else {}
        for e in (before, after)
    )
    return [
        ClassDelta(
            class_id=c,
            previous_amount=old.get(c, Decimal(0)),
            new_amount=new.get(c, Decimal(0)),
            delta=new.get(c, Decimal(0)) - old.get(c, Decimal(0)),
        )
        for c in sorted({*old, *new})
    ]


def _report_fields(report: NetAssetsReported) -> dict[str, Any]:
    """The ledger entry's fields that the report it was priced from sets."""
    return {
        "net_assets": plain_decimal(report.net_assets),
        "accrual_days": report.accrual_days,
        "currency": report.currency,
        "report_id": report.report_id,
        "revision": report.revision,
        "classes": {c: plain_decimal(v) for c, v in _class_weights(report)}
        if report.classes
        else None,
    }


def _basis_fields(basis: Basis) -> dict[str, Any]:
    """The ledger entry's fields that what the accrual was priced on beyond its report sets
    (a prior-day fee base, a group's day); those the basis does not name are left as they are."""
    fields: dict[str, Any] = {}
    if basis.base_as_of is not None:
        fields["base_as_of"] = basis.base_as_of.isoformat()
        assert basis.base_net_assets is not None  # a prior-day base names its net assets
        fields["base_net_assets"] = plain_decimal(basis.base_net_assets)
    if basis.group is not None:
        fields["group"] = {m: plain_decimal(v) for m, v in sorted(basis.group.items())}
        fields["provisional"] = list(basis.provisional) or None
    return fields


def _days(start: date, days: int) -> tuple[str, ...]:
    """The calendar days of a report's period."""
    return tuple((start + timedelta(days=i)).isoformat() for i in range(days))


def _period(start: date, days: int) -> str:
    return f"{start.isoformat()}..{(start + timedelta(days=days - 1)).isoformat()}"


def fee_accrued(
    report: NetAssetsReported,
    accrual: Accrual,
    ref: ScheduleRef,
    segments: list[AccrualSegment],
    extra: Mapping[str, Any],
    breakdown: list[BandCharge],
) -> FeeAccrued:
    """The FeeAccrued event for a priced report (accrual_id: portfolio and date).

    Built without re-validation: every value is either the validated report's or computed
    here from it by the domain, and this is the hot path. `extra`: the optional fields with
    something to say (a waiver's gross and waived amounts, a prior-day fee base); `breakdown`:
    the accrual's bands as the contract has them. The contract tests validate what is emitted
    against the published schemas.
    """
    accrual_id = accrual_id_of(report.portfolio_id, report.as_of)
    fields: dict[str, Any] = {
        # Every field given (`trusted` takes no defaults).
        "type": "FeeAccrued",
        "schema_version": FeeAccrued.SCHEMA_VERSION,
        "event_id": _event_id("FeeAccrued", accrual_id),
        "occurred_at": datetime.now(UTC),
        "accrual_id": accrual_id,
        "portfolio_id": report.portfolio_id,
        "as_of": report.as_of,
        "net_assets": accrual.net_assets,
        "currency": report.currency,
        "accrual_days": accrual.accrual_days,
        "day_count": accrual.day_count.value,
        "year_basis": accrual.year_basis,
        "rounding": accrual.rounding.name,
        "annual_fee": accrual.annual_fee,
        "amount": accrual.amount,
        "amount_exact": accrual.amount_exact,
        "effective_rate_pct": accrual.effective_rate_pct,
        "breakdown": breakdown,
        "schedule_ref": ref,
        "report_id": report.report_id,
        "revision": report.revision,
        "segments": segments,
        "gross_amount": None,
        "gross_amount_exact": None,
        "waived_amount": None,
        "waived_amount_exact": None,
        "gross_schedule_ref": None,
        "fee_base_as_of": None,
        "fee_base_note": None,
        "classes": [],
        "provisional": [],
    }
    if extra:
        fields.update(extra)
    return trusted(FeeAccrued, fields)

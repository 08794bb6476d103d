"""The fee worker's planning (`Pricer`) with no Redis: per-entry isolation, which report wins.

A batch's plan must give every entry its own outcome: one that raises anything at all becomes
its own dead letter; reports for a date that already holds one are judged in order, revisions
compared as integers (never as doubles).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.messages import AgreementRegistered, AmendmentRecorded, NetAssetsReported
from contracts.wire import encode
from services.app.ledger import LedgerEntry
from services.app.operations import Accrue, Emit, Park, Revise, name_parts, unpriced_field
from services.app.pricing import Held, Pricer, ReadReport, read_ahead, read_report
from services.domain.book import ScheduleBook
from services.mapping import apply_to_book

DAY = date(2024, 1, 2)


@dataclass(frozen=True)
class Entry:
    entry_id: str
    fields: Mapping[bytes, bytes]
    deliveries: int = 1


class Exploding(Mapping[bytes, bytes]):
    """Fields that raise the given exception the moment they are read."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def __getitem__(self, key: bytes) -> bytes:
        raise self.exc

    def __iter__(self) -> Iterator[bytes]:
        raise self.exc

    def __len__(self) -> int:
        return 2


def pricer() -> Pricer:
    book = ScheduleBook()
    apply_to_book(book, AgreementRegistered(agreement_id="AG"), "1-0")
    amendment = AmendmentRecorded.model_validate(
        {
            "agreement_id": "AG",
            "amendment_number": 1,
            "effective_date": "2024-01-01",
            "changes": [
                {
                    "action": "add",
                    "portfolio_id": "P1",
                    "portfolio_name": "Fund One",
                    "tiers": [{"from": "0", "to": None, "rate_pct": "0.90"}],
                }
            ],
        }
    )
    apply_to_book(book, amendment, "2-0")
    return Pricer(book, "in")


def report(revision: int = 0, assets: str = "600000000", report_id: str = "r", **kw: str) -> Entry:
    message = NetAssetsReported(
        report_id=report_id,
        portfolio_id="P1",
        as_of=date.fromisoformat(kw.get("as_of", DAY.isoformat())),
        net_assets=Decimal(assets),
        revision=revision,
    )
    fields = {k.encode(): v.encode() for k, v in encode(message).items()}
    return Entry(f"{revision}-{assets}-{report_id}-{kw.get('as_of', '')}", fields)


def letter(op: object) -> dict[str, object]:
    assert isinstance(op, Emit) and op.stream == "dead_letters"
    data: dict[str, object] = json.loads(op.event["data"])
    return data


@pytest.mark.parametrize(
    "exc", [RecursionError("deep"), MemoryError(), KeyError("x"), RuntimeError("bug")]
)
def test_anything_raised_for_one_entry_dead_letters_that_entry_alone(exc: BaseException) -> None:
    ops = pricer().plan_batch([report(), Entry("bad", Exploding(exc)), report(assets="7")])
    assert isinstance(ops[0], Accrue) and isinstance(ops[2], Accrue)
    dead = letter(ops[1])
    assert dead["entry_id"] == "bad"
    assert dead["code"] == "internal_error"
    assert type(exc).__name__ in str(dead["reason"])


def test_too_many_deliveries_and_unknown_portfolios_have_their_own_codes() -> None:
    stale = Entry("old", report().fields, deliveries=9)
    unknown = Entry("u", {b"data": report().fields[b"data"].replace(b'"P1"', b'"P9"')})
    ops = pricer().plan_batch([stale, unknown])
    assert [letter(op)["code"] for op in ops] == ["max_deliveries", "unknown_portfolio"]


def test_a_date_with_no_schedule_is_held_with_a_reason() -> None:
    (op,) = pricer().plan_batch([report(as_of="2023-12-31")])
    assert isinstance(op, Park)
    held = json.loads(op.event["data"])
    assert (held["code"], held["entry_id"], held["as_of"]) == ("no_schedule", op.ack, "2023-12-31")


def _stored(p: Pricer, entry: Entry) -> str:
    (op,) = p.plan_batch([entry])
    assert isinstance(op, Accrue)
    return op.ledger


def test_reports_of_an_accrued_date_are_judged_in_order_and_only_the_last_winner_written() -> None:
    p = pricer()
    stored = _stored(p, report(revision=0))
    batch = [
        report(revision=0),  # the same again
        report(revision=2, assets="610000000"),  # supersedes
        report(revision=1, assets="620000000"),  # older than 2
        report(revision=2, assets="630000000"),  # same revision, other content
        report(revision=3, assets="640000000"),  # supersedes 2
    ]
    ops = p.plan_batch(batch)
    conflicts = [(op, "ledger", stored) for op in ops if isinstance(op, Accrue)]
    out = p.resolve(conflicts)  # type: ignore[arg-type]
    codes = [json.loads(op.event["data"])["code"] for op in out if isinstance(op, Emit)]
    assert codes == [
        "duplicate",
        "older_revision",
        "same_revision_different_content",
        "older_revision",  # revision 2 superseded by 3 in the same batch
    ]
    (revise,) = [op for op in out if isinstance(op, Revise)]
    assert revise.ack == batch[-1].entry_id
    assert json.loads(revise.ledger)["revision"] == 3


def test_a_parked_report_is_replaced_only_by_a_higher_revision_by_compare_and_set() -> None:
    p = pricer()
    early = "2023-12-31"
    (first,) = p.plan_batch([report(revision=1, as_of=early)])
    assert isinstance(first, Park)
    parked = first.report.model_dump_json()
    ops = p.plan_batch([report(revision=2, as_of=early), report(revision=0, as_of=early)])
    out = p.resolve([(op, "unpriced", parked) for op in ops])  # type: ignore[misc]
    assert isinstance(out[0], Emit) and json.loads(out[0].event["data"])["code"] == "older_revision"
    assert isinstance(out[1], Park) and out[1].expected == parked and out[1].report.revision == 2


@given(st.integers(0, 2**63 - 2), st.integers(1, 10**6))
def test_revisions_compare_as_integers_however_close_as_doubles(low: int, step: int) -> None:
    high = min(low + step, 2**63 - 1)
    held = Held("r", low, Decimal(1), 1, "USD")
    newer = NetAssetsReported(
        report_id="r", portfolio_id="P1", as_of=DAY, net_assets=Decimal(1), revision=high
    )
    assert held.verdict(newer) is None
    assert Held.of(newer).verdict(newer.model_copy(update={"revision": low})) == "older_revision"


@given(st.text(st.characters(blacklist_categories=["Zs", "Cc"]), min_size=1), st.dates())
def test_a_parked_reports_name_gives_back_its_portfolio_and_day(pid: str, day: date) -> None:
    """Ids may hold the '|' the name joins them with (anything but whitespace is an id)."""
    assert name_parts(unpriced_field(pid, day)) == (pid, day.isoformat())
    assert name_parts(unpriced_field(f"{pid}|{pid}", day)) == (f"{pid}|{pid}", day.isoformat())


@given(st.text(max_size=30), st.text(max_size=60))
def test_event_ids_are_uuid5_of_kind_and_key(kind: str, key: str) -> None:
    import uuid

    from services.app.pricing import EVENT_NAMESPACE, _event_id

    assert _event_id(kind, key) == str(uuid.uuid5(EVENT_NAMESPACE, f"{kind}|{key}"))


def a_ledger_entry(**changes: Any) -> LedgerEntry:
    """A plain day's ledger entry (no optional field set), with `changes`."""
    entry = LedgerEntry(
        accrual_id="P1:2024-01-02",
        portfolio_id="P1",
        as_of="2024-01-02",
        amount="1.00",
        amount_exact="1.0",
        accrued="1.00",
        net_assets="100",
        accrual_days=1,
        currency="USD",
        day_count="ACT/365F",
        rounding="ROUND_HALF_UP:0.01",
        report_id="r",
        revision=0,
        schedule_ref=None,
    )
    return dataclasses.replace(entry, **changes)


def test_a_ledger_entry_is_written_ascii_escaped_as_ever() -> None:
    entry = a_ledger_entry(
        accrual_id="FONDS-É:2024-01-02", portfolio_id="FONDS-É", currency="EUR", report_id="r-ß"
    )
    text = entry.to_json()
    assert text.isascii() and "\\u00c9" in text and "\\u00df" in text
    assert LedgerEntry.from_json(text) == entry
    plain = LedgerEntry.from_json(text.replace("\\u00c9", "E").replace("\\u00df", "ss"))
    assert plain.to_json() == json.dumps(json.loads(plain.to_json()), separators=(",", ":"))


OPTIONAL_ENTRY_FIELDS = {
    "gross": "1.10",
    "waived": "0.10",
    "base_as_of": "2024-01-01",
    "base_net_assets": "90",
    "classes": {"A": "100"},
    "group": {"P1": "100", "P2": "5"},
    "provisional": ["P2"],
}


@pytest.mark.parametrize("name", OPTIONAL_ENTRY_FIELDS)
def test_a_ledger_entry_writes_an_optional_field_only_where_it_has_one(name: str) -> None:
    plain = a_ledger_entry()
    written = json.loads(plain.to_json())
    assert not OPTIONAL_ENTRY_FIELDS.keys() & written.keys()
    assert written["schedule_ref"] is None  # a required field is written even when null
    with_it = dataclasses.replace(plain, **{name: OPTIONAL_ENTRY_FIELDS[name]})
    assert json.loads(with_it.to_json())[name] == OPTIONAL_ENTRY_FIELDS[name]
    assert LedgerEntry.from_json(with_it.to_json()) == with_it


@given(st.decimals(min_value=0, max_value=10**12, places=2), st.integers(0, 2**40))
def test_a_report_read_ahead_is_planned_as_it_was_read(assets: Decimal, revision: int) -> None:
    # The worker reads a report once, to decide its partition; planning takes that reading,
    # and what it plans is what reading the entry itself would give.
    entry = report(revision=revision, assets=str(assets))
    ahead = read_ahead(entry)
    assert isinstance(ahead, ReadReport) and ahead.report == read_report(entry.fields)
    # Fields that no longer read: only the reading taken ahead can price it.
    taken = ReadReport(ahead.entry_id, {b"data": b"not json"}, 1, ahead.report)
    planning = pricer()
    (planned,), (direct,) = planning.plan_batch([taken]), planning.plan_batch([entry])
    assert isinstance(planned, Accrue) and isinstance(direct, Accrue)
    assert planned.ledger == direct.ledger and planned.ack == direct.ack == entry.entry_id


def test_an_entry_that_does_not_read_is_left_for_planning_to_refuse() -> None:
    bad = Entry("bad", {b"data": b'{"type": "NetAssetsReported", "net_assets": 5}'})
    assert read_ahead(bad) is bad
    (dead,) = pricer().plan_batch([read_ahead(bad)])
    assert letter(dead)["code"] == "invalid_field"
    assert letter(dead)["reason"] == "report_id: missing (a required field)"

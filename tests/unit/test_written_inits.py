"""The value objects made for every report, and the operation that accrues it, write their own
__init__ (compiled, a dataclass's generated one runs interpreted): each still takes every field,
by name and in order, with the same defaults, and stays frozen. Run on the sources and on the
compiled build (whose classes check their fields' types, so the values are real ones: a waived
period's parts)."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib.machinery import EXTENSION_SUFFIXES
from typing import Any

import pytest

from contracts.messages import NetAssetsReported
from services.app.operations import Accrue
from services.domain.agreement import Amendment, GrantWaiver, SetSchedule
from services.domain.book import PeriodAccrual, Registration, ScheduleBook, Stretch
from services.domain.fees import Accrual, BandCharge, DayCount, FeeSchedule, RoundingPolicy
from services.domain.timeline import RecordPoint, ScheduleAnswer

TIERED = FeeSchedule.from_json(
    [
        {"from": "0", "to": "500000000", "rate_pct": "0.88"},
        {"from": "500000000", "to": None, "rate_pct": "0.83"},
    ]
)


def _waived_period() -> PeriodAccrual:
    book = ScheduleBook()
    moment = datetime(2030, 1, 1, tzinfo=UTC)
    registration = Registration("a", None, None, None, DayCount.ACT_365F, RoundingPolicy())
    book.register(registration, RecordPoint(moment, "1-0"))
    changes = [
        SetSchedule("p", "Fund", TIERED, "replace"),
        GrantWaiver("p", FeeSchedule.flat("0.5"), date(2024, 1, 1), date(2024, 1, 31)),
    ]
    for n, change in enumerate(changes, start=1):
        amendment = Amendment("a", n, date(2024, 1, 1), (change,))
        book.record_amendment(amendment, f"e{n}", RecordPoint(moment, f"{n + 1}-0"))
    period = book.accrue_period("p", date(2024, 1, 30), 3, Decimal("700000000"))
    assert period is not None and period.waived
    return period


PERIOD = _waived_period()
STRETCH = PERIOD.stretches[0]
assert STRETCH.gross is not None
REPORT = NetAssetsReported(
    report_id="r", portfolio_id="p", as_of=date(2024, 1, 30), net_assets=Decimal(700_000_000)
)
ACCRUE = Accrue(
    "p", "2024-01-30", "{}", REPORT, {"event_id": "e"}, "1-0", ("p|2024-01-30", "{}"), ("a", "b")
)
EXAMPLES: list[Any] = [
    PERIOD,
    STRETCH,
    STRETCH.answer,
    PERIOD.accrual,
    STRETCH.gross.breakdown[1],
    ACCRUE,
]
assert {type(e) for e in EXAMPLES} == {
    PeriodAccrual,
    Stretch,
    ScheduleAnswer,
    Accrual,
    BandCharge,
    Accrue,
}


def _same(got: Any, want: Any) -> bool:
    # Compiled, an int field is stored unboxed: read back, it is an equal int, not the same one.
    return got is want or (type(got) is int and got == want)


def _compiled(cls: type[Any]) -> bool:
    path = importlib.import_module(cls.__module__).__file__ or ""
    return path.endswith(tuple(EXTENSION_SUFFIXES))


def _values(obj: Any) -> list[Any]:
    return [getattr(obj, f.name) for f in dataclasses.fields(obj)]


@pytest.mark.parametrize("obj", EXAMPLES, ids=lambda o: type(o).__name__)
def test_a_written_init_sets_every_field_it_is_given(obj: Any) -> None:
    cls, values = type(obj), _values(obj)
    names = [f.name for f in dataclasses.fields(cls)]
    for made in (cls(*values), cls(**dict(zip(names, values, strict=True)))):
        assert all(_same(got, want) for got, want in zip(_values(made), values, strict=True))
        assert made == obj


@pytest.mark.parametrize("obj", EXAMPLES, ids=lambda o: type(o).__name__)
def test_a_written_init_has_the_fields_defaults_and_order(obj: Any) -> None:
    cls, fields = type(obj), dataclasses.fields(obj)
    required = [f for f in fields if f.default is dataclasses.MISSING]
    made = cls(*(getattr(obj, f.name) for f in required))
    for f in fields[len(required) :]:
        assert getattr(made, f.name) == f.default
    if not _compiled(cls):  # compiled, its signature reads (*args, **kwargs)
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]
        assert [p.name for p in params] == [f.name for f in fields]
        assert [p.default for p in params[len(required) :]] == [
            f.default for f in fields[len(required) :]
        ]


@pytest.mark.parametrize("obj", EXAMPLES, ids=lambda o: type(o).__name__)
def test_a_written_init_keeps_it_frozen_and_replaceable(obj: Any) -> None:
    first = dataclasses.fields(obj)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(obj, first, getattr(obj, first))
    changed = dataclasses.replace(obj)
    assert changed == obj and changed is not obj

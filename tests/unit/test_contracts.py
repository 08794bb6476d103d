"""Wire contracts: generated schemas are current, messages round-trip, decimals stay decimal."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import generate
from contracts.amendment_file import AmendmentFile
from contracts.messages import (
    ALL_MESSAGES,
    DECIMAL_PATTERN,
    MESSAGE_TYPES,
    AgreementRegistered,
    AmendmentRecorded,
    AmendmentRetracted,
    CloseMonthRequested,
    DeadLetter,
    FeeAccrued,
    FeeAdjusted,
    FeeTrueUp,
    InvoiceBreak,
    InvoiceMatched,
    InvoiceReceived,
    Message,
    MonthCloseRefused,
    NetAssetsReported,
    PeriodClosed,
    ReportHeld,
    ReportIgnored,
)
from contracts.statement import MonthStatement
from contracts.wire import WireError, decode, encode
from services.domain.agreement import (
    Amendment,
    GrantWaiver,
    RemovePortfolio,
    RenamePortfolio,
    SetSchedule,
    SourceDocument,
)
from services.domain.fees import FeeSchedule, Tier
from services.mapping import amendment_from_wire, amendment_to_wire

SCHEMA_DIR = Path(generate.__file__).parent / "schemas"
WHEN = datetime(2007, 3, 1, 14, 30, tzinfo=UTC)
SEED_TIERS = [
    {"from": "0", "to": "500000000", "rate_pct": "0.88"},
    {"from": "500000000", "to": None, "rate_pct": "0.83"},
]
REF = {
    "agreement_id": "met-investors",
    "amendment_number": 22,
    "effective_date": "2006-11-01",
    "event_id": "evt-22",
    "position": "1172759400000-0",
}


def samples() -> list[Message]:
    """One filled-in instance of every message type (small and awkward decimals included)."""
    envelope: dict[str, Any] = {"occurred_at": WHEN}
    return [
        AgreementRegistered(
            agreement_id="met-investors",
            agreement_date=date(2000, 12, 8),
            trust="Met Investors Series Trust",
            adviser="Met Investors Advisory Corp.",
            day_count="ACT/ACT",
            rounding="ROUND_HALF_EVEN:0.01",
            **envelope,
        ),
        AmendmentRecorded.model_validate(
            {
                **envelope,
                "agreement_id": "met-investors",
                "amendment_number": 22,
                "effective_date": "2006-11-01",
                "executed_date": "2007-02-20",
                "source": {"title": "AMENDMENT NO. 22", "sha256": "ab" * 32, "url": "https://x"},
                "changes": [
                    {
                        "action": "revise",
                        "portfolio_id": "met-aim-scg",
                        "portfolio_name": "Met/AIM Small Cap Growth Portfolio",
                        "tiers": SEED_TIERS,
                    },
                    {"action": "remove", "portfolio_id": "old-fund"},
                    {
                        "action": "rename",
                        "portfolio_id": "met-aim-scg",
                        "new_name": "Met/Invesco Small Cap Growth Portfolio",
                        "former_name": "Met/AIM Small Cap Growth Portfolio",
                    },
                    {
                        "action": "waiver",
                        "portfolio_id": "met-aim-scg",
                        "tiers": [{"from": "0", "to": None, "rate_pct": "0.650"}],
                        "period": {"from": "2007-01-01", "to": "2007-06-30"},
                    },
                ],
            }
        ),
        AmendmentRetracted(
            agreement_id="met-investors", amendment_number=22, reason="typo", **envelope
        ),
        NetAssetsReported(
            report_id="r-1",
            portfolio_id="met-aim-scg",
            as_of=date(2006, 11, 15),
            net_assets=Decimal("750000000.00"),
            accrual_days=3,
            revision=1,
            **envelope,
        ),
        FeeAccrued.model_validate(
            {
                **envelope,
                "accrual_id": "a-1",
                "portfolio_id": "met-aim-scg",
                "as_of": "2006-11-15",
                "net_assets": "0.01",
                "currency": "USD",
                "accrual_days": 1,
                "day_count": "ACT/365F",
                "year_basis": 365,
                "rounding": "ROUND_HALF_UP:0.01",
                "annual_fee": Decimal("0.000100"),
                # Values whose str() is exponent notation: they must still travel plain.
                "amount": Decimal("0E-2"),
                "amount_exact": Decimal("2.739726027397260273972602739726027E-7"),
                "effective_rate_pct": Decimal("1E+0"),
                "breakdown": [
                    {
                        "from": Decimal("0"),
                        "to": None,
                        "rate_pct": Decimal("1"),
                        "assets_in_band": Decimal("0.01"),
                        "annual_charge": Decimal("0.0001"),
                    }
                ],
                "schedule_ref": REF,
                "report_id": "r-1",
                "revision": 0,
            }
        ),
        FeeAdjusted.model_validate(
            {
                **envelope,
                "adjustment_id": "adj-1",
                "accrual_id": "a-1",
                "portfolio_id": "met-aim-scg",
                "as_of": "2006-11-15",
                "previous_amount": "17808.22",
                "new_amount": "17739.73",
                "delta": "-68.49",
                "new_amount_exact": "17739.72602739726027397260273972603",
                "net_assets": Decimal("7.5E+8"),
                "reason": "amendment",
                "schedule_ref": REF,
                "previous_schedule_ref": None,
                "report_id": "r-1",
                "revision": 0,
            }
        ),
        FeeTrueUp.model_validate(
            {
                **envelope,
                "true_up_id": "met-aim-scg:2006-11",
                "portfolio_id": "met-aim-scg",
                "agreement_id": "met-investors",
                "month": "2006-11",
                "method": "monthly_twelfth",
                "average_over": "business_days",
                "currency": "USD",
                "rounding": "ROUND_HALF_UP:0.01:month-to-date",
                "fee": "0.01",
                "fee_exact": Decimal("8.333333333333333333333333333333333E-3"),
                "daily_total": "0.00",
                "true_up": "0.01",
                "parts": [
                    {
                        "from": "2006-11-01",
                        "to": "2006-11-14",
                        "days": 14,
                        "average_net_assets": None,
                        "schedule_ref": None,
                        "fee_exact": "0",
                    }
                ],
            }
        ),
        PeriodClosed(
            portfolio_id="met-aim-scg",
            month="2006-11",
            true_up_id="met-aim-scg:2006-11",
            forced=True,
            missing=["2006-11-30: no accrual covers it"],
            **envelope,
        ),
        CloseMonthRequested(
            request_id="close-1",
            month="2006-11",
            portfolio_id="met-aim-scg",
            force=True,
            **envelope,
        ),
        MonthCloseRefused(
            request_id="close-1",
            portfolio_id="met-aim-scg",
            month="2006-11",
            missing=["2006-11-12: no accrual covers it"],
            **envelope,
        ),
        InvoiceReceived.model_validate(
            {
                **envelope,
                "invoice_id": "inv-1",
                "agreement_id": "met-investors",
                "portfolio_id": "met-aim-scg",
                "month": "2006-11",
                "amount": "532191.79",
            }
        ),
        InvoiceMatched.model_validate(
            {
                **envelope,
                "invoice_id": "inv-1",
                "agreement_id": "met-investors",
                "portfolio_id": "met-aim-scg",
                "month": "2006-11",
                "currency": "USD",
                "amount": "532191.79",
                "expected": "532191.78",
                "difference": "0.01",
                "tolerance": "53.22",
            }
        ),
        InvoiceBreak.model_validate(
            {
                **envelope,
                "invoice_id": "inv-2",
                "agreement_id": "met-investors",
                "portfolio_id": "met-aim-scg",
                "month": "2006-11",
                "currency": "EUR",
                "amount": "0",
                "expected": "532191.78",
                "difference": "-532191.78",
                "tolerance": "53.22",
                "implied_rate_pct": None,
                "explanations": ["the invoice is in EUR, the agreement in USD"],
            }
        ),
        DeadLetter(
            source_stream="fees:net-assets:0",
            entry_id="1-0",
            fields={"data": "{not json"},
            code="invalid_json",
            reason="data: is not valid JSON",
            **envelope,
        ),
        ReportHeld(
            source_stream="fees:net-assets:0",
            entry_id="2-0",
            report_id="r-2",
            portfolio_id="met-aim-small-cap",
            as_of=date(2006, 11, 1),
            revision=0,
            code="no_schedule",
            reason="as_of: 2006-11-01 is before any schedule of the portfolio",
            **envelope,
        ),
        ReportIgnored(
            source_stream="fees:net-assets:0",
            entry_id="3-0",
            report_id="r-2",
            portfolio_id="met-aim-small-cap",
            as_of=date(2006, 11, 1),
            revision=0,
            code="duplicate",
            reason="the same report is already accrued",
            accrual_id="met-aim-small-cap:2006-11-01",
            held_report_id="r-2",
            held_revision=0,
            **envelope,
        ),
    ]


# ---- generated schemas ------------------------------------------------------------------


def test_committed_schemas_are_current() -> None:
    assert generate.main(["--check"]) == 0
    generated = generate.schemas()
    # Every message, the amendment file `amend --file` takes and the month statement.
    documents = (*ALL_MESSAGES, AmendmentFile, MonthStatement)
    assert set(generated) == {f"{m.__name__}.json" for m in documents}
    on_disk = {p.name for p in SCHEMA_DIR.glob("*.json")}
    assert on_disk == set(generated), "a schema file without a model, or a model without a file"
    for name, text in generated.items():
        assert (SCHEMA_DIR / name).read_text() == text, f"{name} is stale"


def test_check_reports_a_stale_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, text in generate.schemas().items():
        (tmp_path / name).write_text(text)
    monkeypatch.setattr(generate, "SCHEMA_DIR", tmp_path)
    assert generate.main(["--check"]) == 0
    (tmp_path / "FeeAccrued.json").write_text("{}\n")
    assert generate.main(["--check"]) == 1


def test_every_message_type_has_a_sample() -> None:
    assert {type(m) for m in samples()} == set(ALL_MESSAGES)
    assert set(MESSAGE_TYPES) == {m.__name__ for m in ALL_MESSAGES}


# ---- round trips and the wire format ------------------------------------------------------


@pytest.mark.parametrize("message", samples(), ids=lambda m: type(m).__name__)
def test_every_message_round_trips_through_the_wire(message: Message) -> None:
    fields = encode(message)
    assert set(fields) == {"type", "event_id", "schema_version", "data"}
    assert all(isinstance(v, str) for v in fields.values())
    assert fields["type"] == message.type == type(message).__name__
    assert fields["event_id"] == message.event_id
    assert fields["schema_version"] == "1"
    back = decode(fields)
    assert type(back) is type(message)
    assert back == message
    # Bytes, as a Redis client without decode_responses returns them, read the same.
    assert decode({k.encode(): v.encode() for k, v in fields.items()}) == message


@pytest.mark.parametrize("message", samples(), ids=lambda m: type(m).__name__)
def test_the_data_field_is_valid_against_the_committed_schema(message: Message) -> None:
    schema = json.loads((SCHEMA_DIR / f"{type(message).__name__}.json").read_text())
    data = json.loads(encode(message)["data"])
    jsonschema.validate(data, schema, cls=jsonschema.Draft202012Validator)
    for key in ("type", "schema_version", "event_id", "occurred_at"):
        assert key in data


def _decimal_leaves(data: Any, model_fields: set[str]) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    if isinstance(data, dict):
        for k, v in data.items():
            if k in model_fields:
                found.append((k, v))
            found += _decimal_leaves(v, model_fields)
    elif isinstance(data, list):
        for item in data:
            found += _decimal_leaves(item, model_fields)
    return found


MONEY = {
    "net_assets",
    "annual_fee",
    "amount",
    "amount_exact",
    "effective_rate_pct",
    "rate_pct",
    "assets_in_band",
    "annual_charge",
    "previous_amount",
    "new_amount",
    "delta",
    "new_amount_exact",
}


@pytest.mark.parametrize("message", samples(), ids=lambda m: type(m).__name__)
def test_decimals_travel_as_plain_json_strings(message: Message) -> None:
    data = json.loads(encode(message)["data"], parse_float=lambda s: pytest.fail(f"float {s}"))
    for key, value in _decimal_leaves(data, MONEY):
        assert isinstance(value, str), (key, value)
        assert re.match(DECIMAL_PATTERN, value), (key, value)


def test_rates_keep_their_written_digits_on_the_wire() -> None:
    recorded = samples()[1]
    data = json.loads(encode(recorded)["data"])
    assert data["changes"][3]["tiers"][0]["rate_pct"] == "0.650"
    assert data["changes"][0]["tiers"][0] == {"from": "0", "to": "500000000", "rate_pct": "0.88"}


# ---- refusals ----------------------------------------------------------------------------------


def nav_fields(**overrides: Any) -> dict[str, str]:
    data: dict[str, Any] = {
        "type": "NetAssetsReported",
        "event_id": "e-1",
        "report_id": "r-1",
        "portfolio_id": "met-aim-scg",
        "as_of": "2006-11-15",
        "net_assets": "750000000.00",
    }
    data.update(overrides)
    return {"type": "NetAssetsReported", "event_id": "e-1", "data": json.dumps(data)}


def test_a_plain_entry_from_any_client_is_read() -> None:
    message = decode(nav_fields())
    assert isinstance(message, NetAssetsReported)
    assert message.net_assets == Decimal("750000000.00")
    assert message.accrual_days == 1 and message.revision == 0 and message.currency == "USD"


def test_a_float_for_net_assets_is_refused_naming_the_field() -> None:
    with pytest.raises(WireError) as err:
        decode(nav_fields(net_assets=750000000.5))
    assert str(err.value).startswith("net_assets")
    assert "750000000.5" in str(err.value)
    with pytest.raises(ValueError, match="net_assets"):
        NetAssetsReported.model_validate(
            {"report_id": "r", "portfolio_id": "p", "as_of": "2006-11-15", "net_assets": 1.5}
        )


@pytest.mark.parametrize("value", ["-1", "-0.01"])
def test_negative_net_assets_are_refused(value: str) -> None:
    with pytest.raises(WireError) as err:
        decode(nav_fields(net_assets=value))
    assert str(err.value).startswith("net_assets")
    assert value in str(err.value)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "lots", "1" * 65])
def test_non_numbers_for_net_assets_are_refused(value: str) -> None:
    with pytest.raises(WireError) as err:
        decode(nav_fields(net_assets=value))
    assert str(err.value).startswith("net_assets")


def test_an_unknown_type_is_refused() -> None:
    fields = {"type": "FeeInvented", "data": json.dumps({"type": "FeeInvented", "x": 1})}
    with pytest.raises(WireError) as err:
        decode(fields)
    assert "type" in str(err.value) and "FeeInvented" in str(err.value)


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"type": "NetAssetsReported"}, "data"),
        ({"data": "{not json"}, "data"),
        ({"data": "[1, 2]"}, "data"),
        ({"data": json.dumps({"type": "NetAssetsReported", "report_id": "r"})}, "portfolio_id"),
        ({"data": b"\xff\xfe"}, "data"),
    ],
)
def test_malformed_entries_are_refused_with_one_line(fields: Any, named: str) -> None:
    with pytest.raises(WireError) as err:
        decode(fields)
    assert named in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(WireError) as err:
        decode(nav_fields(colour="red"))
    assert "colour" in str(err.value)


def test_oversized_entries_are_refused() -> None:
    with pytest.raises(WireError) as err:
        decode({"data": "x" * (300 * 1024)})
    assert "exceeds" in str(err.value)


# ---- FastStream envelopes ----------------------------------------------------------------------


def nav() -> NetAssetsReported:
    return NetAssetsReported(
        report_id="r-9",
        portfolio_id="met-aim-scg",
        as_of=date(2008, 2, 29),
        net_assets=Decimal("123.45"),
        event_id="evt-nav",
        occurred_at=WHEN,
    )


def test_nested_envelope_in_the_data_field_is_accepted() -> None:
    body = json.loads(nav().model_dump_json(by_alias=True))
    fields = {"data": json.dumps({"data": body, "headers": {"correlation_id": "c"}})}
    assert decode(fields) == nav()


def test_faststream_legacy_json_envelope_is_accepted() -> None:
    # FastStream's JSON envelope carries the body as a JSON *string* beside its headers.
    envelope = {"data": nav().model_dump_json(by_alias=True), "headers": {"correlation_id": "c"}}
    assert decode({"data": json.dumps(envelope)}) == nav()
    assert decode({"__data__": json.dumps(envelope)}) == nav()


def test_an_entry_published_by_faststream_is_accepted() -> None:
    from faststream.redis.parser import BinaryMessageFormatV1

    body = json.loads(nav().model_dump_json(by_alias=True))
    raw = asyncio.run(
        BinaryMessageFormatV1.encode(
            message=body, reply_to=None, headers=None, correlation_id="corr-1"
        )
    )
    assert decode({b"__data__": raw}) == nav()


# ---- domain <-> wire mapping -------------------------------------------------------------------

ids = st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True)
names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1)
names = names.filter(lambda s: s.strip() != "").map(lambda s: s[:80])
days = st.dates(date(2000, 12, 8), date(2030, 12, 31))


@st.composite
def fee_schedules(draw: st.DrawFn) -> FeeSchedule:
    n = draw(st.integers(1, 6))
    bounds = sorted(draw(st.sets(st.integers(1, 50 * 10**9), min_size=n - 1, max_size=n - 1)))
    lowers, uppers = [0, *bounds], [*bounds, None]
    tiers = []
    for lo, up in zip(lowers, uppers, strict=True):
        places = draw(st.integers(0, 4))
        rate = Decimal(draw(st.integers(0, 100 * 10**places - 1))).scaleb(-places)
        tiers.append(Tier(Decimal(lo), None if up is None else Decimal(up), rate))
    return FeeSchedule(tuple(tiers))


@st.composite
def changes(draw: st.DrawFn) -> SetSchedule | RemovePortfolio | RenamePortfolio | GrantWaiver:
    kind = draw(st.sampled_from(["set", "remove", "rename", "waiver"]))
    pid = draw(ids)
    if kind == "set":
        action = draw(st.sampled_from(["add", "revise", "replace"]))
        return SetSchedule(pid, draw(names), draw(fee_schedules()), action)
    if kind == "remove":
        return RemovePortfolio(pid)
    if kind == "rename":
        return RenamePortfolio(pid, draw(names), draw(st.none() | names))
    start, end = sorted((draw(days), draw(days)))
    return GrantWaiver(pid, draw(fee_schedules()), start, end, draw(st.none() | names))


@st.composite
def amendments(draw: st.DrawFn) -> Amendment:
    return Amendment(
        agreement_id=draw(ids),
        number=draw(st.integers(0, 500)),
        effective_date=draw(days),
        changes=tuple(draw(st.lists(changes(), min_size=1, max_size=5))),
        executed_date=draw(st.none() | days),
        source=SourceDocument(
            draw(st.none() | names),
            draw(st.none() | st.from_regex(r"[0-9a-f]{64}", fullmatch=True)),
            draw(st.none() | st.just("https://www.sec.gov/Archives/edgar/data/1126087/x.txt")),
        ),
    )


def rates_as_written(amendment: Amendment) -> list[str]:
    return [
        str(t.rate_pct)
        for c in amendment.changes
        if isinstance(c, SetSchedule | GrantWaiver)
        for t in c.schedule.tiers
    ]


@settings(max_examples=150, deadline=None)
@given(amendments())
def test_amendments_round_trip_through_the_wire(amendment: Amendment) -> None:
    message = amendment_to_wire(amendment, event_id="evt-1", occurred_at=WHEN)
    assert message.event_id == "evt-1" and message.occurred_at == WHEN
    back = decode(encode(message))
    assert isinstance(back, AmendmentRecorded)
    again = amendment_from_wire(back)
    assert again == amendment
    assert rates_as_written(again) == rates_as_written(amendment)

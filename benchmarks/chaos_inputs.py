"""What the chaos suite sends, and what it expects: the agreement and its amendments, the good
reports and the fuzzed entries, and the suite's own fee math.

Nothing here imports the project: the expected fees are computed from the amendments as this
module writes them (Decimal, marginal bands, annual fee x accrual days / 365 rounded half up to
cents, ACT/365F), and every entry is built by hand as plain stream fields, as any client would.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any, Literal

AGREEMENT = "chaos"
PORTFOLIOS = [f"chaos-p{i}" for i in range(7)]
# P0..P4 priced from 2020-01-01; P5 and P6 come on the schedule only from 2021-01-01 (P6 from
# 2020-07-01 once the retroactive amendment is known).
PRICED = PORTFOLIOS[:5]
P5, P6 = PORTFOLIOS[5], PORTFOLIOS[6]
YEAR_BASIS = 365  # ACT/365F
CENT = Decimal("0.01")

Band = tuple[Decimal, Decimal | None, Decimal]
"""(from, to or None for no limit, rate in percent): the rate applies to the assets inside."""


def bands(spec: str) -> list[Band]:
    """'0.90 to 250000000, 0.80 to 1000000000, 0.70' as marginal bands from 0."""
    out: list[Band] = []
    lower = Decimal(0)
    for part in spec.split(","):
        rate, _, upper = part.strip().partition(" to ")
        top = Decimal(upper) if upper else None
        out.append((lower, top, Decimal(rate)))
        if top is not None:
            lower = top
    return out


def annual_fee(schedule: list[Band], assets: Decimal) -> Decimal:
    total = Decimal(0)
    for lower, upper, rate in schedule:
        top = assets if upper is None else min(assets, upper)
        if top > lower:
            total += (top - lower) * rate / 100
    return total


def period_fee(days: list[list[Band] | None], assets: Decimal) -> Decimal:
    """A report's accrual: each day of its period at the schedule in force that day (none: 0),
    annual fee / 365 a day, the sum rounded half up to cents."""
    with localcontext() as ctx:
        ctx.prec = 80
        exact = sum((annual_fee(s, assets) for s in days if s is not None), Decimal(0))
        return (exact / YEAR_BASIS).quantize(CENT, rounding=ROUND_HALF_UP)


# ---- the agreement and its amendments -------------------------------------------------------


@dataclass(frozen=True)
class Amendment:
    number: int
    effective: date
    changes: tuple[tuple[str, str, str], ...]  # (action, portfolio id, bands spec)

    def file(self) -> dict[str, Any]:
        """The amendment file `feeschedule amend --file` takes (rates as decimal strings)."""

        def tiers(spec: str) -> list[dict[str, Any]]:
            return [
                {"from": str(lo), "to": None if hi is None else str(hi), "rate_pct": str(rate)}
                for lo, hi, rate in bands(spec)
            ]

        return {
            "agreement_id": AGREEMENT,
            "document_title": f"Amendment No. {self.number} to Management Agreement",
            "trust": "Chaos Trust",
            "amendment_number": self.number,
            "effective_date": self.effective.isoformat(),
            "changes": [
                {
                    "action": action,
                    "portfolio": f"Chaos Portfolio {pid.rsplit('p', 1)[1]}",
                    "portfolio_id": pid,
                    "schedule": {"tiers": tiers(spec)},
                }
                for action, pid, spec in self.changes
            ],
        }


FIRST = Amendment(
    1,
    date(2020, 1, 1),
    (
        ("add", PORTFOLIOS[0], "0.90 to 250000000, 0.80 to 1000000000, 0.70"),
        ("add", PORTFOLIOS[1], "0.75"),
        ("add", PORTFOLIOS[2], "0.88 to 500000000, 0.83"),
        ("add", PORTFOLIOS[3], "1.00 to 100000000, 0.85 to 600000000, 0.65"),
        ("add", PORTFOLIOS[4], "0.650 to 300000000, 0.6125"),
    ),
)
SECOND = Amendment(
    2,
    date(2021, 1, 1),
    (
        ("revise", PORTFOLIOS[1], "0.70 to 2000000000, 0.60"),
        ("revise", PORTFOLIOS[2], "0.85"),
        ("add", P5, "0.55"),
        ("add", P6, "0.95 to 1000000000, 0.90"),
    ),
)
# Recorded while reports flow, effective in the past: dates already accrued must be adjusted,
# and P6's held reports from 2020-07-01 must be priced.
RETROACTIVE = Amendment(
    3,
    date(2020, 7, 1),
    (
        ("revise", PORTFOLIOS[0], "0.85 to 250000000, 0.75"),
        ("revise", PORTFOLIOS[3], "0.95 to 100000000, 0.80"),
        ("add", P6, "0.50"),
    ),
)
AMENDMENTS = (FIRST, SECOND, RETROACTIVE)


class Schedules:
    """The schedule in force on a date as the complete log states it: of the amendments that
    set a portfolio's schedule, the one with the latest effective date on or before the date."""

    def __init__(self, amendments: tuple[Amendment, ...] = AMENDMENTS) -> None:
        self.versions: dict[str, list[tuple[date, int, list[Band]]]] = {}
        for amendment in amendments:
            for _action, pid, spec in amendment.changes:
                self.versions.setdefault(pid, []).append(
                    (amendment.effective, amendment.number, bands(spec))
                )

    def period(self, portfolio_id: str, start: date, days: int) -> list[list[Band] | None]:
        """The schedule in force on each day of a period."""
        return [self.on(portfolio_id, start + timedelta(days=i)) for i in range(days)]

    def on(self, portfolio_id: str, day: date) -> list[Band] | None:
        candidates = [v for v in self.versions.get(portfolio_id, []) if v[0] <= day]
        if not candidates:
            return None
        return max(candidates, key=lambda v: (v[0], v[1]))[2]


# ---- entries --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    """A valid NetAssetsReported, as this suite means it."""

    report_id: str
    portfolio_id: str
    as_of: date
    net_assets: str
    accrual_days: int
    revision: int

    @property
    def key(self) -> tuple[str, str]:
        return (self.portfolio_id, self.as_of.isoformat())

    def data(self) -> dict[str, Any]:
        return {
            "type": "NetAssetsReported",
            "event_id": f"ev-{self.report_id}-{self.revision}",
            "report_id": self.report_id,
            "portfolio_id": self.portfolio_id,
            "as_of": self.as_of.isoformat(),
            "net_assets": self.net_assets,
            "currency": "USD",
            "accrual_days": self.accrual_days,
            "revision": self.revision,
        }


Category = Literal["good", "duplicate", "conflict", "poison"]


@dataclass
class Entry:
    """One entry to XADD, with what it is and what must become of it.

    good: a report with its own (report_id, revision), counted in the expected ledger.
    duplicate: the exact fields of a good entry again (ignored, or priced if it wins).
    conflict: the same revision as the report held, other content (must change nothing).
    poison: must be dead-lettered.
    """

    fields: dict[bytes, bytes]
    category: Category
    kind: str
    report_id: str | None = None
    revision: int | None = None
    report: Report | None = None
    late: bool = False
    expected_code: str | None = None
    entry_id: str = ""

    @property
    def valid(self) -> bool:
        return self.category != "poison"


def wire(
    data: bytes | str, kind: bytes = b"NetAssetsReported", event_id: bytes = b""
) -> dict[bytes, bytes]:
    text = data.encode() if isinstance(data, str) else data
    fields = {b"type": kind, b"event_id": event_id or b"ev", b"schema_version": b"1"}
    fields[b"data"] = text
    return fields


def report_entry(report: Report, category: Category, kind: str, late: bool = False) -> Entry:
    data = report.data()
    fields = wire(json.dumps(data), event_id=data["event_id"].encode())
    return Entry(fields, category, kind, report.report_id, report.revision, report, late=late)


@dataclass
class Plan:
    main: list[Entry]
    late: list[Entry]
    good: list[Report] = field(default_factory=list)

    @property
    def entries(self) -> list[Entry]:
        return self.main + self.late


def _assets(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.02:
        return "0"
    if r < 0.06:  # exactly on a band edge
        return rng.choice(["100000000", "250000000.00", "300000000", "500000000.00", "1000000000"])
    if r < 0.12:  # more places than cents
        return f"{rng.randrange(3_000_000_000)}.{rng.randrange(10**6):06d}"
    cents = rng.randrange(0, 3_000_000_000_00)
    return f"{cents // 100}.{cents % 100:02d}"


def _days(day: date) -> int:
    return 3 if day.weekday() == 4 else 1


def _dates(rng: random.Random, start: date, count: int, span: int) -> list[date]:
    """`count` distinct weekdays from `start` on: a Friday's report covers its weekend, so no
    two reports' periods overlap (a report for a day another covers is refused)."""
    span = max(span, (count + 10) * 7 // 5 + 7)
    weekdays = [d for d in range(span) if (start + timedelta(days=d)).weekday() < 5]
    return [start + timedelta(days=d) for d in sorted(rng.sample(weekdays, count))]


def good_reports(rng: random.Random, good: int) -> tuple[list[Report], list[Report], list[Report]]:
    """(base reports, revisions in the main stream, revisions sent late), `good` in all."""
    special = 8 if good >= 40 else 0
    n_revisions = good // 10
    n_base = good - special - n_revisions
    n5 = max(1, round(n_base * 0.04))
    n6 = max(1, round(n_base * 0.06))
    rest = n_base - n5 - n6
    per = [rest // len(PRICED) + (1 if i < rest % len(PRICED) else 0) for i in range(len(PRICED))]
    base: list[Report] = []
    number = 0

    def new(pid: str, day: date) -> Report:
        nonlocal number
        number += 1
        return Report(f"r{number:06d}", pid, day, _assets(rng), _days(day), 0)

    # P0..P4 from 2019-12-01 (December 2019 has no schedule: held), over three years or more.
    for pid, count in zip(PRICED, per, strict=True):
        base += [new(pid, d) for d in _dates(rng, date(2019, 12, 1), count, 1127)]
    base += [new(P5, d) for d in _dates(rng, date(2020, 6, 1), n5, 400)]
    base += [new(P6, d) for d in _dates(rng, date(2020, 4, 1), n6, 400)]

    latest: dict[tuple[str, str], Report] = {r.key: r for r in base}
    main_revisions: list[Report] = []
    late_revisions: list[Report] = []
    keys = sorted(latest)
    for i in range(n_revisions):
        held = latest[rng.choice(keys)]
        revision = held.revision + rng.choice([1, 1, 2, 7])
        same_id = rng.random() < 0.5
        report_id = held.report_id if same_id else f"{held.report_id}-v{revision}"
        revised = Report(
            report_id, held.portfolio_id, held.as_of, _assets(rng), held.accrual_days, revision
        )
        latest[revised.key] = revised
        (late_revisions if i % 10 == 0 else main_revisions).append(revised)
    if special:
        # Revisions that a double cannot tell apart: the lower goes in the main stream, the
        # higher late, so that the higher must adjust an accrued date.
        pairs = [(2**53, 2**53 + 1), (1_733_000_000_000_000_000, 1_733_000_000_000_000_100)]
        for j, (low, high) in enumerate(pairs * 2):
            pid = PRICED[1 + j]
            day = date(2035, 1, 1) + timedelta(days=j)
            rid = f"big{j}"
            first = Report(rid, pid, day, _assets(rng), 1, low)
            second_id = rid if j < 2 else f"{rid}-b"
            second = Report(second_id, pid, day, _assets(rng), 1, high)
            base.append(first)
            late_revisions.append(second)
    return base, main_revisions, late_revisions


# ---- fuzzed entries -------------------------------------------------------------------------

DEPTH = 1000


def _nested_object() -> str:
    return '{"a":' * DEPTH + '"x"' + "}" * DEPTH


def _nested_array() -> str:
    return "[" * DEPTH + "]" * DEPTH


def _json_with(data: dict[str, Any], **raw: str) -> str:
    """The report's JSON with some values replaced by raw JSON text."""
    text = json.dumps({k: v for k, v in data.items() if k not in raw})
    extra = "".join(f', "{k}": {v}' for k, v in raw.items())
    return text[:-1] + extra + "}"


# kind -> (what it does to a valid report, the dead-letter code contracts/README.md gives it;
# None where more than one code reads right)
POISON: dict[str, str | None] = {
    "deep_data_array": "too_deep",
    "deep_report_id": "too_deep",
    "deep_extra_field": "too_deep",
    "revision_5000_digits": "invalid_field",
    "revision_2_63": "invalid_field",
    "revision_negative": "invalid_field",
    "revision_string": "invalid_field",
    "revision_float": "invalid_field",
    "net_assets_1e999": "invalid_field",
    "net_assets_underscore": "invalid_field",
    "net_assets_leading_space": "invalid_field",
    "net_assets_plus": "invalid_field",
    "net_assets_exponent": "invalid_field",
    "net_assets_arabic_indic_digit": "invalid_field",
    "net_assets_json_integer": "invalid_field",
    "net_assets_minus_zero": "invalid_field",
    "net_assets_tiny_exponent": "invalid_field",
    "net_assets_json_float": "invalid_field",
    "net_assets_negative": "invalid_field",
    "net_assets_nan": "invalid_field",
    "net_assets_31_digits": "invalid_field",
    "as_of_datetime": "invalid_field",
    "as_of_no_such_day": "invalid_field",
    "accrual_days_string": "invalid_field",
    "accrual_days_float": "invalid_field",
    "accrual_days_true": "invalid_field",
    "accrual_days_zero": "invalid_field",
    "duplicate_json_keys": "invalid_json",
    "missing_portfolio_id": "invalid_field",
    "missing_net_assets": "invalid_field",
    "missing_report_id": "invalid_field",
    "missing_data": "invalid_json",
    "unknown_field": "invalid_field",
    "invalid_json": "invalid_json",
    "not_an_object": "invalid_json",
    "non_utf8_value": "invalid_encoding",
    "non_utf8_field_name": "invalid_encoding",
    "non_ascii_field_name": "invalid_encoding",
    "unknown_type": "unknown_type",
    "wrong_type": "unknown_type",
    "unknown_portfolio": "unknown_portfolio",
    "portfolio_id_with_space": "invalid_field",
    "currency_lowercase": "invalid_field",
    "faststream_garbage": None,
    "oversize_data": "too_large",
    "oversize_field": "too_large",
}
OVERSIZE = 300 * 1024


# kind -> (the field, a value of it the contract refuses)
_REPLACED = {
    "net_assets_1e999": ("net_assets", "1e999"),
    "net_assets_underscore": ("net_assets", "1_000"),
    "net_assets_leading_space": ("net_assets", " 5"),
    "net_assets_plus": ("net_assets", "+5"),
    "net_assets_exponent": ("net_assets", "1E+9"),
    "net_assets_arabic_indic_digit": ("net_assets", "\u0663"),
    "net_assets_minus_zero": ("net_assets", "-0"),
    "net_assets_tiny_exponent": ("net_assets", "1e-999"),
    "net_assets_negative": ("net_assets", "-5.00"),
    "net_assets_nan": ("net_assets", "NaN"),
    "net_assets_31_digits": ("net_assets", "1" * 31),
    "as_of_datetime": ("as_of", "2006-02-01T00:00:00Z"),
    "as_of_no_such_day": ("as_of", "2021-02-30"),
    "accrual_days_string": ("accrual_days", "1"),
    "revision_string": ("revision", "1"),
    "portfolio_id_with_space": ("portfolio_id", "chaos p0"),
    "currency_lowercase": ("currency", "usd"),
}
# kind -> (the field, raw JSON text for its value)
_RAW_JSON = {
    "revision_5000_digits": ("revision", "9" * 5000),
    "revision_2_63": ("revision", str(2**63)),
    "revision_negative": ("revision", "-1"),
    "revision_float": ("revision", "1.0"),
    "net_assets_json_integer": ("net_assets", "5"),
    "net_assets_json_float": ("net_assets", "5.5"),
    "accrual_days_float": ("accrual_days", "1.0"),
    "accrual_days_true": ("accrual_days", "true"),
    "accrual_days_zero": ("accrual_days", "0"),
    "deep_report_id": ("report_id", _nested_object()),
    "deep_extra_field": ("note", _nested_array()),
    "unknown_field": ("fee_override", '"0.00"'),
    "oversize_data": ("note", json.dumps("n" * OVERSIZE)),
}


def poison_entry(kind: str, i: int) -> Entry:
    """The i-th fuzzed entry, of `kind`: a valid report of its own date, then broken."""
    pid = PRICED[i % len(PRICED)]
    day = date(2040, 1, 1) + timedelta(days=i // len(PRICED))
    rid = f"x{i:06d}"
    report = Report(rid, pid, day, "1000000.00", 1, 0)
    data = report.data()
    revision: int | None = 0
    kind_field = b"NetAssetsReported"
    text: str | bytes
    fields_extra: dict[bytes, bytes] = {}
    if kind == "unknown_portfolio":
        text = json.dumps({**data, "portfolio_id": f"no-such-fund-{i}"})
    elif kind in _REPLACED:
        name, value = _REPLACED[kind]
        text = json.dumps({**data, name: value})
        if kind == "revision_string":
            revision = 1
    elif kind in _RAW_JSON:
        name, value = _RAW_JSON[kind]
        text = _json_with(data, **{name: value})
        if name == "revision":  # as a lax reader would take it, to match what it priced
            revision = {"revision_2_63": 2**63, "revision_negative": -1}.get(kind)
            revision = 1 if kind == "revision_float" else revision
        if kind == "deep_report_id":
            rid = ""
    elif kind == "deep_data_array":
        text, rid, revision = _nested_array(), "", None
    elif kind == "duplicate_json_keys":
        text = json.dumps(data)[:-1] + ', "net_assets": "2000000.00"}'
    elif kind.startswith("missing_") and kind != "missing_data":
        name = kind.removeprefix("missing_")
        text = json.dumps({k: v for k, v in data.items() if k != name})
    elif kind == "missing_data":
        text = b""
    elif kind == "invalid_json":
        text = json.dumps(data)[:-7]
    elif kind == "not_an_object":
        text = json.dumps([data])
    elif kind == "non_utf8_value":
        text = json.dumps(data).replace(rid, rid + "\udcff").encode("utf-8", "surrogateescape")
    elif kind in ("non_utf8_field_name", "non_ascii_field_name"):
        text = json.dumps(data)
        odd = b"\xffnote" if kind == "non_utf8_field_name" else "n\u00f6te".encode()
        fields_extra[odd] = b"x"
    elif kind in ("unknown_type", "wrong_type"):
        kind_field = b"NetAssetsRevoked" if kind == "unknown_type" else b"FeeAccrued"
        text = json.dumps({**data, "type": kind_field.decode()})
    elif kind == "faststream_garbage":
        fields = {b"__data__": b"\x89BIN\r\n\x1a\n\x00\x01\xff\xff\xff\xff\x00\x00\x00\x00junk"}
        return Entry(fields, "poison", kind, rid, revision, expected_code=POISON[kind])
    elif kind == "oversize_field":
        text = json.dumps(data)
        fields_extra[b"blob"] = b"b" * OVERSIZE
    else:
        raise ValueError(f"kind: {kind!r} is not a fuzzed kind")
    fields = wire(text, kind_field, data["event_id"].encode())
    if kind == "missing_data":
        del fields[b"data"]
    fields.update(fields_extra)
    return Entry(fields, "poison", kind, rid or None, revision, expected_code=POISON[kind])


def poison_entries(rng: random.Random, count: int) -> list[Entry]:
    """`count` fuzzed entries, every kind in turn (oversize ones at most 1 in 250)."""
    kinds = list(POISON)
    oversize_left = max(2, count // 250)
    out: list[Entry] = []
    for i in range(count):
        kind = kinds[i % len(kinds)]
        if kind.startswith("oversize"):
            if oversize_left <= 0:
                kind = rng.choice([k for k in kinds if not k.startswith("oversize")])
            else:
                oversize_left -= 1
        out.append(poison_entry(kind, i))
    return out


def plan(good: int, fuzz: int, seed: int) -> Plan:
    """Every entry of a run, in the order sent: the main stream shuffled, then the late ones."""
    rng = random.Random(seed)
    base, revisions, late_revisions = good_reports(rng, good)
    reports = base + revisions + late_revisions
    main = [report_entry(r, "good", "base") for r in base]
    main += [report_entry(r, "good", "revision") for r in revisions]
    late = [report_entry(r, "good", "revision", late=True) for r in late_revisions]
    for e in late:
        if e.report_id and e.report_id.startswith("big"):
            e.kind = "big_revision"
    for e in main:
        if e.report_id and e.report_id.startswith("big"):
            e.kind = "big_revision"
    originals = list(main)
    for e in rng.sample(originals, min(len(originals), max(2, good // 30))):
        main.append(
            Entry(dict(e.fields), "duplicate", "exact_duplicate", e.report_id, e.revision, e.report)
        )
    main += poison_entries(rng, fuzz)
    rng.shuffle(main)

    # Late: after the main stream has settled, so that what they meet is known.
    final: dict[tuple[str, str], Report] = {}
    for r in reports:
        if r.key not in final or r.revision > final[r.key].revision:
            final[r.key] = r
    schedules = Schedules()
    late_keys = {r.key for r in late_revisions}
    settled = [
        r
        for key, r in sorted(final.items())
        if key not in late_keys
        and any(s is not None for s in schedules.period(r.portfolio_id, r.as_of, r.accrual_days))
        and not r.report_id.startswith("big")
    ]
    for r in rng.sample(settled, min(len(settled), max(2, good // 200))):
        late.append(report_entry(r, "duplicate", "late_duplicate", late=True))
    for n, r in enumerate(rng.sample(settled, min(len(settled), max(4, good // 100)))):
        if n % 2 == 0:  # same report and revision, other net assets
            other = Report(
                r.report_id, r.portfolio_id, r.as_of, _assets(rng), r.accrual_days, r.revision
            )
            if other.net_assets == r.net_assets:
                more = f"{Decimal(r.net_assets) + 1:f}"
                other = Report(
                    r.report_id, r.portfolio_id, r.as_of, more, r.accrual_days, r.revision
                )
        else:  # another report id at the same revision
            other = Report(
                f"{r.report_id}-other",
                r.portfolio_id,
                r.as_of,
                r.net_assets,
                r.accrual_days,
                r.revision,
            )
        late.append(report_entry(other, "conflict", "same_revision_other_content", late=True))
    return Plan(main, late, reports)

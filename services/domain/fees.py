"""Fee math: graduated schedules, day counts, and the daily accrual, exact to the cent.

Everything is `decimal.Decimal`. Rates are kept exactly as written ("0.650" stays "0.650"),
the unrounded accrual is kept beside the rounded one, and rounding is a named policy.
"""

from __future__ import annotations

import calendar
import contextlib
import decimal
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from services.domain.errors import DomainError

HUNDRED = Decimal(100)
ZERO = Decimal(0)

# Products of assets (<= 1e12 with cents) and rates (a few decimals) are exact well inside 34
# digits; only the division by the year basis is inexact, and 34 digits keeps it far below 1e-12.
FEE_CONTEXT = decimal.Context(prec=34, rounding=decimal.ROUND_HALF_EVEN)


class DayCount(StrEnum):
    """How many days a year has for the daily accrual (the agreement says which)."""

    ACT_365F = "ACT/365F"
    ACT_ACT = "ACT/ACT"
    ACT_360 = "ACT/360"

    def year_basis(self, on: date) -> int:
        if self is DayCount.ACT_360:
            return 360
        if self is DayCount.ACT_ACT and calendar.isleap(on.year):
            return 366
        return 365

    @classmethod
    def parse(cls, value: str) -> DayCount:
        try:
            return cls(value.upper())
        except ValueError:
            allowed = ", ".join(d.value for d in cls)
            raise DomainError("day_count", value, f"must be one of {allowed}") from None


# decimal's rounding modes are their names ("ROUND_HALF_UP"): a policy's mode is one of them.
_ROUNDING_MODES = (
    decimal.ROUND_HALF_UP,
    decimal.ROUND_HALF_EVEN,
    decimal.ROUND_DOWN,
    decimal.ROUND_UP,
    decimal.ROUND_HALF_DOWN,
)


@dataclass(frozen=True, slots=True)
class MonthToDate:
    """A month's other accruals, as month-to-date rounding books against them: their exact
    sum and what was booked for them."""

    exact: Decimal = ZERO
    booked: Decimal = ZERO

    def plus(self, exact: Decimal, booked: Decimal) -> MonthToDate:
        return MonthToDate(self.exact + exact, self.booked + booked)


class RoundingScope(StrEnum):
    """What one rounding covers: each accrual alone, or the month to date."""

    ACCRUAL = "accrual"
    MONTH_TO_DATE = "month-to-date"


@dataclass(frozen=True, slots=True)
class RoundingPolicy:
    """How an exact accrual becomes money: a decimal rounding mode, a quantum (cents), and its
    scope. Per accrual (the default), each accrual is rounded alone. Month to date, an accrual
    books round(the month's exact total with it) less what the month's other accruals booked,
    so a month's booked total is its exact total rounded once."""

    mode: str = "ROUND_HALF_UP"
    quantum: Decimal = Decimal("0.01")
    scope: RoundingScope = RoundingScope.ACCRUAL
    # Made once (every accrual is rounded, and names its policy): the name, and the digits of
    # the quantum (how many a rounded amount has beyond its integer digits).
    _name: str = field(init=False, repr=False, compare=False)
    _places: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        base = f"{self.mode}:{self.quantum}"
        name = base if self.scope is RoundingScope.ACCRUAL else f"{base}:{self.scope.value}"
        object.__setattr__(self, "_name", name)
        if self.mode not in _ROUNDING_MODES:
            raise DomainError("rounding", self.mode, f"must be one of {', '.join(_ROUNDING_MODES)}")
        # quantize() uses only the quantum's exponent, so "0.05" would silently mean cents.
        q = self.quantum
        if not q.is_finite() or q <= 0 or q.as_tuple().digits != (1,):
            raise DomainError(
                "rounding", self.name, "needs a quantum that is a power of ten (0.01, 1, ...)"
            )
        object.__setattr__(self, "_places", -q.adjusted() + len(q.as_tuple().digits))

    @property
    def name(self) -> str:
        return self._name

    @property
    def month_to_date(self) -> bool:
        return self.scope is RoundingScope.MONTH_TO_DATE

    def apply(self, exact: Decimal) -> Decimal:
        # Enough digits for the whole result, whatever the ambient context's precision.
        digits = exact.adjusted() + self._places + 2
        if digits <= FEE_CONTEXT.prec:  # any fee: the fee math's context has enough
            return exact.quantize(self.quantum, rounding=self.mode, context=FEE_CONTEXT)
        with decimal.localcontext(FEE_CONTEXT) as ctx:
            ctx.prec = digits
            return exact.quantize(self.quantum, rounding=self.mode)

    def booked(self, exact: Decimal, month: MonthToDate) -> Decimal:
        """What is booked for an accrual of `exact`, beside the month's other accruals."""
        if self.scope is RoundingScope.ACCRUAL:
            return self.apply(exact)
        return self.apply(month.exact + exact) - month.booked

    @classmethod
    def parse(cls, name: str) -> RoundingPolicy:
        mode, _, rest = name.partition(":")
        quantum, _, scope = rest.partition(":")
        try:
            amount = Decimal(quantum or "0.01")
        except decimal.InvalidOperation:
            raise DomainError("rounding", name, "has a quantum that is not a number") from None
        try:
            within = RoundingScope(scope or "accrual")
        except ValueError:
            scopes = ", ".join(s.value for s in RoundingScope)
            raise DomainError(
                "rounding", name, f"has a scope that is not one of {scopes}"
            ) from None
        return cls(mode=mode, quantum=amount, scope=within)


DEFAULT_ROUNDING = RoundingPolicy()


@dataclass(frozen=True, slots=True)
class Tier:
    """A marginal band: `rate_pct` percent a year of the assets between `lower` and `upper`."""

    lower: Decimal
    upper: Decimal | None
    rate_pct: Decimal

    def assets_in_band(self, net_assets: Decimal) -> Decimal:
        if net_assets <= self.lower:
            return ZERO
        top = net_assets if self.upper is None else min(net_assets, self.upper)
        return top - self.lower

    def as_json(self) -> dict[str, str | None]:
        # Plain decimal strings (never "5E+8"); a rate keeps its written digits ("0.650").
        return {
            "from": f"{self.lower:f}",
            "to": None if self.upper is None else f"{self.upper:f}",
            "rate_pct": f"{self.rate_pct:f}",
        }


@dataclass(frozen=True, slots=True)
class BandCharge:
    """What one band contributes to the annual fee."""

    tier: Tier
    assets_in_band: Decimal
    annual_charge: Decimal

    # Written out: see Accrual.__init__ (services.domain.fees).
    def __init__(self, tier: Tier, assets_in_band: Decimal, annual_charge: Decimal) -> None:
        object.__setattr__(self, "tier", tier)
        object.__setattr__(self, "assets_in_band", assets_in_band)
        object.__setattr__(self, "annual_charge", annual_charge)


def _charge(tier: Tier, inside: Decimal) -> BandCharge:
    """What a band charges a year on the assets inside it (in the fee math's context)."""
    return BandCharge(tier, inside, inside * tier.rate_pct / HUNDRED)


def to_decimal(field: str, value: object) -> Decimal:
    """A Decimal from an int, a Decimal or a numeric string; floats are refused (binary noise)."""
    if isinstance(value, bool | float):
        raise DomainError(field, value, "must be a decimal string or an integer, not a float")
    if isinstance(value, Decimal | int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip().replace(",", "").replace("_", ""))
        except decimal.InvalidOperation:
            raise DomainError(field, value, "is not a number") from None
    else:
        raise DomainError(field, value, "must be a decimal string or an integer")
    if not result.is_finite():
        raise DomainError(field, value, "must be a finite number")
    return result


def _misfit(i: int, tier: Tier, tiers: tuple[Tier, ...]) -> str:
    """Why band `i` does not start where the one before it ends."""
    if i == 0:
        return "the first band must start at 0"
    previous_upper = tiers[i - 1].upper
    gap = previous_upper is not None and tier.lower > previous_upper
    problem = "leaves a gap after" if gap else "overlaps"
    return f"{problem} the previous band, which ends at {previous_upper}"


def _open_end(i: int, tier: Tier) -> DomainError:
    if tier.upper is None:
        return DomainError(f"tiers[{i}].to", None, "only the last band may be open-ended")
    return DomainError(
        f"tiers[{i}].to", str(tier.upper), "the last band must be open-ended (to: null)"
    )


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """A graduated fee: contiguous marginal bands from 0, the last one open-ended.

    A flat fee is one band. Construction validates the shape, so a FeeSchedule that exists
    is one that can price any non-negative amount of assets.
    """

    tiers: tuple[Tier, ...]
    # `as_json`, made once: read models and answers write a schedule many times over.
    _json: list[dict[str, str | None]] = field(
        init=False, repr=False, compare=False, default_factory=list
    )
    # What each band charges when the assets do not reach it, and (but the open-ended last
    # band) when they fill it: the same for every amount of assets below or above the band,
    # so made once per schedule (`_bands` picks them; every other band is charged per amount),
    # when it first prices: most schedules a log states are folded and stored, never priced.
    _shared: tuple[tuple[BandCharge, ...], tuple[BandCharge | None, ...]] | None = field(
        init=False, repr=False, compare=False, default=None
    )

    def __post_init__(self) -> None:
        tiers = self.tiers
        if not tiers:
            raise DomainError("tiers", [], "a schedule needs at least one band")
        last = len(tiers) - 1
        previous_upper: Decimal | None = ZERO
        for i, tier in enumerate(tiers):
            if not ZERO <= tier.rate_pct < HUNDRED:
                problem = "must not be negative" if tier.rate_pct < ZERO else "must be below 100%"
                raise DomainError(f"tiers[{i}].rate_pct", str(tier.rate_pct), problem)
            if tier.lower != previous_upper:
                raise DomainError(f"tiers[{i}].from", str(tier.lower), _misfit(i, tier, tiers))
            if (tier.upper is None) != (i == last):
                raise _open_end(i, tier)
            if tier.upper is not None and tier.upper <= tier.lower:
                raise DomainError(
                    f"tiers[{i}].to",
                    str(tier.upper),
                    f"must be above the band's start {tier.lower}",
                )
            previous_upper = tier.upper

    def _shared_charges(self) -> tuple[tuple[BandCharge, ...], tuple[BandCharge | None, ...]]:
        """(each band's charge unreached, each but the last one's filled), made once."""
        if self._shared is None:
            tiers = self.tiers
            with decimal.localcontext(FEE_CONTEXT):
                unreached = tuple(_charge(t, t.assets_in_band(t.lower)) for t in tiers)
                filled = tuple(
                    None if t.upper is None else _charge(t, t.assets_in_band(t.upper))
                    for t in tiers
                )
            object.__setattr__(self, "_shared", (unreached, filled))
        assert self._shared is not None
        return self._shared

    @classmethod
    def flat(cls, rate_pct: Decimal | str) -> FeeSchedule:
        return cls((Tier(ZERO, None, to_decimal("rate_pct", rate_pct)),))

    @classmethod
    def from_json(cls, tiers: Sequence[Mapping[str, Any]]) -> FeeSchedule:
        """Tiers in the corpus shape: `[{"from": 0, "to": 500000000, "rate_pct": "0.88"}, ...]`."""
        if not isinstance(tiers, Sequence) or isinstance(tiers, str | bytes):
            raise DomainError("tiers", tiers, "must be a list of bands")
        bands: list[Tier] = []
        for i, raw in enumerate(tiers):
            if not isinstance(raw, Mapping):
                raise DomainError(f"tiers[{i}]", raw, "must be an object with from, to, rate_pct")
            for key in ("from", "to", "rate_pct"):
                if key not in raw:
                    raise DomainError(f"tiers[{i}].{key}", None, "is missing")
            lower = to_decimal(f"tiers[{i}].from", raw["from"])
            upper = None if raw["to"] is None else to_decimal(f"tiers[{i}].to", raw["to"])
            rate = to_decimal(f"tiers[{i}].rate_pct", raw["rate_pct"])
            bands.append(Tier(lower, upper, rate))
        return cls(tuple(bands))

    def shared_bands(self) -> tuple[BandCharge, ...]:
        """The band charges `breakdown` gives for every amount that does not reach a band or
        fills it: the same objects each time, so what is made of them can be made once."""
        unreached, filled = self._shared_charges()
        return (*unreached, *(b for b in filled if b is not None))

    def as_json(self) -> list[dict[str, str | None]]:
        """The bands as JSON values (shared: do not change them)."""
        if not self._json:
            self._json.extend(tier.as_json() for tier in self.tiers)
        return self._json

    def breakdown(self, net_assets: Decimal) -> tuple[BandCharge, ...]:
        _check_assets(net_assets)
        with decimal.localcontext(FEE_CONTEXT):
            return self._bands(net_assets)

    def _bands(self, net_assets: Decimal) -> tuple[BandCharge, ...]:
        """Each band's charge on these assets (in the fee math's context): a band the assets
        do not reach, or fill (passing its upper bound), charges what it charges on any such
        amount, made once (`_shared_charges`)."""
        out = []
        unreached_all, filled_all = self._shared_charges()
        for tier, unreached, filled in zip(self.tiers, unreached_all, filled_all, strict=True):
            if net_assets <= tier.lower:
                out.append(unreached)
            elif filled is not None and tier.upper is not None and net_assets > tier.upper:
                out.append(filled)
            else:
                out.append(_charge(tier, tier.assets_in_band(net_assets)))
        return tuple(out)

    def annual_fee(self, net_assets: Decimal) -> Decimal:
        return total(b.annual_charge for b in self.breakdown(net_assets))

    def effective_rate_pct(self, net_assets: Decimal) -> Decimal:
        """The blended annual rate on these assets; at zero assets, the first band's rate."""
        annual = self.annual_fee(net_assets)
        with decimal.localcontext(FEE_CONTEXT):
            return _blended(self, annual, net_assets)

    def describe(self) -> str:
        """A short human reading: '0.88% to $500M, 0.83% above'."""
        parts = []
        for tier in self.tiers:
            if tier.upper is None:
                suffix = " above" if len(self.tiers) > 1 else " flat"
                parts.append(f"{tier.rate_pct}%{suffix}")
            else:
                parts.append(f"{tier.rate_pct}% to ${_short_money(tier.upper)}")
        return ", ".join(parts)


def _short_money(amount: Decimal) -> str:
    for unit, size in (("B", Decimal(10) ** 9), ("M", Decimal(10) ** 6)):
        if amount >= size:
            return f"{(amount / size).normalize():f}{unit}"
    return f"{amount:,}"


def _blended(schedule: FeeSchedule, annual: Decimal, net_assets: Decimal) -> Decimal:
    # In the fee math's context.
    if net_assets == 0:
        return schedule.tiers[0].rate_pct
    return annual * HUNDRED / net_assets


# Far above any fund's assets, and far inside the digits that keep the fee math exact.
MAX_NET_ASSETS = Decimal(10) ** 15


def _check_assets(net_assets: Decimal) -> None:
    if not net_assets.is_finite() or net_assets < 0:
        raise DomainError("net_assets", str(net_assets), "must be a non-negative amount")
    if net_assets >= MAX_NET_ASSETS:
        raise DomainError("net_assets", str(net_assets), f"must be below {MAX_NET_ASSETS:,}")


def check_accrual_days(days: int | str) -> int:
    """The days of an accrual period: a whole number from 1 to 366, given as one or as typed
    ("3"); DomainError naming what was given otherwise."""
    if isinstance(days, str):
        with contextlib.suppress(ValueError):
            days = int(days)
    if isinstance(days, bool | str) or not 1 <= days <= 366:
        raise DomainError("accrual_days", days, "must be a whole number from 1 to 366")
    return days


@dataclass(frozen=True, slots=True)
class Accrual:
    """One day's (or one accrual period's) fee, with every input that made it."""

    net_assets: Decimal
    as_of: date
    accrual_days: int
    day_count: DayCount
    year_basis: int
    annual_fee: Decimal
    amount_exact: Decimal
    amount: Decimal
    rounding: RoundingPolicy
    effective_rate_pct: Decimal
    breakdown: tuple[BandCharge, ...]

    # Written out, as every class the worker makes per report: compiled (mypyc), a dataclass's
    # generated __init__ still runs interpreted, twenty times slower than this one (frozen:
    # object.__setattr__, which mypyc compiles to a plain store).
    def __init__(
        self,
        net_assets: Decimal,
        as_of: date,
        accrual_days: int,
        day_count: DayCount,
        year_basis: int,
        annual_fee: Decimal,
        amount_exact: Decimal,
        amount: Decimal,
        rounding: RoundingPolicy,
        effective_rate_pct: Decimal,
        breakdown: tuple[BandCharge, ...],
    ) -> None:
        object.__setattr__(self, "net_assets", net_assets)
        object.__setattr__(self, "as_of", as_of)
        object.__setattr__(self, "accrual_days", accrual_days)
        object.__setattr__(self, "day_count", day_count)
        object.__setattr__(self, "year_basis", year_basis)
        object.__setattr__(self, "annual_fee", annual_fee)
        object.__setattr__(self, "amount_exact", amount_exact)
        object.__setattr__(self, "amount", amount)
        object.__setattr__(self, "rounding", rounding)
        object.__setattr__(self, "effective_rate_pct", effective_rate_pct)
        object.__setattr__(self, "breakdown", breakdown)


def accrue(
    schedule: FeeSchedule,
    net_assets: Decimal,
    as_of: date,
    *,
    accrual_days: int | str = 1,
    day_count: DayCount = DayCount.ACT_365F,
    rounding: RoundingPolicy = DEFAULT_ROUNDING,
) -> Accrual:
    """The accrual for `accrual_days` days at `as_of`: annual fee x days / year basis."""
    _check_assets(net_assets)
    # (Typed as check_accrual_days takes it: compiled, an `int` parameter would turn True to 1.)
    days = check_accrual_days(accrual_days)
    basis = day_count.year_basis(as_of)
    with decimal.localcontext(FEE_CONTEXT):
        breakdown = schedule._bands(net_assets)
        annual = sum((b.annual_charge for b in breakdown), ZERO)
        exact = annual * days / basis
        rate = _blended(schedule, annual, net_assets)
    return Accrual(
        net_assets=net_assets,
        as_of=as_of,
        accrual_days=days,
        day_count=day_count,
        year_basis=basis,
        annual_fee=annual,
        amount_exact=exact,
        amount=rounding.apply(exact),
        rounding=rounding,
        effective_rate_pct=rate,
        breakdown=breakdown,
    )


def total(amounts: Iterable[Decimal]) -> Decimal:
    """A sum of exact amounts, exact: in the fee math's precision, not the ambient context's."""
    with decimal.localcontext(FEE_CONTEXT):
        return sum(amounts, ZERO)

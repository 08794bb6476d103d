"""The wire's scalars, checked and written: the patterns and bounds of decimals, dates, times
and ids (their JSON Schema says the same), the validators the contract models read them with,
and the plain notation decimals are written in. Compiled with the fee worker's hot path
(pyproject.toml's `compiled`): a report's fields are read, and an accrual's twenty decimals
written, through these functions.
"""

from __future__ import annotations

import functools
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic_core import PydanticCustomError

# Input values (what integrators and amendment files send) are bounded so that every value the
# engine computes from them still fits the wider bounds of computed values: 34 significant digits
# (the fee engine's precision) of a product of two inputs, over at most 366 days.
INPUT_INT_DIGITS, INPUT_FRACTION_DIGITS = 30, 20
COMPUTED_INT_DIGITS, COMPUTED_FRACTION_DIGITS = 60, 80

# The JSON Schema patterns; without their anchors, the validators' (with fullmatch). [0-9], never
# \d: Python's \d also matches other scripts' digits ("٣"), which Decimal() reads as 3.
INPUT_DECIMAL_PATTERN = rf"^[0-9]{{1,{INPUT_INT_DIGITS}}}(\.[0-9]{{1,{INPUT_FRACTION_DIGITS}}})?$"
"""A non-negative input decimal: net assets, tier bounds, rates."""
DECIMAL_PATTERN = rf"^-?[0-9]{{1,{COMPUTED_INT_DIGITS}}}(\.[0-9]{{1,{COMPUTED_FRACTION_DIGITS}}})?$"
"""A computed decimal (a fee, a delta): an optional leading minus, wider bounds."""
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
TIMESTAMP_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
    r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
"""RFC 3339 with a zone, to the microsecond (what Python's datetime holds); no leap second."""
# Ids: anything but whitespace. Spelt out, since \s differs between the engines that read the
# pattern: Python's also covers U+001C-U+001F, ECMA-262's U+FEFF, Rust's and Python's U+0085.
ID_PATTERN = (
    r"^[^\t\n\v\f\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+$"
)
MAX_COUNT = 2**63 - 1
"""Upper bound of `revision` and `amendment_number`: a signed 64-bit integer (Java's long, Go's
int64; JavaScript needs a BigInt-aware JSON parser above 2**53)."""

INPUT_DECIMAL = re.compile(INPUT_DECIMAL_PATTERN[1:-1])
SIGNED_DECIMAL = re.compile(DECIMAL_PATTERN[1:-1])
_DATE = re.compile(DATE_PATTERN[1:-1])
_TIMESTAMP = re.compile(TIMESTAMP_PATTERN[1:-1])


def _digits(value: Decimal) -> tuple[int, int]:
    """Digits before and after the point of `value` in plain notation (without formatting it:
    `1E+100000` would be a 100,001-character string)."""
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite: checked by the caller
    fraction = max(0, -exponent)
    whole = 1 if value.is_zero() else max(1, value.adjusted() + 1)
    return whole, fraction


class DecimalValidator:
    """Reads a decimal field: a string of the contract's pattern (or, from our own code, a
    Decimal that such a string could have said), never a number; "-0" reads as 0."""

    def __init__(
        self, pattern: re.Pattern[str], whole: int, fraction: int, *, signed: bool
    ) -> None:
        self.pattern, self.whole, self.fraction, self.signed = pattern, whole, fraction, signed
        sign = "an optional leading '-'" if signed else "no sign"
        self.rule = (
            f"ASCII digits, at most {whole} before an optional '.' and {fraction} after it; "
            f"{sign}, no exponent, '_', '+' or spaces"
        )
        # Amounts and rates recur (the same bands in every amendment, the same figures in many
        # reports): a string's verdict is remembered. A refusal raises, and is not remembered.
        self.from_known_text = functools.lru_cache(maxsize=8192)(self.from_text)

    def __call__(self, value: Any) -> Decimal:
        if type(value) is str:
            return self.from_known_text(value)
        if isinstance(value, Decimal):
            return self.from_decimal(value)
        if isinstance(value, str):  # a str subclass: checked, not remembered
            return self.from_text(value)
        json_number = isinstance(value, int | float) and not isinstance(value, bool)
        why = ", not a JSON number (it may not hold the digits exactly)" if json_number else ""
        raise PydanticCustomError("decimal_type", f'must be a decimal string such as "0.88"{why}')

    def from_text(self, value: str) -> Decimal:
        # Checked against the contract's pattern before Decimal() sees it, since Decimal()
        # also reads "1_000", " 5", "+5", "1E+9" and other scripts' digits.
        if self.pattern.fullmatch(value) is None:
            # A plain decimal but for its sign: say that, not the whole rule ("-0" is not
            # negative, only wrongly written).
            negative = value[:1] == "-" and SIGNED_DECIMAL.fullmatch(value) is not None
            if not self.signed and negative and Decimal(value) != 0:
                raise PydanticCustomError("decimal_sign", "must not be negative")
            raise PydanticCustomError("decimal_pattern", f"is not a plain decimal: {self.rule}")
        number = Decimal(value)
        # "-0" and "0" are the same amount; only "0" is ever written.
        return number.copy_abs() if number.is_zero() else number

    def from_decimal(self, value: Decimal) -> Decimal:
        # Our own code passes Decimals: they must be what a string could have said.
        if not value.is_finite():
            raise PydanticCustomError("decimal_finite", "must be a finite decimal")
        before, after = _digits(value)
        if before > self.whole or after > self.fraction:
            raise PydanticCustomError("decimal_digits", f"has too many digits: {self.rule}")
        if value.is_signed() and not self.signed and not value.is_zero():
            raise PydanticCustomError("decimal_sign", "must not be negative")
        return value.copy_abs() if value.is_zero() else value


def plain_decimal(value: Decimal) -> str:
    """A decimal as the wire (and the ledger) writes it: plain notation, never an exponent
    ("2.7E-7" -> "0.00000027") nor "-0"."""
    text = str(value)  # plain already unless it has an exponent or is "-0": twice as fast
    if "E" in text or text[0] == "-":
        return f"{value.copy_abs() if value.is_zero() else value:f}"
    return text


def date_value(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError("date_value", "is not a date of the calendar") from None
    raise PydanticCustomError("date_type", "must be a date string YYYY-MM-DD (no time, no zone)")


def timestamp_value(value: Any) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise PydanticCustomError("datetime_zone", "must say its zone (Z or +HH:MM)")
        return value
    if isinstance(value, str) and _TIMESTAMP.fullmatch(value):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError("datetime_value", "is not a time of the calendar") from None
    raise PydanticCustomError(
        "datetime_type", "must be a time such as 2024-01-02T17:00:00Z (ISO 8601, with a zone)"
    )

"""A short notation for schedules typed by people: "0.88% to 500M, 0.83%".

Each band is "RATE% to AMOUNT" (AMOUNT with an optional K, M or B suffix); the last band is
"RATE%" alone. Pure, and strict: anything else is refused naming the piece that did not read.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from services.domain.errors import DomainError
from services.domain.fees import FeeSchedule, Tier

_BAND = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*%\s*(?:to\s+\$?\s*([\d,]+(?:\.\d+)?)\s*([kmb])?)?\s*$", re.I
)
_SCALE = {None: 1, "k": 10**3, "m": 10**6, "b": 10**9}
# Commas separate bands, except a thousands separator: digit, comma, three digits, no more.
_BAND_SEPARATOR = re.compile(r",(?!(?<=\d,)\d{3}(?![\d%]))")


def parse_schedule_notation(text: str) -> FeeSchedule:
    tiers: list[Tier] = []
    lower = Decimal(0)
    pieces = _BAND_SEPARATOR.split(text) if text.strip() else []
    if not pieces:
        raise DomainError("schedule", text, "is empty")
    for i, piece in enumerate(pieces):
        match = _BAND.match(piece)
        if match is None:
            raise DomainError(f"schedule[{i}]", piece.strip(), 'does not read as "RATE% to AMOUNT"')
        rate, amount, unit = match.groups()
        upper: Decimal | None = None
        if amount is not None:
            try:
                upper = Decimal(amount.replace(",", "")) * _SCALE[unit.lower() if unit else None]
            except InvalidOperation:
                raise DomainError(
                    f"schedule[{i}]", piece.strip(), "has an unreadable amount"
                ) from None
        tiers.append(Tier(lower, upper, Decimal(rate)))
        lower = upper if upper is not None else lower
    return FeeSchedule(tuple(tiers))

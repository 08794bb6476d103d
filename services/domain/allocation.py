"""Sharing a rounded amount among parts by weight, to the quantum: largest remainder.

A portfolio's fee is charged at the portfolio level and each share class bears its part by
relative net assets (Rule 18f-3); a group's fee is shared among its members the same way.
Each part gets its share rounded down to the quantum, and the quanta left over go to the
largest remainders, ties broken by the part's key, so the parts sum exactly to the amount and
the same inputs always give the same shares.
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from decimal import Decimal

from services.domain.errors import DomainError

_CONTEXT = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN)


def exact_shares(total: Decimal, weights: Sequence[tuple[str, Decimal]]) -> dict[str, Decimal]:
    """Each part's exact share of `total`, proportional to its weight (equal shares when every
    weight is zero)."""
    if not weights:
        raise DomainError("classes", [], "there is nothing to share the amount among")
    whole = sum((w for _, w in weights), Decimal(0))
    with decimal.localcontext(_CONTEXT):
        if whole == 0:
            return {key: total / len(weights) for key, _ in weights}
        return {key: total * w / whole for key, w in weights}


def allocate(
    total: Decimal, weights: Sequence[tuple[str, Decimal]], quantum: Decimal
) -> dict[str, Decimal]:
    """`total` (a multiple of `quantum`) shared by weight so the shares sum to it exactly."""
    if total % quantum:
        raise DomainError("amount", str(total), f"is not a multiple of {quantum}")
    sign = Decimal(-1) if total < 0 else Decimal(1)
    shares = exact_shares(abs(total), weights)
    with decimal.localcontext(_CONTEXT):
        floors = {k: (v // quantum) * quantum for k, v in shares.items()}
        left = int((abs(total) - sum(floors.values(), Decimal(0))) / quantum)
        by_remainder = sorted(shares, key=lambda k: (-(shares[k] - floors[k]), k))
        for key in by_remainder[:left]:
            floors[key] += quantum
    return {k: sign * v for k, v in floors.items()}


def check_classes(net_assets: Decimal, classes: Sequence[tuple[str, Decimal]]) -> None:
    """Raise DomainError unless the share classes are distinct and their net assets sum to the
    portfolio's."""
    ids = [class_id for class_id, _ in classes]
    if len(set(ids)) != len(ids):
        twice = sorted({i for i in ids if ids.count(i) > 1})
        raise DomainError("classes", twice, "name a share class more than once")
    whole = sum((assets for _, assets in classes), Decimal(0))
    if whole != net_assets:
        raise DomainError(
            "classes",
            str(whole),
            f"is what the share classes' net assets sum to, not the portfolio's net_assets"
            f" ({net_assets})",
        )

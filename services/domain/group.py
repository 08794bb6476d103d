"""Group schedules: one schedule on the combined net assets of several portfolios ("0.75% of the
first $1 billion of the aggregate average daily net assets of the Portfolios listed below"),
each member paying its share.

A group's day is priced on the sum of its members' net assets; each member's exact share is
proportional to its own assets, and the cents are allocated by largest remainder (ties by
portfolio id) so the members' rounded amounts sum exactly to the group's rounded fee. Under
`effective_rate` each member pays the group's effective rate on its own assets: the same exact
share, the cents allocated alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from services.domain.allocation import allocate, exact_shares
from services.domain.fees import Accrual


class Allocation(StrEnum):
    PRO_RATA = "pro_rata"
    EFFECTIVE_RATE = "effective_rate"


@dataclass(frozen=True, slots=True)
class GroupTerms:
    """Which group a schedule version prices, its members as the amendment names them, and
    how the fee is shared."""

    group_id: str
    members: tuple[str, ...]
    allocation: Allocation = Allocation.PRO_RATA


@dataclass(frozen=True, slots=True)
class MemberShare:
    portfolio_id: str
    net_assets: Decimal
    amount: Decimal
    amount_exact: Decimal


def share_group_fee(group: Accrual, net_assets: Mapping[str, Decimal]) -> dict[str, MemberShare]:
    """The members' shares of the group's accrual (`group`: priced on their combined assets)."""
    weights = sorted(net_assets.items())
    amounts = allocate(group.amount, weights, group.rounding.quantum)
    exact = exact_shares(group.amount_exact, weights)
    return {pid: MemberShare(pid, nav, amounts[pid], exact[pid]) for pid, nav in weights}

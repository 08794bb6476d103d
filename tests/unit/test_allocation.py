"""Largest-remainder allocation (services.domain.allocation): the shares sum exactly to the
amount, each is within a quantum of its exact share, and the same inputs give the same shares,
whatever order the parts come in."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.domain.allocation import allocate, exact_shares
from services.domain.errors import DomainError

CENT = Decimal("0.01")

amounts = st.integers(-(10**9), 10**9).map(lambda n: Decimal(n) * CENT)
weights = st.dictionaries(
    st.text("abcdefgh", min_size=1, max_size=3),
    st.integers(0, 10**12).map(lambda n: Decimal(n) * CENT),
    min_size=1,
    max_size=8,
)


@given(amounts, weights, st.randoms(use_true_random=False))
def test_shares_sum_to_the_amount_and_stay_within_a_cent_of_their_exact_share(
    total: Decimal, parts: dict[str, Decimal], rnd: object
) -> None:
    items = list(parts.items())
    shares = allocate(total, items, CENT)
    assert sum(shares.values(), Decimal(0)) == total
    exact = exact_shares(total, items)
    assert all(abs(shares[k] - exact[k]) < CENT for k in parts)
    shuffled = list(items)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert allocate(total, shuffled, CENT) == shares  # deterministic


def test_a_cent_left_over_goes_to_the_largest_remainder_ties_by_key() -> None:
    # 0.10 among three equal classes: 0.033... each; the cent left goes to "a".
    thirds = allocate(
        Decimal("0.10"), [("b", Decimal(1)), ("a", Decimal(1)), ("c", Decimal(1))], CENT
    )
    assert thirds == {"a": Decimal("0.04"), "b": Decimal("0.03"), "c": Decimal("0.03")}
    # 1.00 by 2:1: 0.666.. and 0.333..: the larger remainder (0.0067) gets the cent.
    assert allocate(Decimal("1.00"), [("x", Decimal(2)), ("y", Decimal(1))], CENT) == {
        "x": Decimal("0.67"),
        "y": Decimal("0.33"),
    }
    assert allocate(Decimal("-1.00"), [("x", Decimal(2)), ("y", Decimal(1))], CENT) == {
        "x": Decimal("-0.67"),
        "y": Decimal("-0.33"),
    }


def test_an_amount_off_the_quantum_or_nothing_to_share_among_is_refused() -> None:
    with pytest.raises(DomainError, match="multiple"):
        allocate(Decimal("0.005"), [("a", Decimal(1))], CENT)
    with pytest.raises(DomainError, match="nothing to share"):
        allocate(Decimal("1.00"), [], CENT)

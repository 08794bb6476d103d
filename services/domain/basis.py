"""The fee base: whose net assets price the days an accrual covers.

Under `same_day` a report prices its own period. Under `prior_day` the fee for the days starting
at D is computed on the net assets of the report before D (the fee must be inside D's NAV before
it is struck); a portfolio's first report is priced on its own net assets.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from enum import StrEnum


class FeeBase(StrEnum):
    SAME_DAY = "same_day"
    PRIOR_DAY = "prior_day"

    def base_of(self, as_of: date, reported: Iterable[date]) -> date:
        """The report date whose net assets price the period starting at `as_of`, among the
        portfolio's `reported` dates."""
        if self is FeeBase.SAME_DAY:
            return as_of
        return max((d for d in reported if d < as_of), default=as_of)

    def priced_by(self, as_of: date, reported: Iterable[date]) -> tuple[date, ...]:
        """The accruals the report at `as_of` prices: its own when it is its own base, and
        (prior day) the next report's."""
        if self is FeeBase.SAME_DAY:
            return (as_of,)
        dates = set(reported)
        later = min((d for d in dates if d > as_of), default=None)
        own = (as_of,) if self.base_of(as_of, dates) == as_of else ()
        return own if later is None else (*own, later)

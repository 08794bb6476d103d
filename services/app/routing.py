"""Which partition of the fee worker an input entry is settled in.

A client publishes a portfolio's reports and invoices to the partition of its id (CRC-32 mod
P, contracts/partitions.py), or to the unpartitioned stream, whose entries the worker routes.
Portfolios priced together must settle in one slot, so a day on which a portfolio is a member
of a group schedule is settled in the group's partition (CRC-32 of the group id): the worker
forwards such a report there. The partition of a day is decided on the log as the worker knows
it; a membership change moves the days after it, not the days already priced.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date

from contracts.partitions import partition_of
from services.domain.book import ScheduleBook


def _data(fields: Mapping[bytes, bytes]) -> dict[str, object]:
    try:
        data = json.loads(fields[b"data"])
    except (KeyError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def routing_key(fields: Mapping[bytes, bytes]) -> tuple[str, str] | None:
    """The portfolio id and the day (as_of, or a month's first day) an entry is about; None
    when the entry names none (it is settled where it is, and dead-lettered there if bad)."""
    return _key(_data(fields))


def _key(data: Mapping[str, object]) -> tuple[str, str] | None:
    if not isinstance(pid := data.get("portfolio_id"), str):
        return None
    day = data.get("as_of")
    if not isinstance(day, str) and isinstance(month := data.get("month"), str):
        day = f"{month}-01"
    return pid, day if isinstance(day, str) else ""


def home_partition(book: ScheduleBook, portfolio_id: str, day: str, partitions: int) -> int:
    """The partition a portfolio's entry for `day` settles in: its group's on a group day."""
    timeline = book.timelines.get(portfolio_id)
    if timeline is not None and timeline.grouped:
        try:
            on = date.fromisoformat(day)
        except ValueError:
            on = None
        group = None if on is None else book.group_on(portfolio_id, on)
        if group is not None:
            return partition_of(group.group_id, partitions)
    return partition_of(portfolio_id, partitions)


def intake_partitions(fields: Mapping[bytes, bytes], partitions: int) -> list[int]:
    """Where an entry of an unpartitioned stream goes: its portfolio's partition; a command
    naming no portfolio to every partition (each closes its own portfolios); an entry naming
    nothing to partition 0, which dead-letters what it cannot read."""
    data = _data(fields)
    if (key := _key(data)) is not None:
        return [partition_of(key[0], partitions)]
    if data.get("type") == "CloseMonthRequested":
        return list(range(partitions))
    return [0]


def held_in(
    book: ScheduleBook, portfolio_ids: list[str], month: str, partition: str | None, partitions: int
) -> list[str]:
    """The portfolios whose month `partition` settles (None: the only one, all of them)."""
    if partition is None:
        return portfolio_ids
    day = f"{month}-01"
    return [p for p in portfolio_ids if home_partition(book, p, day, partitions) == int(partition)]

"""How the read model names things in Redis: generations, and the fields of a generation's
hashes (`:names` by folded name, `:amendments` by `agreement#number`, `:now` answers by
portfolio and number)."""

from __future__ import annotations

import time


def new_generation() -> str:
    return f"g{time.time_ns()}"


def name_key(name: str) -> str:
    """How names are matched: whitespace collapsed, case folded (as `ScheduleBook.resolve`)."""
    return " ".join(name.split()).casefold()


def amendment_field(agreement_id: str, number: int) -> str:
    return f"{agreement_id}#{number}"


# Never in an id (ids have no whitespace), so `pid<SEP>n` cannot be another pid.
_SEP = "\x1f"


def answer_field(pid: str, numbered: tuple[int, str]) -> tuple[str, str]:
    """The `:now` hash field of a portfolio's n-th answer (1-based, as the lookup script)."""
    i, answer = numbered
    return f"{pid}{_SEP}{i + 1}", answer

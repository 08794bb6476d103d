"""Asset bands written as column headers, rates in the rows below them.

Owns one table shape: a header row whose cells are asset levels only ("First $2.5 billion of
Average Net Assets | Next $2.5 billion ... | Excess over $5 billion ..."), then rows of a name
and one bare rate per column ("Classic Value Fund | 0.750% | 0.740% | 0.730%").  The row reader
sees the header as a rateless schedule and each rate as a schedule of its own; here each such
row is rewritten into one level-first schedule ("First $2.5 billion 0.750% Next ...").  A row is
rewritten only when its rate count equals the header's level count; otherwise it is left as
read (and judged uncertain there).

Also owns tables whose header gives the unit of their bands ("Net Assets (millions)",
"$0 - $500 / >$500 - $1,000"): bare amounts in the rows after such a header are in millions.
"""

from __future__ import annotations

import re

from services.parsing.amounts import KEYWORDS, Kind, tokenize
from services.parsing.rows import Row

__all__ = ["apply_band_headers", "apply_millions"]

_OPENERS = frozenset({"FIRST", "NEXT", "OVER", "ALL", "FROM", "BETWEEN", "REST"})


def _levels(text: str) -> list[str]:
    """A header's level cells: split where a new level opens after an amount."""
    groups: list[str] = []
    start = 0
    seen_amount = False
    for tok in tokenize(text):
        opener = tok.kind is Kind.WORD and KEYWORDS.get(tok.value) in _OPENERS
        if opener and seen_amount:
            groups.append(text[start : tok.start].strip())
            start, seen_amount = tok.start, False
        if tok.kind is Kind.AMOUNT:
            seen_amount = True
    if seen_amount:
        groups.append(text[start:].strip())
    return groups


def _bare_rates(row: Row) -> list[str] | None:
    """The row's rates when every segment is one rate and nothing else."""
    rates = []
    for text in row.fee_texts():
        toks = [t for t in tokenize(text) if t.kind is not Kind.PUNCT]
        if len(toks) != 1 or toks[0].kind is not Kind.RATE:
            return None
        rates.append(text.strip())
    return rates


def _rateless(row: Row) -> bool:
    return all(t.kind is not Kind.RATE for text in row.fee_texts() for t in tokenize(text))


def apply_band_headers(rows: list[Row]) -> None:
    """Rewrite rows of bare rates under a header of levels into level-first schedules."""
    levels: list[str] = []
    for row in rows:
        if _rateless(row):
            found = _levels(" ".join(row.fee_texts()))
            levels = found if len(found) >= 2 else []
            continue
        rates = _bare_rates(row)
        if levels and rates is not None and len(rates) == len(levels):
            joined = " ".join(f"{lvl} {rate}" for lvl, rate in zip(levels, rates, strict=True))
            row.segments = [[joined]]


# "Net Assets (millions)", "(in millions)", "($ millions)", "in millions of dollars".
_MILLIONS_HEADER = re.compile(
    r"\(\s*(?:in\s+)?(?:\$\s*)?millions?\s*\)|\bin\s+millions\b|\(\s*\$\s*mm?\s*\)",
    re.IGNORECASE,
)
# A bare dollar amount: no unit after it, and small enough not to be whole dollars.
_BARE_AMOUNT = re.compile(
    r"\$\s?(\d{1,3}(?:,\d{3})?(?:\.\d{1,4})?)(?![\d,.]*\d)(?!\s*(?:million|billion|thousand))",
    re.IGNORECASE,
)


def apply_millions(rows: list[Row], text: str) -> None:
    """Bare amounts of rows below a "(millions)" header are millions of dollars."""
    header = _MILLIONS_HEADER.search(text)
    if header is None:
        return
    for row in rows:
        if row.offset > header.start():
            row.segments = [
                [_BARE_AMOUNT.sub(r"$\1 million", part) for part in seg] for seg in row.segments
            ]

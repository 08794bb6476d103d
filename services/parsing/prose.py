"""Fee schedules written as a sentence, not as a table.

Owns reading "an investment advisory fee equal to 0.50% per annum of the first $1.75 billion of
average daily net assets of the Fund, 0.48% of the next $1.75 billion of such assets, and 0.46%
of such assets over $3.5 billion", "(i) 1.0% ... on net assets below $1.5 billion; (ii) ...",
"a fee ... of 1/365 of 0.44% of the daily closing net asset value of the Fund".  The sentence's
fee span (first rate to the sentence's end) is cleared of words that never change a band - the
fund it is "of", enumerators, "on an annualized basis", the day-count fraction and its
leap-year parenthetical - and read by the same grammar as a table row.  Only one such sentence
may carry rates: two are two readings, and neither is certain.  Linear regexes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

from services.parsing.groups import LISTED_BELOW
from services.parsing.tiers import ScheduleParse, parse_schedule

__all__ = ["ProseFee", "prose_fee"]

_MAX_SENTENCE = 2000
_SENTENCE_END = re.compile(r"(?<![\d$])\.(?=\s+(?:[A-Z(\"]|\d{1,2}\.\s)|\s*$)")
_RATE = re.compile(r"\d{1,3}(?:\.\d{1,8})?\s?%|\d{1,4}\s+basis\s+points", re.IGNORECASE)
_NOISE = (
    re.compile(r"\(\s*1/36[56][^()]{0,200}\)"),  # "(1/366 of 0.44% ... in a leap year)"
    re.compile(r"\b1/36[056]\s+of\s+(?:the\s+)?"),  # a day's share of the annual rate
    re.compile(r"\((?:[ivx]{1,5}|[a-h])\)", re.IGNORECASE),  # enumerators "(ii)"
    re.compile(r"\bon\s+an\s+annual(?:ized)?\s+basis\b", re.IGNORECASE),
    re.compile(r"\bper\s+annum\b", re.IGNORECASE),
    re.compile(
        r"\b(?:of|on)\s+(?:the|each|such)\s+(?:Fund|Portfolio|Series)(?:'s)?\b"
        r"|\bthe\s+(?:Fund|Portfolio)'s\b",
        re.IGNORECASE,
    ),
    re.compile(r"\b(?:daily\s+)?closing\b", re.IGNORECASE),
    re.compile(r"\bon\s+net\s+assets\b", re.IGNORECASE),
    # whose assets the bands count (the aggregation itself is judged apart, on the sentence)
    re.compile(r"\bof\s+the\s+" + LISTED_BELOW, re.IGNORECASE),
)


@dataclass(frozen=True, slots=True)
class ProseFee:
    parse: ScheduleParse
    sentence: str


def _sentences(text: str) -> list[str]:
    ends = [0, *(m.end() for m in _SENTENCE_END.finditer(text)), len(text)]
    sentences = (text[start:end].strip() for start, end in pairwise(ends))
    return [s for s in sentences if s]


def _fee_span(sentence: str) -> str:
    first = _RATE.search(sentence)
    span = sentence[first.start() :] if first else sentence
    for pattern in _NOISE:
        span = pattern.sub(" ", span)
    return span.rstrip(" .;")


def prose_fee(text: str) -> ProseFee | None:
    """The one sentence of ``text`` that states a fee, read; None when none does, or several
    (two readings, neither certain)."""
    rated = [s for s in _sentences(text) if _RATE.search(s) and len(s) <= _MAX_SENTENCE]
    if len(rated) != 1:
        return None
    return ProseFee(parse_schedule(_fee_span(rated[0])), rated[0])

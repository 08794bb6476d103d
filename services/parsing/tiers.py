"""Schedule phrases -> marginal tiers, or a reason why not.

Owns the grammar of one portfolio's fee text.  Two orientations are read:

* rate first: ``0.70% of first $200 million plus 0.65% of such assets over $200 million up to
  $500 million plus 0.625% over $500 million`` / ``0.300% up to $500 million; 0.275% from $500
  million to $1 billion; and 0.250% in excess of $1 billion`` / ``70 basis points on ...``;
* level first (tables, dot leaders): ``First $250 million ..... 0.60% Next $250 million ...
  0.575%`` / ``On first $2 billion 0.1000% On next $3 billion 0.0000% Over $10 billion ...`` /
  ``All Assets 0.247%``.

Certainty over coverage: every word must be known (rate, amount, band keyword or filler), every
clause must match a band pattern, and the bands must start at 0, be contiguous and strictly
increasing, and end open.  Anything else is reported not ok with a note saying why; the bands
read before the problem are kept for display only.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from services.parsing.amounts import FILLER, KEYWORDS, Kind, Token, dollars, tokenize

__all__ = [
    "Band",
    "ScheduleParse",
    "parse_schedule",
    "parse_tokens",
    "starts_fresh",
]

# Management fees above this are not fees we can be sure we read right.
_MAX_RATE = Decimal("5")
# Words a complete phrase cannot end on: the text was cut or the phrase is garbled.
_DANGLING = frozenset(
    {"of", "the", "on", "such", "at", "in", "a", "an", "plus", "and", "to", "up", "over", "first"}
    | {"next", "from", "between", "excess", "exceeding", "above"}
)


@dataclass(frozen=True, slots=True)
class Band:
    lower: int
    upper: int | None
    rate: str
    written: str = ""  # basis-point phrase as written, when the rate was in bps


@dataclass(slots=True)
class ScheduleParse:
    bands: list[Band] = field(default_factory=list)
    ok: bool = False
    note: str | None = None
    rate_markers: list[str] = field(default_factory=list)
    amount_markers: list[str] = field(default_factory=list)
    has_rate: bool = False
    end_marker: str = ""  # marker glued to the schedule's last word: a note on all of it


class _Sym(NamedTuple):  # a NamedTuple: made for every token, and cheap to make
    name: str  # RATE AMT FIRST NEXT OVER UPTO FROM BETWEEN AND PLUS ALL REST
    tok: Token


def _symbols(tokens: list[Token]) -> tuple[list[_Sym], list[str]]:
    """Grammar symbols and the words/numbers that are not schedule language."""
    syms: list[_Sym] = []
    unknown: list[str] = []
    rate, amount, number, punct = Kind.RATE, Kind.AMOUNT, Kind.NUMBER, Kind.PUNCT
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        kind = tok.kind
        if kind is rate:
            syms.append(_Sym("RATE", tok))
        elif kind is amount:
            syms.append(_Sym("AMT", tok))
        elif kind is number:
            unknown.append(tok.text)
        elif kind is punct:
            if tok.text == "$":
                unknown.append("$")
            elif tok.text in (">", ">=", "\u2265") and _before_amount(tokens, i):
                syms.append(_Sym("OVER", tok))  # ">$500 - $1,000"
            elif _is_range_dash(tokens, i, syms):
                syms.append(_Sym("UPTO", tok))  # "$1 billion - $3 billion"
        else:
            word = tok.value
            key = KEYWORDS.get(word)
            if key == "UP":
                nxt = tokens[i + 1] if i + 1 < len(tokens) else None
                if nxt is not None and nxt.kind is Kind.WORD and nxt.value == "to":
                    syms.append(_Sym("UPTO", tok))
                    i += 1 + _inclusive(tokens, i + 2)
                else:
                    unknown.append(tok.text)
            elif key == "TO":
                syms.append(_Sym("UPTO", tok))
            elif key == "UNIT":
                unknown.append(tok.text)
            elif key == "OVER" and syms and syms[-1].name == "OVER":
                pass  # "excess over $5 billion": one "over"
            elif key is not None:
                syms.append(_Sym(key, tok))
            elif word not in FILLER:
                unknown.append(tok.text)
        i += 1
    return syms, unknown


def _before_amount(tokens: list[Token], i: int) -> bool:
    return i + 1 < len(tokens) and tokens[i + 1].kind is Kind.AMOUNT


def _is_range_dash(tokens: list[Token], i: int, syms: list[_Sym]) -> bool:
    """A dash between two amounts: a band written as a range."""
    after_amount = bool(syms) and syms[-1].name == "AMT" and syms[-1].tok is tokens[i - 1]
    dash = tokens[i].text.strip(".\u2026") in ("-", "--")
    return dash and after_amount and _before_amount(tokens, i)


def _inclusive(tokens: list[Token], i: int) -> int:
    """How many tokens at ``i`` spell "and including": 'up to and including $X' = 'up to $X'."""
    words = [t.value for t in tokens[i : i + 2] if t.kind is Kind.WORD]
    return 2 if words == ["and", "including"] else 0


def _strip_connectors(cond: list[_Sym]) -> list[_Sym]:
    lo, hi = 0, len(cond)
    while lo < hi and cond[lo].name in ("PLUS", "AND"):
        lo += 1
    while hi > lo and cond[hi - 1].name in ("PLUS", "AND"):
        hi -= 1
    out = cond[lo:hi]
    if len(out) > 1 and out[0].name == "ALL":
        out = out[1:]  # "on all assets over $1 billion"
    return out


def _amount(sym: _Sym) -> int:
    return int(sym.tok.value)


def _interpret(cond: list[_Sym], cursor: int) -> tuple[int, int | None] | str | None:
    """(lower, upper) of one clause, 'flat' for a single-rate fee, or None when unreadable."""
    shape = tuple(s.name for s in cond)
    if shape in ((), ("ALL",)):
        return "flat"
    if shape in (("FIRST", "AMT"), ("UPTO", "AMT")):
        return (0, _amount(cond[1]))
    if shape == ("NEXT", "AMT") and cursor > 0:  # a schedule never starts with "next"
        return (cursor, cursor + _amount(cond[1]))
    if shape == ("OVER", "AMT"):
        return (_amount(cond[1]), None)
    if shape in (
        ("OVER", "AMT", "UPTO", "AMT"),
        ("FROM", "AMT", "UPTO", "AMT"),
        ("BETWEEN", "AMT", "AND", "AMT"),
        ("OVER", "AMT", "AND", "UPTO", "AMT"),
    ):
        return (_amount(cond[1]), _amount(cond[-1]))
    if shape == ("AMT", "UPTO", "AMT"):
        return (_amount(cond[0]), _amount(cond[2]))
    if shape in (("REST",), ("OVER",)):
        return (cursor, None)
    return None


def _clauses(syms: list[_Sym]) -> tuple[list[tuple[_Sym, list[_Sym]]], list[_Sym]]:
    """Pair each rate with its condition, plus the levels after the last rate (level first)."""
    if syms[0].name == "RATE":  # each rate's condition runs to the next rate
        starts = [i for i, s in enumerate(syms) if s.name == "RATE"] + [len(syms)]
        return [(syms[a], syms[a + 1 : b]) for a, b in itertools.pairwise(starts)], []
    clauses: list[tuple[_Sym, list[_Sym]]] = []
    pending: list[_Sym] = []
    for s in syms:
        if s.name == "RATE":
            clauses.append((s, pending))
            pending = []
        else:
            pending.append(s)
    return _unstack(clauses), pending


_OPENERS = frozenset({"FIRST", "NEXT", "OVER", "FROM", "BETWEEN", "ALL"})


def _level_groups(cond: list[_Sym]) -> list[list[_Sym]]:
    """'First $1 billion $1 billion - $3 billion' -> [[First, $1bn], [$1bn, -, $3bn]]."""
    groups: list[list[_Sym]] = []
    for s in cond:
        prev = groups[-1][-1].name if groups and groups[-1] else None
        fresh = s.name in _OPENERS or (s.name == "AMT" and prev == "AMT")
        if not groups or (fresh and prev not in (None, "FROM", "BETWEEN", "AND", "UPTO")):
            groups.append([s])
        else:
            groups[-1].append(s)
    return groups


def _unstack(clauses: list[tuple[_Sym, list[_Sym]]]) -> list[tuple[_Sym, list[_Sym]]]:
    """Cells stacked in a table ('level, level | rate, rate'): a rate holding n levels and
    followed by n - 1 rates without any gets one level each, in order."""
    out: list[tuple[_Sym, list[_Sym]]] = []
    i = 0
    while i < len(clauses):
        rate, cond = clauses[i]
        groups = _level_groups(cond)
        n = len(groups)
        following = clauses[i + 1 : i + n]
        if n > 1 and len(following) == n - 1 and all(not c for _, c in following):
            rates = [rate] + [r for r, _ in following]
            out.extend(zip(rates, groups, strict=True))
            i += n
        else:
            out.append((rate, cond))
            i += 1
    return out


def parse_schedule(text: str) -> ScheduleParse:
    """Read one portfolio's fee text; ``ok`` only when the reading is certain."""
    return parse_tokens(tokenize(text))


def parse_tokens(tokens: list[Token]) -> ScheduleParse:
    """:func:`parse_schedule` on already tokenised fee text."""
    result = ScheduleParse()
    syms, unknown = _symbols(tokens)
    result.rate_markers = [s.tok.marker for s in syms if s.name == "RATE" and s.tok.marker]
    result.amount_markers = [s.tok.marker for s in syms if s.name == "AMT" and s.tok.marker]
    result.end_marker = _end_marker(tokens)
    if not any(s.name == "RATE" for s in syms):
        result.note = "no rate found in the fee text"
        return result
    result.has_rate = True
    clauses, rateless_levels = _clauses(syms)
    problems: list[str] = []
    if unknown:
        shown = " ".join(unknown[:8])
        problems.append(f"fee text has words a plain schedule does not use: '{shown}'")
    if rateless_levels:
        problems.append("an asset level has no rate (schedule incomplete)")
    last_word = next(
        (t for t in reversed(tokens) if t.kind is not Kind.PUNCT or t.text == "$"), None
    )
    if last_word is not None and last_word.kind is Kind.WORD and last_word.value in _DANGLING:
        problems.append(f"fee text ends mid-phrase ('{last_word.text}'): schedule incomplete")
    result.bands, open_ended, band_problems = _bands(clauses)
    problems += band_problems
    if not problems and not open_ended:
        problems.append("the last band is not open-ended (schedule incomplete)")
    result.ok = not problems
    result.note = "; ".join(problems) if problems else None
    return result


def _end_marker(tokens: list[Token]) -> str:
    """The footnote marker ending a schedule: glued ('$1 billion3') or after its stop ('.3')."""
    words = [t for t in tokens if t.kind is not Kind.PUNCT or t.text.startswith(".")]
    if not words:
        return ""
    last = words[-1]
    if last.kind in (Kind.AMOUNT, Kind.RATE):
        return last.marker
    after_stop = len(words) > 1 and words[-2].text.startswith(".")
    if last.kind is Kind.NUMBER and after_stop and last.text.isdigit() and len(last.text) <= 2:
        return last.text
    return ""


def _bands(clauses: list[tuple[_Sym, list[_Sym]]]) -> tuple[list[Band], bool, list[str]]:
    """The clauses as contiguous bands from 0, whether the last is open, and what is wrong."""
    bands: list[Band] = []
    problems: list[str] = []
    cursor = 0
    open_ended = False
    for rate_sym, raw_cond in clauses:
        cond = _strip_connectors(raw_cond)
        rate = rate_sym.tok.value
        try:
            if not Decimal(rate) < _MAX_RATE:
                problems.append(f"implausible rate {rate}%")
        except InvalidOperation:
            problems.append(f"unreadable rate '{rate_sym.tok.text}'")
            break
        span = _interpret(cond, cursor)
        if span is None:
            words = " ".join(s.tok.text for s in cond)
            problems.append(f"cannot read the band of rate {rate}% ('{words}')")
            break
        if span == "flat":
            if len(clauses) != 1:
                problems.append(f"rate {rate}% has no asset band while other rates do")
                break
            span = (0, None)
        assert not isinstance(span, str)
        lower, upper = span
        if open_ended:
            problems.append("an open-ended band is followed by another band")
            break
        if lower != cursor:
            problems.append(
                f"band of rate {rate}% starts at {dollars(lower)} but the previous band "
                f"ends at {dollars(cursor)} (bounds not contiguous)"
            )
            break
        if upper is not None and upper <= lower:
            problems.append(f"band of rate {rate}% does not increase ({dollars(upper)})")
            break
        bands.append(Band(lower, upper, rate, rate_sym.tok.written))
        if upper is None:
            open_ended = True
        else:
            cursor = upper
    return bands, open_ended, problems


def starts_fresh(tokens: list[Token]) -> bool:
    """Whether fee text begins a new schedule (a rate, or a 'first'/'all assets' level)."""
    syms, _ = _symbols(tokens[:12])
    return bool(syms) and syms[0].name in ("RATE", "FIRST", "ALL")

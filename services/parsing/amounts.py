"""Money and rate phrases: the tokens of fee-schedule text.

Owns the vocabulary of schedules: rates (``0.650%``, ``0.45 %``, ``1.0 percent``, ``70 basis
points``), dollar amounts (``$500 million``, ``$1.1 billion``, ``$1,000,000,000``, with footnote
markers glued on such as ``$125 million2`` or ``$500 million**``), the keywords that place a rate
on a band (first, next, over, up to, in excess of, ...), and the filler words schedules are
padded with.  Rates stay strings exactly as written (basis points converted to percent);
amounts become whole-dollar ints.  Decimal only, never float.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import Enum

__all__ = [
    "CAPTION_FILLER",
    "FILLER",
    "KEYWORDS",
    "Kind",
    "Token",
    "bps_to_percent",
    "dollars",
    "merge_bare_amounts",
    "money_to_int",
    "tokenize",
]


class Kind(Enum):
    RATE = "rate"
    AMOUNT = "amount"
    WORD = "word"
    NUMBER = "number"
    PUNCT = "punct"


@dataclass(slots=True)
class Token:
    kind: Kind
    text: str  # as written
    start: int
    value: str = ""  # RATE: percent string; AMOUNT: whole dollars; WORD: lowercase word
    marker: str = ""  # footnote marker glued to a rate or amount
    written: str = ""  # RATE in basis points: the original phrase


_TOKEN = re.compile(
    r"(?P<amount>\$ {0,3}(?P<anum>\d[\d,]{0,20}(?:\.\d{1,6})?)"
    r"(?: {0,3}(?P<unit>million|billion|thousand)(?P<amark>\d{1,2}(?![\d.,]\d)|\*{1,4})?)?)"
    r"|(?P<rate>(?P<rnum>\d{1,3}(?:\.\d{1,8})?|\.\d{1,8}) {0,3}(?:%|percent\b|per cent\b)"
    r"(?P<rmark>\*{1,4})?)"
    r"|(?P<bps>(?P<bnum>\d{1,4}(?:\.\d{1,4})?) {0,3}(?:basis {1,3}points?|bps|bp)\b)"
    r"|(?P<word>[A-Za-z\u00c0-\u024f][A-Za-z\u00c0-\u024f'\-]{0,60})"
    r"|(?P<number>\d[\d,.]{0,30})"
    r"|(?P<punct>\$|[^\sA-Za-z\d$]{1,50})",
    re.IGNORECASE,
)
_UNITS = {"thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}

# Words that place a rate on a band.  Values are the grammar symbols tiers.py reads.
KEYWORDS: dict[str, str] = {
    "first": "FIRST",
    "next": "NEXT",
    # "greater than $10 billion"
    **dict.fromkeys(("over", "above", "greater", "exceeding", "exceeds", "excess"), "OVER"),
    "up": "UP",
    **dict.fromkeys(("to", "through", "below"), "TO"),  # "on net assets below $1.5 billion"
    "from": "FROM",
    "between": "BETWEEN",
    "and": "AND",
    "plus": "PLUS",
    "all": "ALL",
    "thereafter": "REST",
    **dict.fromkeys(("million", "billion"), "UNIT"),
}
# Words schedules are padded with that never change a band or a rate: those a table's caption
# shares ("Annual Rate of Average Daily Net Assets"), then those of fee text only.
CAPTION_FILLER: frozenset[str] = frozenset(
    {
        "of",
        "assets",
        "asset",
        "the",
        "on",
        "average",
        "daily",
        "net",
        "value",
        "annual",
        "rate",
        "per",
        "annum",
        "in",
        "an",
        "a",
        "amount",  # "Amount Over $1 billion"
    }
)
FILLER: frozenset[str] = CAPTION_FILLER | {"such", "at", "fund's", "portfolio's", "than"}


def money_to_int(number: str, unit: str | None) -> int | None:
    """'1.1', 'billion' -> 1100000000; None when not a whole number of dollars."""
    try:
        value = Decimal(number.replace(",", ""))
    except InvalidOperation:
        return None
    value *= _UNITS.get((unit or "").lower(), 1)
    if value != value.to_integral_value():
        return None
    return int(value)


def bps_to_percent(bps: str) -> str:
    """70 -> '0.70', 12.5 -> '0.125': basis points as a percent string, two places at least."""
    value = Decimal(bps) / 100
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -2:
        return f"{value:.2f}"
    return str(value)


def dollars(amount: int) -> str:
    """'$1.5 billion', '$250 million' (a whole thousandth of the unit), else '$1,234,567'."""
    for unit, size in (("billion", 1_000_000_000), ("million", 1_000_000)):
        if amount >= size and amount % (size // 1000) == 0:
            return f"${Decimal(amount) / size:f} {unit}"
    return f"${amount:,}"


def tokenize(text: str) -> list[Token]:
    """Fee-text tokens in order; whitespace dropped, everything else kept."""
    tokens: list[Token] = []
    append = tokens.append
    for m in _TOKEN.finditer(text):
        group = m.lastgroup
        start = m.start()
        if group == "word":
            word = m.group()
            append(Token(Kind.WORD, word, start, word.lower()))
        elif group == "punct":
            append(Token(Kind.PUNCT, m.group(), start))
        elif group == "rate":
            append(Token(Kind.RATE, m.group(), start, m.group("rnum"), m.group("rmark") or ""))
        elif group == "amount":
            amount = money_to_int(m.group("anum"), m.group("unit"))
            if amount is None:
                append(Token(Kind.NUMBER, m.group(), start))
            else:
                append(Token(Kind.AMOUNT, m.group(), start, str(amount), m.group("amark") or ""))
        elif group == "bps":
            written = m.group().strip()
            append(Token(Kind.RATE, m.group(), start, bps_to_percent(m.group("bnum")), "", written))
        else:
            append(Token(Kind.NUMBER, m.group(), start))
    return merge_bare_amounts(tokens)


def merge_bare_amounts(tokens: list[Token]) -> list[Token]:
    """'500 million' written without '$' is an amount too."""
    if not any(map(is_unit, tokens)):
        return tokens
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        unitless = tok.kind is Kind.AMOUNT and not any(c.isalpha() for c in tok.text)
        if (tok.kind is Kind.NUMBER or unitless) and nxt is not None and is_unit(nxt):
            amount = money_to_int(tok.text.lstrip("$ "), nxt.value)
            if amount is not None:
                out.append(Token(Kind.AMOUNT, tok.text + " " + nxt.text, tok.start, str(amount)))
                i += 2
                continue
        out.append(tok)
        i += 1
    return out


def is_unit(tok: Token) -> bool:
    """A unit word ('million', 'billion') of an amount."""
    return tok.kind is Kind.WORD and KEYWORDS.get(tok.value) == "UNIT"


def is_fee_word(tok: Token) -> bool:
    """Whether a token belongs to the language of fee schedules."""
    if tok.kind is not Kind.WORD:
        return tok.kind is Kind.PUNCT or is_strong(tok)
    # "including" only of "up to and including $X": the grammar rejects it elsewhere.
    return tok.value in KEYWORDS or tok.value in FILLER or tok.value == "including"


def is_strong(tok: Token) -> bool:
    """A rate or an amount: what makes a stretch of text a schedule rather than prose."""
    return tok.kind in (Kind.RATE, Kind.AMOUNT) or (
        tok.kind is Kind.NUMBER and tok.text.startswith("$")  # "$1.4", its "billion" wrapped
    )

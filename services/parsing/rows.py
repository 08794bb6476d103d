"""Schedule rows: which portfolio name goes with which fee text.

Owns the layout problem.  Filings lay schedules out as fixed-width two-column tables (names
wrapping in the left column while the fee wraps in the right one), flattened tables whose
columns are interleaved line by line, ``|`` cell tables with asset-level and rate columns,
dot-leader lists under a heading, and one-line cells.  Instead of trusting column positions,
each piece is split into a *left* part (name or prose) and a *right* part (fee language: rates,
amounts, band keywords, filler), and a small state machine joins them:

* a name followed by fee text opens a row; name fragments that arrive while the fee is still
  incomplete (``Portfolio`` under a wrapped name, ``(formerly known as ...``) extend its name;
* fee text extends the row until its schedule is complete; a fresh schedule after a complete
  one is a second schedule of the same row (waivers: before and after);
* prose, a new name, or a header ends the row.

Linear in the number of pieces; the completeness check is bounded by a cap on fee length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from services.parsing.amounts import (
    CAPTION_FILLER,
    KEYWORDS,
    Kind,
    Token,
    is_fee_word,
    is_strong,
    is_unit,
    merge_bare_amounts,
    tokenize,
)
from services.parsing.header import ADVISER_TITLES, MONTHS
from services.parsing.text import Piece
from services.parsing.tiers import parse_tokens, starts_fresh

__all__ = ["GENERIC_NAME_WORDS", "HEADER_WORDS", "ReadRows", "Row", "read_rows"]

# Fee text longer than this is not one portfolio's schedule; stop re-reading it.
MAX_FEE_CHARS = 3000
# No filing has more schedule rows than this; reading stops there.
MAX_ROWS = 500
# Longer pieces are paragraphs; they are read as prose without tokenising.
MAX_PIECE_CHARS = 2500
_TERMINALS = frozenset({"portfolio", "fund"})
_GAP = re.compile(r" {3,}")
_LEVEL_WORDS = frozenset({"first", "next", "over", "all", "on", "up", "from", "between", "in"})
# Words of a fund's name that name no fund in particular ("the Series", "Portfolio").
GENERIC_NAME_WORDS = frozenset(["portfolio", "portfolios", "fund", "funds", "series", "the"])
# The words of a table's caption ("Portfolio | Sub-Adviser Fee as a Percentage of Average Daily
# Net Assets"): generic name words, an adviser's titles, the filler it shares with fee text, and
# its own words.
HEADER_WORDS = (
    GENERIC_NAME_WORDS
    | CAPTION_FILLER
    | frozenset(
        [
            *ADVISER_TITLES,
            "name",
            "names",
            "percentage",
            "rates",
            "fee",
            "fees",
            "schedule",
            "before",
            "after",
            "waiver",
            "compensation",
            "level",
            "levels",
            "breakpoint",
            "breakpoints",
            "company",
            "effective",
            "date",
            "advisory",
            "management",
            "and",
            "as",
            "percent",
            "millions",
            "thousands",
            "total",
            "basis",
            "points",
            "under",
            "for",
            "with",
            "by",
            "tier",
            "tiers",
            "band",
            "bands",
            "range",
            "ranges",
            "aggregate",
            "applicable",
            "payable",
        ]
    )
)
_PROSE_WORDS = frozenset(
    [
        "shall",
        "hereby",
        "will",
        "is",
        "are",
        "be",
        "been",
        "was",
        "were",
        "agree",
        "agrees",
        "agreed",
        "whereas",
        "witness",
        "pursuant",
        "dated",
        "hereto",
        "herein",
        "thereof",
        "therefore",
    ]
)
_SIGNATURE = re.compile(
    r"^(?:by|name|title|attest|its|date|dated)\s*:|^/s/|^exhibit\b|^(?:schedule|appendix|"
    r"attachment|section|annex)\s+[A-Z0-9]{1,4}\b",
    re.IGNORECASE,
)
_JUNK = re.compile(r"^(?:[\divxlc]{1,6}[.)]?|\([\divxlc]{1,6}\)|[-=_.\s*]+)$", re.IGNORECASE)
_FOOTNOTE = re.compile(r"^(\*{1,4}|\d{1,2})(?:\s+|(?=[A-Z]))(\S.*)$", re.DOTALL)
_MARKER_ONLY = re.compile(r"^(\*{1,4}|\d{1,2})$")
_NAME_HEADING = re.compile(r"^[A-Z][\w&.,'/\- ]{0,100}\b(?:Fund|Portfolio|FUND|PORTFOLIO)\s?:$")
_RULE = re.compile(r"^[-=_\s]{1,400}$")
_FORMER_PAREN = re.compile(r"\(\s*formerly\b[^()]{0,300}\)", re.IGNORECASE)
_DATE_CELL = re.compile(
    r"^(?:" + MONTHS + r")\s{1,3}\d{1,2},?\s{1,3}\d{4}$|^\d{1,2}/\d{1,2}/\d{2,4}$",
    re.IGNORECASE,
)
_CAPS_TAIL = re.compile(r"(?:^|\s)((?:[A-Z0-9][A-Z0-9&/.'\-]*\s+){1,10}(?:FUND|PORTFOLIO))\s*$")


@dataclass(slots=True)
class Row:
    """One portfolio (or shared heading) with the fee text that follows it."""

    name_parts: list[str]
    segments: list[list[str]]
    offset: int
    tokens: list[Token] = field(default_factory=list)  # of the last segment
    beside: bool = False  # the fee began on the same line as a name part (two columns)
    name_column: int = 0
    last_line: int = 0
    footnote: str | None = None  # footnote text printed right after the row
    at_end: bool = False  # nothing but junk follows it: the text may have been cut inside it
    too_long: bool = False
    row_date: str | None = None  # the row's own effective date, from a date column

    @property
    def name(self) -> str | None:
        return " ".join(self.name_parts).strip() or None

    def fee_texts(self) -> list[str]:
        return [" ".join(seg) for seg in self.segments]


@dataclass(slots=True)
class ReadRows:
    rows: list[Row] = field(default_factory=list)
    footnotes: dict[str, str] = field(default_factory=dict)  # marker -> text
    prose: list[Piece] = field(default_factory=list)  # prose pieces, footnotes excluded


def _ends_with_terminal(name: str) -> bool:
    words = re.findall(r"[A-Za-z]+", name)
    return bool(words) and words[-1].lower() in _TERMINALS


def _split(text: str) -> tuple[str, str, list[Token]]:
    """(left, right, tokens): name/prose text, then the fee text that ends the piece and its
    tokens."""
    if len(text) > MAX_PIECE_CHARS:
        return text, "", []  # a paragraph, not a schedule cell
    toks = tokenize(text)
    if not toks:
        return text, "", []
    s = len(toks)
    while s > 0 and is_fee_word(toks[s - 1]):
        s -= 1
    if s == 0:
        if all(_name_word(t) for t in toks):
            return text, "", []  # "Value", "Net Asset Value": a name fragment or a header
        # "Value      such assets over ...": a capitalised name fragment in the name column.
        if (gap := _GAP.search(text)) is not None:
            head = [t for t in toks if t.start < gap.start()]
            header = len(head) >= 2 and all(t.value in HEADER_WORDS for t in head)
            if head and all(_name_word(t) for t in head) and not header:
                return text[: gap.start()].strip(), text[gap.end() :].strip(), toks[len(head) :]
        return "", text, toks
    # Fixed-width columns: a wide gap after the last non-schedule word separates the name
    # column from the fee column, whatever words the fee column starts with.
    last = toks[s - 1]
    if (gap := _GAP.search(text, last.start + len(last.text))) is not None and s < len(toks):
        rest = [t for t in toks[s:] if t.start >= gap.end()]
        if rest:
            return text[: gap.start()].strip(), text[gap.end() :].strip(), rest
    if s < len(toks) and (any(is_strong(t) for t in toks[s:]) or is_unit(toks[s])):
        split = s  # "billion up to ...": the unit of an amount wrapped from the line above
    else:
        rate = next((i for i, t in enumerate(toks) if t.kind is Kind.RATE), None)
        if rate is None:
            return text, "", []
        split = rate
    split = _give_back(toks, split)
    if split >= len(toks):
        return text, "", []
    cut = toks[split].start
    return text[:cut].strip(), text[cut:].strip(), toks[split:]


def _name_word(tok: Token) -> bool:
    return tok.kind is Kind.WORD and tok.text[:1].isupper() and tok.value not in KEYWORDS


def _give_back(toks: list[Token], split: int) -> int:
    """Capitalised filler ('Floating Rate') and closing punctuation belong to the name."""
    while split < len(toks) and (
        ((tok := toks[split]).kind is Kind.PUNCT and tok.text != "$")
        or (tok.kind is Kind.WORD and tok.text[:1].isupper() and tok.value not in _LEVEL_WORDS)
    ):
        split += 1
    return split


def _classify(left: str) -> str:
    """'junk' | 'header' | 'prose' | 'cont' | 'name' for the left part of a piece."""
    if not any(c.isalpha() for c in left) or _JUNK.match(left):
        return "junk"
    words = [w for raw in left.split() if (w := raw.strip("*,.;:()\"'").lower())]
    if words and all(w in HEADER_WORDS for w in words):
        return "header"
    # A former name in parentheses lengthens a name cell without making it prose.
    bare = _FORMER_PAREN.sub("", left)
    if _NAME_HEADING.match(left) and not any(w in _PROSE_WORDS for w in words):
        return "name"  # "Core Plus Bond Fund:" heading its schedule
    if (
        len(bare.split()) > 14
        or len(bare) > 120
        or left.endswith(":")
        or _SIGNATURE.search(left)
        or any(w in _PROSE_WORDS for w in words)
        or (left.startswith(("*", "(")) and not left.lower().startswith("(formerly"))
    ):
        return "prose"
    if left[0].islower() or left[0] == "(":
        return "cont"
    return "name"


class _Reader:
    def __init__(self) -> None:
        self.out = ReadRows()
        self.row: Row | None = None
        self.row_complete = False
        self.pending: list[str] = []
        self.last_marker: str | None = None
        self.left_here = False
        self.pending_column = 0
        self.pending_sealed = False
        self.piece = Piece("", 0, 0, new_cell=False, gap=False)  # the piece being read
        self.pending_date: str | None = None

    # -- row helpers
    def close(self, footnote: str | None = None) -> None:
        if self.row is not None:
            if footnote is not None and self.row.footnote is None:
                self.row.footnote = footnote
            self.out.rows.append(self.row)
        self.row = None
        self.row_complete = False

    def refresh(self) -> None:
        assert self.row is not None
        if sum(len(t) for t in self.row.segments[-1]) > MAX_FEE_CHARS:
            self.row.too_long = True
            self.close()
            return
        self.row_complete = parse_tokens(merge_bare_amounts(self.row.tokens)).ok

    def add_fee(self, right: str, toks: list[Token], new_segment: bool) -> None:
        assert self.row is not None
        if new_segment:
            self.row.segments.append([right])
            self.row.tokens = list(toks)
        else:
            self.row.segments[-1].append(right)
            self.row.tokens.extend(toks)
        self.refresh()

    # -- pieces
    def feed(self, piece: Piece) -> None:
        joinable = not piece.gap and not piece.new_cell
        if _MARKER_ONLY.match(piece.text):
            self.last_marker = piece.text
            return
        if _DATE_CELL.match(piece.text) and piece.new_cell:
            # A per-row "Effective Date" column between the name and its fee.
            if self.row is None:
                self.pending_date = piece.text
            elif self.row.row_date is None:
                self.row.row_date = piece.text  # the column after the fee
            return
        if _RULE.match(piece.text):
            if self.row is not None and self.row_complete:
                self.close()  # a table's row rule under a complete row ends it
            return
        self.piece = piece
        left, right, toks = _split(piece.text)
        kind = _classify(left) if left else None
        if kind == "prose":
            self.prose(piece, left)
            return
        if kind == "junk":
            left = ""
        self.last_marker = None
        self.left_here = bool(left) and kind in ("name", "cont")
        if kind == "header":
            # Header words ("Value Fund", "Portfolio") may be the wrapped end of a name.
            if self.row is not None and joinable and self._continues_name(left, "cont", toks):
                self.row.name_parts.append(left)
                self.row.last_line = piece.line
            elif self.row is not None and self.row_complete:
                self.close()  # a repeated column header: the next table begins
            elif self.pending and not _ends_with_terminal(self.pending[-1]):
                if joinable and self.row is None and _ends_with_terminal(left):
                    self.pending.append(left)  # "Met/Franklin Income" / "Portfolio"
                else:
                    self.pending_sealed = True  # a header line under the name ends it
            left = ""
        if left:
            self.name(left, kind or "name", toks, joinable)
        if right:
            self.fee(right, toks)
        if self.row is not None and (left or right):
            self.row.last_line = piece.line

    def _continues_name(self, left: str, kind: str, toks: list[Token]) -> bool:
        """A name fragment on the next line: the wrapped rest of the open row's name?"""
        assert self.row is not None
        if not self.row_complete:
            return True  # the fee is still being written beside it (wrapped two-column row)
        if toks and starts_fresh(toks):
            return False
        name_open = not _ends_with_terminal(self.row.name or "") or left.startswith("(")
        if kind == "cont" and name_open:
            return True
        # A complete one-line fee beside the first line of a name that wraps below it.
        return (
            self.row.beside
            and name_open
            and abs(self.piece.column - self.row.name_column) <= 2
            and self.piece.line == self.row.last_line + 1
        )

    def prose(self, piece: Piece, left: str) -> None:
        note = _FOOTNOTE.match(left)
        marker, self.last_marker = self.last_marker, None
        if marker is None and note is not None:
            self.out.footnotes.setdefault(note.group(1), note.group(2))
        if marker is not None:
            self.out.footnotes.setdefault(marker, left)
            self.close(footnote=left if marker.startswith("*") else None)
        elif note is not None and not left[0].isdigit():
            self.close(footnote=left)
        else:
            self.out.prose.append(piece)  # a digit-led note may be a numbered paragraph too
            self.close()
        tail = _CAPS_TAIL.search(left[-200:])
        self.pending = [tail.group(1)] if tail else []

    def name(self, left: str, kind: str, toks: list[Token], joinable: bool) -> None:
        if self.row is not None:
            if joinable and self._continues_name(left, kind, toks):
                self.row.name_parts.append(left)
                return
            self.close()
        extendable = (
            self.pending
            and not self.pending_sealed
            and (not _ends_with_terminal(self.pending[-1]) or left.startswith("("))
        )
        self.pending_sealed = False
        if extendable and joinable:
            self.pending.append(left)
        elif kind == "name":
            self.pending = [left]
            self.pending_column = self.piece.column
        else:
            self.pending = []
            self.out.prose.append(self.piece)  # a sentence's lower-case continuation

    def fee(self, right: str, toks: list[Token]) -> None:
        strong = any(is_strong(t) for t in toks)
        if self.row is not None:
            fresh = self.row_complete and starts_fresh(toks)
            # A strong token goes on a phrase that looked complete ("up to $1 billion plus ...").
            if fresh or strong or not self.row_complete:
                self.add_fee(right, toks, new_segment=fresh)
            return
        if strong or starts_fresh(toks):
            self.row = Row(list(self.pending), [[right]], self.piece.offset, list(toks))
            self.row.beside = self.left_here
            self.row.name_column = self.pending_column
            self.row.row_date = self.pending_date if self.pending else None
            self.pending = []
            self.pending_date = None
            self.refresh()


def read_rows(items: list[Piece]) -> ReadRows:
    """Assemble schedule rows from pieces in document order."""
    reader = _Reader()
    for piece in items:
        if len(reader.out.rows) >= MAX_ROWS:
            break
        reader.feed(piece)
    if reader.row is not None:
        reader.row.at_end = True
        reader.close()
    return reader.out

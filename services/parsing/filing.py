"""Top level: one filing's text -> :class:`FilingReading`.

Owns the judgement of each row: which action the amending sentence gives it (add, revise,
replace in whole, waiver), its name and former name, and whether its schedule is *certain*.
A change is ``parseable`` only when its fee text reads as one plain graduated schedule and
nothing around it can change that reading: no footnote that qualifies it, no aggregation or
proviso in the schedule's prose, no cut by the end of the excerpt.  Everything else is reported
``parseable: false`` with a note saying why.  A schedule on combined assets is never one
portfolio's: it is a ``group`` change when its members are certain (a footnote naming them,
:mod:`services.parsing.groups`, or a prose fee on "the Portfolios listed below" followed by
their names) and nothing else is in doubt, and ``parseable: false`` otherwise.  Never raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from itertools import dropwhile, islice, takewhile
from typing import Any

from services.domain.names import clean_written_name, name_key
from services.parsing.columns import apply_band_headers, apply_millions
from services.parsing.funds import defined_funds, short_names
from services.parsing.groups import (
    GroupMembers,
    aggregate_members,
    listed_below,
    mentions_aggregation,
)
from services.parsing.header import all_caps, find_date, parse_header
from services.parsing.markup import Unwrapped, unwrap
from services.parsing.model import (
    ChangeReading,
    FilingReading,
    GroupReading,
    Period,
    ScheduleReading,
    TierReading,
)
from services.parsing.prose import prose_fee
from services.parsing.renames import apply_renames
from services.parsing.rows import GENERIC_NAME_WORDS, HEADER_WORDS, ReadRows, Row, read_rows
from services.parsing.text import Piece, flatten, normalise, pieces
from services.parsing.tiers import ScheduleParse, parse_schedule

__all__ = ["parse_filing"]

# EDGAR excerpts in this project are stored cut at 2,000 bytes; a schedule that runs to the end
# of such a text may have lost its tail.
_EXCERPT_BYTES = 2000
_MAX_CHANGES = 500
# Amendment exhibits are a few kB, whole agreements a few dozen; beyond this the text is read
# only up to here (and reported truncated), which bounds the time any input can take.
MAX_TEXT_CHARS = 128 * 1024

_ANCHOR = re.compile(
    r"\b(?:is|are|shall\s+be)\s+(?:hereby\s+)?(?:amended|deleted|restated|replaced|removed)\b"
    r"|\bhereby\s+(?:is\s+)?amended\b|\bserves\s+to\s+amend\b|\bshall\s+replace\b",
    re.IGNORECASE,
)
_TARGET = re.compile(
    r"\b(?:schedule|appendix|attachment|section|paragraph|exhibit|fee|compensation)", re.I
)
_REPLACE = re.compile(
    r"amended\s+in\s+whole|in\s+(?:its|their)\s+entirety|deleted\s+(?:\w+\s+)?and\s+replaced"
    r"|\b(?:removed|deleted)\s+(?:\w+\s+){0,2}and\s+replaced"
    r"|\brestated\b|\bshall\s+replace\b|replace\s+the\s+existing|\bdeleting\s+it\b",
    re.IGNORECASE,
)
_REMOVE = re.compile(
    r"\bto\s+(?:remove|delete)\s+(?:the\s+following|reference)\b|\bremove\s+the\s+following\b",
    re.IGNORECASE,
)
_ADD = re.compile(
    r"\bto\s+add\b|\badd\s+the\s+following\b|\bto\s+include\b.{0,200}\bas\s+an?\s+new\b",
    re.IGNORECASE,
)
# The action an amending sentence gives, first match wins ("revise" when none does).
_ACTIONS = ((_REPLACE, "replace_in_whole"), (_REMOVE, "remove"), (_ADD, "add"))
# An addendum or supplement bringing a fund under the agreement: '(the "New Portfolio")', or
# 'commencement of operations' of the fund the schedule is for.
_NEW_FUND = re.compile(
    r"\bthe\s+\"?New\s+(?:Fund|Portfolio|Series)\b|\bcommencement\s+of\s+(?:its\s+)?operations\b"
    r"|\bshall\s+together\s+constitute\b",
    re.IGNORECASE,
)
_NAMED = re.compile(
    r"\b(?:as\s+it\s+relates\s+to|with\s+regard\s+to|with\s+respect\s+to)\s+(.{3,400}?)"
    r"\s+(?:is|are|hereby)\b",
    re.IGNORECASE,
)
_RECITAL_ADD = re.compile(r"\bto\s+add\s+(.{3,400}?)\s+to\s+the\s+(?:Agreement|Trust)\b", re.I)
_PERIOD = re.compile(
    r"\bfor\s+the\s+period\s+(?:from\s+|beginning\s+)?(.{6,40}?)\s+(?:to|through|until)\s+"
    r"(.{6,40})",
    re.IGNORECASE,
)
_FORMERLY = re.compile(r"\(\s*formerly\b(?:\s+known\s+as)?[\s,:]*([^()]{1,200}?)\s*(?:\)|$)", re.I)
_DEFINED_TERM = re.compile(r'\(\s*(?:the\s+)?"[^"]{1,40}"\s*\)', re.IGNORECASE)
_NAME_MARKERS = re.compile(r"(\*{1,4}|(?<=[a-z)])\d{1,2})\s*[,;]?\s*$")
_RISKS = (
    (re.compile(r"\baggregat\w*|\bcombined\s+(?:basis|assets|net)", re.I), "aggregated assets"),
    (re.compile(r"\bprovided,?\s+(?:however|further|that)\b", re.I), "a proviso"),
    (
        re.compile(r"\bperformance\s+(?:fee|adjustment|period)|\bbase\s+fee\b", re.I),
        "a multi-part fee",
    ),
    (re.compile(r"\bdiscount\s+of\b|\breduc\w+\s+by\b", re.I), "a discount"),
    (
        re.compile(
            r"\bconditional\b|\bin\s+the\s+event\s+that\b|\bif\s+the\s+(?:net|average)", re.I
        ),
        "a condition",
    ),
)
# A note saying no fee is paid, under a schedule of zero rates, agrees with it.
_NO_FEE = re.compile(
    r"^(?:the\s+)?[\w ]{1,40}?\s+shall\s+not\s+pay\s+any\s+(?:[\w-]+\s+){0,2}fees?\b", re.I
)
_BENIGN_FOOTNOTE = re.compile(
    r"^\s*as\s+a\s+percentage\s+of\s+(?:the\s+)?average\s+daily\s+net\s+assets"
    r"(?:\s+on\s+an\s+annual\s+basis)?\.?\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class _Instruction:
    offset: int
    action: str
    window: str


def parse_filing(text: str, *, cut: bool | None = None) -> FilingReading:
    """Read one filing (plain or EDGAR HTML-ish text).  Never raises.

    ``cut`` says whether the text may stop mid-document; by default it is guessed from the
    excerpt convention (texts stored cut at 2,000 bytes).
    """
    try:
        return read_filing(text, cut=cut)
    except Exception as exc:  # pragma: no cover - the safety net the tests try to never reach
        # Every other field at its default: an amendment of unknown type, no changes, not cut.
        return FilingReading(document_title=f"unreadable filing ({type(exc).__name__})")


def read_filing(text: str, *, cut: bool | None = None) -> FilingReading:
    """The reading itself; tests call this directly so a bug cannot hide behind the net."""
    unwrapped = _unwrap(text)
    oversized = len(unwrapped.text) > MAX_TEXT_CHARS
    norm = normalise(unwrapped.text[:MAX_TEXT_CHARS])
    flat = flatten(norm)
    reading = parse_header(norm, flat)
    cut = (_looks_cut(text) or oversized) if cut is None else cut
    reading.sections = unwrapped.sections or None
    parts = pieces(norm)
    read = read_rows(parts)
    apply_band_headers(read.rows)
    apply_millions(read.rows, norm)
    continued = _unjoined_continuations(read.rows, parts, cut)
    continued.update(_shared_marker_doubts(read))
    waiver_doc = reading.agreement_type == "fee_waiver"
    instructions = _instructions(norm, waiver_doc)
    default_action = _default_action(reading.kind, flat, bool(instructions))
    start = instructions[0].offset if instructions else 0
    risk = _section_risk(read, start)
    period = _period(flat) if waiver_doc else None
    recital_adds = {_key(n) for m in _RECITAL_ADD.finditer(flat[:6000]) for n in _names_in(m[1])}

    rows = [row for row in read.rows if _plausible(row, flat)]
    named = any(row.name for row in rows)
    funds = [] if named else defined_funds(flat)
    ctx = _Context(
        read, flat, cut, risk, named, waiver_doc, instructions, default_action, norm, start
    )
    shared = funds if len(rows) == 1 or len(funds) == 1 else []
    changes = [c for row in rows[:_MAX_CHANGES] for c in _row_changes(row, ctx, shared, continued)]
    for change in changes:
        if change.portfolio and _key(change.portfolio) in recital_adds:
            change.action = "add"
    _one_schedule_per_fund(changes, funds[0] if len(funds) == 1 else None)
    _expand_short_names(changes, short_names(flat))
    apply_renames(flat, changes)
    if period is not None:
        for change in changes:
            change.period = period
    changes.extend(_missing_named(instructions, changes, period))
    if not changes:
        after = flatten(norm[start:]) if instructions else flat
        action = instructions[-1].action if instructions else default_action
        changes = _prose_changes(after, ctx, funds, action) or _prose_fee(flat, default_action)
    reading.changes = changes
    reading.truncated = cut or any(row.at_end and not _complete(row) for row in read.rows)
    return reading


@dataclass(frozen=True, slots=True)
class _Context:
    """What every row of one filing is judged against."""

    read: ReadRows
    flat: str
    cut: bool
    risk: str | None
    named: bool
    waiver_doc: bool
    instructions: list[_Instruction]
    default_action: str
    norm: str = ""
    start: int = 0  # where the first amending sentence begins


def _row_changes(
    row: Row, ctx: _Context, funds: list[str], doubts: dict[int, str]
) -> list[ChangeReading]:
    """The changes one row gives: one per name (a shared schedule: one per defined fund)."""
    governing = [ins.action for ins in ctx.instructions if ins.offset <= row.offset]
    action = "waiver" if ctx.waiver_doc else (governing or [ctx.default_action])[-1]
    if funds:
        row.name_parts = [funds[0]]  # "the Fund": the fund(s) the preamble defines
    found = _changes_for(row, action, ctx)
    if len(funds) > 1:
        found = [c.model_copy(update={"portfolio": f}) for f in funds for c in found]
    problem = doubts.get(id(row))
    for change in found:
        if row.row_date is not None:
            change.row_effective_date = find_date(row.row_date)
        if problem is not None:
            change.parseable = False
            change.note = "; ".join(filter(None, [change.note, problem]))
    return found


# A line that can only continue a fee phrase ("up to $1.5 billion", "of such assets over ...").
_CONTINUATION = re.compile(
    r"^\s*(?:up\s+to|over|plus|of\s+(?:such|the|average)|in\s+excess|excess|exceeding|"
    r"and\s+(?:over|up|\d|\$)|to\s+\$|\$|\d[\d,.]*\s*(?:%|million|billion))",
    re.IGNORECASE,
)


# What can open a new clause or row: "2. All other terms", "(b) ...", "Janus Forty Portfolio".
_FRESH_START = re.compile(r"^\s*(?:\d{1,2}\.|\(?[a-z0-9]\)|[A-Z][A-Za-z]+)")


def _unjoined_continuations(rows: list[Row], parts: list[Piece], cut: bool) -> dict[int, str]:
    """Rows whose fee text may go on in what follows them, though the reader did not join it.

    Wrapped fixed-width tables sometimes shift a continuation line out of the fee column, and a
    text cut a few characters into the next line leaves a fragment ('u'): either way the
    schedule read so far may be incomplete, and must not be reported as certain.
    """
    out: dict[int, str] = {}
    by_line = {part.line: part for part in reversed(parts)}  # each line's first piece
    for row in rows:
        following = by_line.get(row.last_line + 1)
        if following is None:
            continue
        rest = " ".join(p.text for p in parts if p.line > row.last_line)
        fragment = cut and len(rest) < 40 and not _FRESH_START.match(rest)
        if _CONTINUATION.match(following.text) or fragment:
            line = _excerpt(following.text, 0)
            out[id(row)] = f"fee text may go on in a line not joined to it: '{line}'"
    return out


def _shared_marker_doubts(read: ReadRows) -> dict[int, str]:
    """Rows ending with a footnote marker (text absent) that another row's schedule also ends
    with, where that other schedule cannot be read: one footnote, one effect on both."""
    ends = [(row, [parse_schedule(t) for t in row.fee_texts()]) for row in read.rows]
    doubtful = {p.end_marker for _, ps in ends for p in ps if p.end_marker and not p.ok}
    doubtful -= set(read.footnotes)
    return {
        id(row): f"schedule ends with footnote '{p.end_marker}', whose text is not in the "
        "document and which another schedule here cannot be read with"
        for row, ps in ends
        for p in ps
        if p.ok and p.end_marker in doubtful
    }


def _expand_short_names(changes: list[ChangeReading], short: dict[str, str]) -> None:
    """A schedule headed by a short name the preamble defines is the full name's."""
    by_key = {_key(name): full for name, full in short.items()}
    for change in changes:
        full = by_key.get(_key(change.portfolio)) if change.portfolio else None
        if full is not None:
            change.portfolio = full


def _one_schedule_per_fund(changes: list[ChangeReading], fund: str | None) -> None:
    """Schedules given to the defined fund for want of a name: two certain ones cannot both be
    its schedule (and group readings must agree: :func:`_one_schedule_per_group`)."""
    _one_schedule_per_group(changes)
    if fund is None:
        return
    certain = [c for c in changes if c.portfolio == fund and c.parseable]
    for change in certain:
        if len(certain) > 1:
            change.parseable = False
            change.note = f"{len(certain)} schedules without a name of their own for {fund!r}"


# A document that is itself the whole exhibit, restated: "Amended and Restated Appendix B",
# "THIS EXHIBIT ..., amended as of July 19, 2019, lists the Funds ...", "Schedule A ... as of".
_RESTATED = re.compile(
    r"\bamended\s+and\s+restated\s+(?:schedule|appendix|exhibit|annex)\b"
    r"|\b(?:this\s+)?(?:schedule|appendix|exhibit|annex)\b.{0,400}?\bamended\s+as\s+of\b"
    r".{0,200}?\blists?\b"
    r"|^\W{0,10}(?:schedule|appendix|exhibit|annex)\s+[A-Z0-9]{1,3}\W{1,6}(?:amended\s+)?as\s+of\b",
    re.IGNORECASE,
)


def _default_action(kind: str, flat: str, instructed: bool) -> str:
    """The action of rows no amending sentence governs."""
    if not instructed and _RESTATED.search(flat[:2500]):
        return "replace_in_whole"
    if not instructed and _NEW_FUND.search(flat[:8000]):
        return "add"
    return "add" if kind == "agreement" else "revise"


# Markup beyond this is not one exhibit; what follows it is not parsed (and reported cut).
MAX_MARKUP_CHARS = 4 * 1024 * 1024


def _unwrap(text: str) -> Unwrapped:
    """The text of an HTML exhibit or of a submission's fee exhibit; plain text as it is."""
    if "<" not in text:
        return Unwrapped(text)
    return unwrap(text[:MAX_MARKUP_CHARS])


def _looks_cut(raw: str) -> bool:
    size = len(raw.encode("utf-8", "replace"))
    return abs(size - _EXCERPT_BYTES) <= 4 or raw.endswith("\ufffd")


def _plausible(row: Row, flat: str) -> bool:
    """A row worth reporting: its fee text has a rate, and it has a name or reads cleanly."""
    parses = [parse_schedule(t) for t in row.fee_texts()]
    return any(p.has_rate for p in parses) and (
        _names(row.name, flat)[0] != [None] or any(p.ok for p in parses)
    )


def _complete(row: Row) -> bool:
    return all(parse_schedule(t).ok for t in row.fee_texts())


# ---------------------------------------------------------------- instructions


def _instructions(norm: str, waiver_doc: bool) -> list[_Instruction]:
    """Amending sentences ('Schedule A ... is hereby amended to add ...') and their actions."""
    out: list[_Instruction] = []
    for m in _ANCHOR.finditer(norm):
        before = flatten(norm[max(0, m.start() - 400) : m.start()])
        cuts = list(re.finditer(r"[.;:]\s+(?=[A-Z(\"])|\bWHEREAS\b", before))
        if cuts:
            before = before[cuts[-1].end() :]
        after = flatten(norm[m.start() : m.start() + 400])
        stop = re.search(r":|\.\s", after)
        window = f"{before} {after[: stop.start()] if stop else after}"
        if not _TARGET.search(window):
            continue
        if waiver_doc and "waiver" in window.lower():
            action = "waiver"
        else:
            action = next((a for p, a in _ACTIONS if p.search(window)), "revise")
        out.append(_Instruction(m.start(), action, window))
    return out


_NAME_JOINERS = frozenset({"and", "of", "&", "-"})


def _in_name(word: str) -> bool:
    return word[:1].isupper() or word[:1].isdigit() or word in _NAME_JOINERS


def _names_in(text: str) -> list[str]:
    """Portfolio names listed in a sentence: 'the A Portfolio, the B Portfolio and the C Fund'."""
    names: list[str] = []
    for chunk in re.split(r"[,;]", text):
        words: list[str] = []
        for word in chunk.split():
            words.append(word)
            if word.strip("*,.;:()\"'").lower() in ("portfolio", "fund"):
                tail = list(takewhile(_in_name, reversed(words)))[::-1]
                tail = list(dropwhile(_NAME_JOINERS.__contains__, tail))
                if len(tail) >= 2:
                    names.append(" ".join(tail))
                words = []
    return names


def _key(name: str) -> str:
    # Names as written carry footnote digits ("Portfolio2"): cleaned, then matched as everywhere.
    return name_key(clean_written_name(name))


def _missing_named(
    instructions: list[_Instruction], changes: list[ChangeReading], period: Period | None
) -> list[ChangeReading]:
    """Portfolios the amending sentence names whose schedule is not in the text."""
    known = {_key(name) for c in changes for name in (c.portfolio, c.formerly) if name}
    out: list[ChangeReading] = []
    for ins in instructions:
        m = _NAMED.search(ins.window)
        if not m:
            continue
        for name in _names_in(m[1]):
            if _key(name) in known:
                continue
            known.add(_key(name))
            out.append(
                ChangeReading(
                    action=ins.action,
                    portfolio=clean_written_name(name),
                    period=period if ins.action == "waiver" else None,
                    parseable=False,
                    note="named in the amending sentence, but its schedule is not in the text "
                    "(truncated or omitted)",
                )
            )
    return out


def _period(flat: str) -> Period | None:
    m = _PERIOD.search(flat)
    if not m or (start := find_date(m[1])) is None:
        return None
    return Period(from_=start, to=find_date(m[2]))


# ---------------------------------------------------------------- rows -> changes


def _section_risk(
    read: ReadRows, start: int, risks: tuple[tuple[re.Pattern[str], str], ...] = _RISKS
) -> str | None:
    """A phrase in the schedule's prose that qualifies every schedule in it (including what
    follows the amending words on the amending sentence's own line)."""
    for piece in read.prose:
        if piece.offset + len(piece.text) <= start:
            continue
        for pattern, what in risks:
            if m := pattern.search(piece.text, max(0, start - piece.offset)):
                return f"the schedule's text mentions {what} ('{_excerpt(piece.text, m.start())}')"
    return None


def _excerpt(text: str, at: int) -> str:
    return " ".join(text[max(0, at - 40) : at + 60].split())


def _split_heading(name: str) -> list[str]:
    """'AIM A FUND AIM B FUND' -> two names when every part is a name of the same family."""
    parts: list[str] = []
    words: list[str] = []
    for word in name.split():
        words.append(word)
        if word.strip("*,").lower() in ("fund", "portfolio"):
            parts.append(" ".join(words))
            words = []
    if words or len(parts) < 2:
        return [name]
    firsts = {p.split()[0].lower() for p in parts}
    return parts if len(firsts) == 1 and all(len(p.split()) >= 2 for p in parts) else [name]


def _proper_case(name: str, flat: str) -> str:
    """An all-caps heading name as the document writes it elsewhere in mixed case."""
    if not all_caps(name):
        return name
    pattern = re.compile(r"\s+".join(re.escape(w) for w in name.split()), re.IGNORECASE)
    found = (m.group() for m in islice(pattern.finditer(flat[:20000]), 20))
    return next((text for text in found if not text.isupper()), name)


# Lower-case words after a name's last "Fund"/"Portfolio" are wrapped fee text ("... Portfolio
# assets plus" where a cut left a word half-written), never part of the name.
_LOWER_TAIL = re.compile(r"^(.*\b(?:Fund|Portfolio|FUND|PORTFOLIO))(?:\s+[a-z][a-z.,;-]*){1,6}$")


def _without_leader(name: str) -> str:
    """'Emerging Markets Portfolio..........' (or ellipsis characters) -> the name alone; a
    single closing full stop ('Inc.') stays."""
    bare = name.rstrip(" .\u2026")
    tail = name[len(bare) :]
    return bare if tail.count(".") >= 2 or "\u2026" in tail else name


def _names(raw: str | None, flat: str) -> tuple[list[str | None], str | None, list[str]]:
    """Names of a row (several for a shared heading), its former name, and its markers."""
    if raw is None:
        return [None], None, []
    text = _LOWER_TAIL.sub(r"\1", _without_leader(" ".join(raw.split()).rstrip(" :")))
    formerly = None
    if m := _FORMERLY.search(text):
        formerly = clean_written_name(m[1])
        text = (text[: m.start()] + " " + text[m.end() :]).strip()
    text = _DEFINED_TERM.sub(" ", text)
    markers = [mk[1] for mk in _NAME_MARKERS.finditer(text)]
    names = [_proper_case(clean_written_name(n), flat) for n in _split_heading(text)]
    return [n if _looks_like_name(n) else None for n in names], formerly, markers


_NAME_CHARS = re.compile(r"[A-Z0-9][A-Za-z0-9 .,&'/()\u00ae\u2122:+-]{1,160}")


# Words of a document's own apparatus: a "name" made of them (and "No."), or opening with a
# document's name, is a heading, never a fund; one of them in a name makes it document text.
_DOCUMENTS = frozenset({"amendment", "agreement", "schedule", "exhibit"})
_APPARATUS = _DOCUMENTS | {"whereas", "witness", "table", "page", "caption"}


_FEE_WORDS = frozenset(["first", "next", "excess", "million", "billion", "over", "thereafter"])


def _name_problem(name: str | None) -> str | None:
    """Why a name cannot be trusted as a fund's name (fee text, a bare word, leader dots)."""
    if name is None:
        return None
    words = [w for raw in name.split() if (w := raw.strip(".,:;()*").casefold())]
    if not words or all(w in GENERIC_NAME_WORDS for w in words):
        return f"{name!r} is only a generic word"
    if all(w in HEADER_WORDS for w in words):
        return f"{name!r} is a table caption, not a fund"
    if fee_words := sorted({w for w in words if w in _FEE_WORDS}):
        return f"{name!r} contains fee text ({', '.join(fee_words)})"
    if any(w in _APPARATUS for w in words) or ".." in name:
        return f"{name!r} reads as document text, not a fund name"
    if "%" in name or "$" in name:
        return f"{name!r} contains a rate or an amount"
    if name.count("(") != name.count(")"):
        return f"{name!r} has an unbalanced parenthesis"
    return None


def _looks_like_name(name: str) -> bool:
    """A fund name: mostly letters, ordinary punctuation only, not a heading or leader dots."""
    letters = sum(c.isalpha() for c in name)
    if ".." in name:
        return False
    words = [w.strip(".,:;()").casefold() for w in name.split()]
    if words and all(w in _APPARATUS or w in ("no", "") for w in words):
        return False
    if words and words[0] in _DOCUMENTS:
        return False
    return bool(_NAME_CHARS.fullmatch(name)) and letters >= 0.6 * len(name.replace(" ", ""))


def _tiers(parse: ScheduleParse) -> ScheduleReading | None:
    if not parse.bands:
        return None
    return ScheduleReading(
        tiers=[TierReading(from_=b.lower, to=b.upper, rate_pct=b.rate) for b in parse.bands]
    )


def _footnote_problem(
    markers: list[str], read: ReadRows, on_rate: bool, cut: bool, skip: str | None = None
) -> str | None:
    """Footnotes that may change a schedule.  An undefined marker is tolerated only on a name
    or amount, and - in a text that may be cut - only the glued-digit kind ('$125 million2'),
    whose notes in these filings define terms; asterisk notes tend to qualify the fee.
    ``skip``: a marker already judged (a group's footnote)."""
    for marker in markers:
        if marker == skip:
            continue
        text = read.footnotes.get(marker)
        if text is None:
            if on_rate:
                return f"rate carries footnote '{marker}' whose text is not in the document"
            if cut and marker.startswith("*"):
                return f"footnote '{marker}' is not in the (possibly cut) text"
            continue
        if not _BENIGN_FOOTNOTE.match(text):
            return f"footnote '{marker}' qualifies the schedule: '{_excerpt(text, 0)}'"
    return None


def _changes_for(row: Row, action: str, ctx: _Context) -> list[ChangeReading]:
    names, formerly, name_markers = _names(row.name, ctx.flat)
    parses = [parse_schedule(t) for t in row.fee_texts()]
    main, before, problems = _main_and_before(parses, ctx.waiver_doc)
    problems += [p.note for p in parses if not p.ok and p.note]
    if row.too_long:
        problems.append("fee text too long to be one schedule")
    if row.at_end and ctx.cut and not _finished(row, main):
        problems.append("schedule runs to the end of the excerpt; the text may be cut (truncated)")
    if names == [None] and (ctx.named or not ctx.instructions):
        problems.append("no portfolio name found for this schedule")
    if before is not None and _tiers(before) == _tiers(main):
        problems.append("before- and after-waiver schedules are identical")
    risks = [ctx.risk] if ctx.risk else []
    others = problems + risks
    problems += _qualifying_footnotes(row, parses, name_markers, ctx.read, ctx.cut) + risks
    if action == "remove":
        return _removals(names, formerly, problems)
    grouped = _group_change(row, names, formerly, parses, name_markers, ctx, others, main)
    if isinstance(grouped, ChangeReading):
        return [grouped]
    if grouped:
        problems.append(grouped)
    return [
        _judged(
            problems + _name_problems(name, formerly),
            action=action,
            portfolio=name,
            formerly=formerly,
            schedule=_tiers(main),
            schedule_before=_tiers(before) if before is not None else None,
            rates_as_written=_written(main),
        )
        for name in names
    ]


def _judged(problems: list[str], **fields: Any) -> ChangeReading:
    """A change that is parseable only when nothing is in doubt, with every doubt its note."""
    return ChangeReading(parseable=not problems, note="; ".join(problems) or None, **fields)


def _name_problems(name: str | None, formerly: str | None = None) -> list[str]:
    """Why the change's name or former name cannot be trusted, each saying which it is."""
    labelled = (("portfolio name", name), ("former name", formerly))
    return [f"{label} {p}" for label, value in labelled if (p := _name_problem(value))]


def _group_change(
    row: Row,
    names: list[str | None],
    formerly: str | None,
    parses: list[ScheduleParse],
    name_markers: list[str],
    ctx: _Context,
    others: list[str],
    main: ScheduleParse,
) -> ChangeReading | str | None:
    """The row read as a group schedule, when a footnote puts it on combined assets and names
    the members certainly and nothing else is in doubt; else why the group is uncertain (None:
    no footnote of the row speaks of combined assets)."""
    read = ctx.read
    markers = name_markers + [m for p in parses for m in p.amount_markers + p.rate_markers]
    agg = [
        m
        for m in dict.fromkeys(markers)
        if m in read.footnotes and mentions_aggregation(read.footnotes[m])
    ]
    if not agg:
        return None
    if len(agg) > 1:
        return "aggregated assets: more than one footnote puts the schedule on combined assets"
    own = names[0] if len(names) == 1 else None
    found = aggregate_members(read.footnotes[agg[0]], own)
    if isinstance(found, str):
        return found
    doubts = others + _qualifying_footnotes(row, parses, name_markers, read, ctx.cut, skip=agg[0])
    doubts += _name_problems(own, formerly)
    if doubts or not main.ok or own is None:
        return None
    renamed = {clean_written_name(own): formerly} if formerly else None
    return _group(GroupReading(members=found.members, formerly=renamed), main)


def _group(group: GroupReading, parse: ScheduleParse) -> ChangeReading:
    """The certain change of a group schedule."""
    return ChangeReading(
        action="group",
        portfolio=None,
        group=group,
        schedule=_tiers(parse),
        parseable=True,
        rates_as_written=_written(parse),
    )


def _written(parse: ScheduleParse) -> list[str] | None:
    """The schedule's basis-point phrases as written (None: its rates are all percents)."""
    return [b.written for b in parse.bands if b.written] or None


def _one_schedule_per_group(changes: list[ChangeReading]) -> None:
    """Group readings of one document must agree: the same members with other tiers, or a
    member that also has a certain schedule of its own here, make every such reading doubtful."""
    own = {_key(c.portfolio) for c in changes if c.parseable and c.portfolio}
    seen: dict[frozenset[str], list[ChangeReading]] = {}
    for change in changes:
        if change.group is not None and change.parseable:
            seen.setdefault(frozenset(_key(m) for m in change.group.members), []).append(change)
    for members, found in seen.items():
        tiers = {repr(c.schedule) for c in found}
        clash = members & own
        if len(tiers) == 1 and not clash:
            continue
        why = "its members also have a schedule of their own" if clash else "other tiers"
        for change in found:
            change.parseable = False
            change.note = f"aggregated assets: another reading of the same group has {why}"


def _removals(
    names: list[str | None], formerly: str | None, problems: list[str]
) -> list[ChangeReading]:
    """A removal table repeats the fee of the fund it removes: only the name must be certain."""
    unnamed = [p for p in problems if p.startswith("no portfolio name")]
    return [
        _judged(unnamed + _name_problems(name), action="remove", portfolio=name, formerly=formerly)
        for name in names
    ]


def _finished(row: Row, main: ScheduleParse) -> bool:
    """A complete schedule whose sentence ends with a full stop: a cut after it loses nothing
    of it (a cut inside it would leave an open phrase or a band without its end)."""
    texts = row.fee_texts()
    return main.ok and bool(texts) and texts[-1].rstrip().endswith(".")


def _main_and_before(
    parses: list[ScheduleParse], waiver_doc: bool
) -> tuple[ScheduleParse, ScheduleParse | None, list[str]]:
    """The row's schedule, the one before the waiver (waiver rows have two), and a miscount."""
    if waiver_doc:
        if len(parses) == 2:
            return parses[1], parses[0], []
        miscount = f"waiver row has {len(parses)} schedule(s), expected before and after"
        return parses[-1], None, [miscount]
    if len(parses) > 1:
        return parses[0], None, [f"{len(parses)} schedules follow one portfolio"]
    return parses[0], None, []


def _qualifying_footnotes(
    row: Row,
    parses: list[ScheduleParse],
    name_markers: list[str],
    read: ReadRows,
    cut: bool,
    skip: str | None = None,
) -> list[str]:
    """Footnotes on the row's rates, name and amounts, or after it, that may change it
    (``skip``: a group's footnote, judged by :func:`_group_change`)."""
    rate_markers = [m for p in parses for m in p.rate_markers]
    other_markers = name_markers + [m for p in parses for m in p.amount_markers]
    found = (
        _footnote_problem(rate_markers, read, on_rate=True, cut=cut, skip=skip),
        _footnote_problem(other_markers, read, on_rate=False, cut=cut, skip=skip),
    )
    problems = [p for p in found if p]
    zero = all(Decimal(b.rate) == 0 for p in parses for b in p.bands) and any(
        p.bands for p in parses
    )
    note = row.footnote.lstrip("* ") if row.footnote is not None else None
    if skip is not None and note is not None and note == read.footnotes.get(skip):
        note = None
    if note is not None and not _BENIGN_FOOTNOTE.match(note) and not (zero and _NO_FEE.match(note)):
        problems.append(f"followed by a footnote that may change it: '{_excerpt(note, 0)}'")
    return problems


# A rate in a sentence about expenses, limits or reimbursement is not (only) a fee schedule.
_NOT_A_SCHEDULE = re.compile(
    r"\b(?:expenses?|limit\w*|caps?|reimburs\w*|minimum|maximum|not\s+to\s+exceed)\b", re.I
)
# A waiver in prose must state the fee that results, not only the reduction.
_RESULTING_FEE = re.compile(r"\bso\s+that\s+the\s+fee\b|\bfee\s+(?:will|shall)\s+be\b", re.I)


def _prose_changes(text: str, ctx: _Context, funds: list[str], action: str) -> list[ChangeReading]:
    """The fee written as one sentence ('a fee equal to 0.50% per annum of the first ...')."""
    found = prose_fee(text)
    if found is None:
        return []
    parse, sentence = found.parse, found.sentence
    problems = [parse.note] if not parse.ok and parse.note else []
    problems += [
        f"the fee's sentence mentions {what} ('{_excerpt(sentence, m.start())}')"
        for pattern, what in _RISKS
        if (m := pattern.search(sentence))
    ]
    if ctx.risk and ctx.risk not in problems:
        problems.append(ctx.risk)
    if limit := _NOT_A_SCHEDULE.search(sentence):
        problems.append(
            f"the sentence may cap or offset a fee ('{_excerpt(sentence, limit.start())}')"
        )
    if ctx.waiver_doc:
        action = "waiver"
        if not _RESULTING_FEE.search(sentence):
            problems.append("the waiver gives a reduction, not the resulting fee")
    if ctx.cut and text.rstrip().endswith(sentence.rstrip()):
        problems.append("the fee's sentence runs to the end of the excerpt (truncated)")
    grouped = _prose_group(parse, sentence, ctx, funds, problems)
    if isinstance(grouped, ChangeReading):
        return [grouped]
    if grouped:
        problems.append(grouped)
    names: list[str | None] = list(funds) or [None]
    return [
        _judged(problems, action=action, portfolio=name, schedule=_tiers(parse)) for name in names
    ]


_AGGREGATE_MENTIONS = (
    "the fee's sentence mentions aggregated assets",
    "the schedule's text mentions aggregated assets",
)


def _prose_group(
    parse: ScheduleParse, sentence: str, ctx: _Context, funds: list[str], problems: list[str]
) -> ChangeReading | str | None:
    """A prose fee on the aggregate assets of "the Portfolios listed below", read as a group
    when the list is certain and nothing but the aggregation is in doubt (else why not; None:
    the sentence lists no group)."""
    found = listed_below(sentence, _lines_after(ctx.norm, sentence), ctx.cut)
    if not isinstance(found, GroupMembers):
        return found
    doubts = [p for p in problems if not p.startswith(_AGGREGATE_MENTIONS)]
    if doubts or funds or ctx.waiver_doc or not parse.ok:
        return None
    hidden = _section_risk(ctx.read, ctx.start, _RISKS[1:])  # behind the aggregation's mention
    if hidden:
        return hidden
    return _group(GroupReading(members=found.members), parse)


def _lines_after(norm: str, sentence: str) -> list[str]:
    """The non-empty lines after the one place ``sentence`` ends in the text ([] if unsure)."""
    words = sentence.split()[-8:]
    if not words:
        return []
    end = re.compile(r"[\s|]+".join(re.escape(w) for w in words))
    m = end.search(norm)
    if m is None or end.search(norm, m.end()) is not None:
        return []
    rest = norm[m.end() : m.end() + 20000].split("\n")
    return [line.strip() for line in rest if line.strip(" |\t")]


def _prose_fee(flat: str, action: str) -> list[ChangeReading]:
    """A fee stated only in prose ('an annual rate of 1.50% ...'): reported, never parseable."""
    m = re.search(r"\b(?:annual\s+rate|rate)\s+of\s+(\d{1,2}(?:\.\d{1,6})?)\s?%", flat)
    if not m:
        return []
    kinds = [what for pattern, what in _RISKS if pattern.search(flat)]
    why = f"fee stated in prose, not as a schedule table ('{_excerpt(flat, m.start())}')"
    if kinds:
        why += "; the text describes " + " and ".join(kinds)
    tiers = ScheduleReading(tiers=[TierReading(from_=0, to=None, rate_pct=m[1])])
    return [ChangeReading(action=action, portfolio=None, schedule=tiers, note=why)]

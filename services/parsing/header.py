"""Header of a filing: title, parties, dates, amendment number, kind of agreement.

Reads the preamble phrasings of amendments ("This Amendment No. 22 to the Management Agreement
dated December 8, 2000 as amended on ..., by and between X (the "Trust") and Y (now known as Z)
(the "Manager"), is entered into effective the 1st day of November, 2006"), of sub-advisory
amendments ("made as of", "Effective January 1, 2007, the ... Agreement between A and B dated as
of ..."), of letter amendments ("Re: ...", addressee block) and of bare fee-schedule exhibits.
Blank dates ("the ___ day of") read as None.  Works on the flattened text; all patterns are
bounded and linear.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from services.parsing.model import FilingReading

__all__ = ["ADVISER_TITLES", "MONTHS", "all_caps", "find_date", "parse_dates", "parse_header"]

# The months in full, as a regex alternation.
MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
# "Sept." and "September" are known by their first three letters, like every month.
_MONTH_NUMBERS = {month[:3].lower(): n for n, month in enumerate(MONTHS.split("|"), start=1)}
_MONTH = rf"(?:{MONTHS}|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\.?"
_DATE_MDY, _DATE_MDY_LOOSE = (
    re.compile(
        rf"(?P<m>{_MONTH}) {{0,3}}(?P<d>\d{{1,2}})(?:st|nd|rd|th)?{comma} {{0,3}}(?P<y>\d{{4}})\b",
        re.IGNORECASE,
    )
    for comma in (",", ",?")  # the loose form lets the comma go
)
_DATE_DAY_OF = re.compile(
    rf"(?P<d>\d{{1,2}})(?:st|nd|rd|th)? {{1,3}}day {{1,3}}of {{1,3}}(?P<m>{_MONTH}),? {{0,3}}"
    r"(?P<y>\d{4})\b",
    re.IGNORECASE,
)
_ORDINAL_WORDS = "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth"
_ORDINALS = {word: n for n, word in enumerate(_ORDINAL_WORDS.split(), start=1)}


def _to_date(month: str, day: str, year: str) -> date | None:
    number = _MONTH_NUMBERS.get(month.lower()[:3])
    if number is None:
        return None
    try:
        return date(int(year), number, int(day))
    except ValueError:
        return None


def find_date(text: str) -> date | None:
    """The date written at the very start of ``text`` ('May 1, 2011', '1st day of May 2011')."""
    for pattern in (_DATE_DAY_OF, _DATE_MDY_LOOSE):
        if m := pattern.match(text):
            return _to_date(*m.group("m", "d", "y"))
    return None


def parse_dates(text: str) -> list[date]:
    """Every 'Month D, YYYY' date in ``text``, in order."""
    dates = (_to_date(*m.group("m", "d", "y")) for m in _DATE_MDY_LOOSE.finditer(text))
    return [d for d in dates if d is not None]


# ---------------------------------------------------------------- title


def all_caps(line: str) -> bool:
    """Letters, and none of them lower-case ('EMERGING MARKETS FUND 2')."""
    letters = [c for c in line if c.isalpha()]
    return bool(letters) and not any(c.islower() for c in letters)


_TITLE_WORDS = re.compile(r"\bAMENDMENT\b")
_TITLE_OBJECT = re.compile(r"\b(?:AGREEMENT|SCHEDULE|APPENDIX|CONTRACT)\b")
_ORDINAL_PREFIX = re.compile(r"\b(?:" + "|".join(o.upper() for o in _ORDINALS) + r")\s+AMENDMENT\b")
_ORDINAL_AMENDMENT = re.compile(r"\b(" + "|".join(_ORDINALS) + r")\s+Amendment\b", re.IGNORECASE)


def _upper_runs(text: str) -> list[str]:
    """Runs of consecutive all-uppercase lines, plus uppercase word runs inside mixed lines."""
    runs: list[str] = []  # each line or word that is not upper-case ends one (empty ones dropped)
    current: list[str] = []
    for raw in text.split("\n")[:80]:
        line = raw.replace("|", " ").strip()
        if all_caps(line) and len(line) < 200:
            current.append(line)
            continue
        runs.append(" ".join(current))
        current = []
        words: list[str] = []
        for word in [*line.split()[:400], ""]:  # "": the end of the line ends the last run
            if all_caps(word) or (word.isdigit() and words):
                words.append(word)
            else:
                runs.append(" ".join(words))
                words = []
    runs.append(" ".join(current))
    return [" ".join(r.split()) for r in runs if r]


def _title_and_prefix(text: str) -> tuple[str | None, str | None]:
    """The amendment title and, for page-title lines ('TRUST NAME AMENDMENT TO ...'), its prefix."""
    candidates: list[tuple[str, str]] = []
    for run in _upper_runs(text):
        title_word = _TITLE_WORDS.search(run)
        if not (title_word and _TITLE_OBJECT.search(run)):
            continue
        start = (_ORDINAL_PREFIX.search(run) or title_word).start()
        candidates.append((run[start:].strip(), run[:start].strip()))
    if not candidates:
        return None, None
    title = candidates[-1][0]
    prefixes = [pre for cand, pre in candidates[:-1] if pre and cand == title]
    return title, prefixes[-1] if prefixes else None


_RE = re.compile(r"\bRe:", re.IGNORECASE)


def _subject_line(text: str) -> str | None:
    """Letters: the subject after a 'Re:' that starts its line (possibly in its own cell)."""
    for m in _RE.finditer(text):
        line_start = text.rfind("\n", 0, m.start()) + 1
        if text[line_start : m.start()].strip(" |"):
            continue
        for line in text[m.end() : m.end() + 400].split("\n")[:4]:
            subject = " ".join(line.replace("|", " ").split())
            if len(subject) >= 3:
                return subject[:120]
    return None


def _heading_title(text: str) -> str | None:
    """Leading short heading lines ('Schedule A / Investment Advisory Agreement / ...')."""
    lines: list[str] = []
    for raw in text.split("\n")[:12]:
        line = raw.replace("|", " ").strip()
        if not line:
            if lines:
                break
            continue
        if line.lower().startswith("exhibit"):
            continue
        if len(line) > 70 or line.endswith((".", ",", ";")) or len(line.split()) < 2:
            break
        lines.append(line)
    joined = " ".join(lines)
    if re.search(r"\b(?:schedule|agreement|amendment|appendix)\b", joined, re.IGNORECASE):
        return joined
    return None


# ---------------------------------------------------------------- parties

_DEFINED = re.compile(r'\(\s*(?:the\s+|each\s+a\s+)?"([^"]{1,40})"\s*\)', re.IGNORECASE)
_ABBREV = ("inc", "corp", "co", "ltd", "l.p", "l.l.c", "n.a", "s.a")
_TRUST_TERMS = ("trust", "fund", "funds", "corporation", "company", "series")
# What follows the second party's name: "..., Inc. dated as of", "... with respect to".
_SECOND_PARTY_END = re.compile(
    r"\s+(?:dated|with respect|on behalf|is entered|is made|relating|for the)\b"
)
# An adviser's titles (a table's caption may name its fee by one); a party defined as one of
# them, or as the "Manager", is the adviser.
ADVISER_TITLES = ("adviser", "advisor", "sub-adviser", "subadviser", "sub-advisor")
_ADVISER_TERMS = ("manager", *ADVISER_TITLES)


@dataclass(slots=True)
class _Party:
    name: str
    term: str | None


def _read_party(text: str, first: bool) -> tuple[_Party, int]:
    """One party name from the start of ``text``; returns it and where reading stopped."""
    i = 0
    name_end = 0
    term: str | None = None
    n = min(len(text), 400)
    while i < n:
        ch = text[i]
        if ch == "(":
            if m := _DEFINED.match(text, i):
                term = m.group(1).strip()
                name_end = i
                i = m.end()
                break
            close = text.find(")", i, i + 160)
            if close < 0:
                break
            i = close + 1
            name_end = i
            continue
        lower = text[i : i + 40].lower()
        if (
            (first and lower.startswith((" and ", ", and ")))
            or (not first and _SECOND_PARTY_END.match(lower))
            or lower.startswith((", a ", ", an ", ", is "))
        ):
            name_end = i
            break
        if ch == "." and (i + 1 >= n or text[i + 1] == " "):
            word = re.search(r"([A-Za-z.]+)$", text[max(0, i - 8) : i])
            token = word.group(1) if word else ""
            abbrev = token.lower().rstrip(".") in _ABBREV
            initials = re.fullmatch(r"(?:[A-Z]\.)*[A-Z]", token) is not None
            follow = text[i + 1 : i + 8].lstrip()
            if initials or (abbrev and follow.startswith(("(", "and ", ","))):
                i += 1
                name_end = i
                continue
            name_end = i + 1 if abbrev else i
            break
        i += 1
        name_end = i
    name = " ".join(text[:name_end].split()).strip(" ,;")
    return _Party(name, term), i


def _skip_descriptor(text: str, i: int) -> int:
    """Skip ', a Delaware statutory trust,' and the joining 'and'."""
    rest = text[i : i + 200]
    m = re.match(r",?\s*(?:an?\s+[^,()]{1,80},\s*)?(?:and\s+)?", rest)
    return i + (m.end() if m else 0)


def _is_trust(p: _Party) -> bool:
    if p.term and p.term.lower() in _TRUST_TERMS:
        return True
    if p.term and p.term.lower() in _ADVISER_TERMS:
        return False
    return bool(re.search(r"\b(?:Trust|Funds?)\b", p.name))


def _parties(flat: str) -> tuple[_Party, _Party] | None:
    m = re.search(r"\bbetween\s+(?=[A-Z])", flat[:4000])
    if not m:
        return None
    first, stop = _read_party(flat[m.end() :], True)
    start = _skip_descriptor(flat[m.end() :], stop)
    second, _ = _read_party(flat[m.end() + start :], False)
    if not first.name or not second.name:
        return None
    return first, second


def _letter_addressee(text: str) -> str | None:
    """Letter amendments: the organisation addressed right after the date line."""
    if not re.search(r"\bDear\b", text[:3000]):
        return None
    seen_date = False
    for raw in text.split("\n")[:15]:
        line = raw.replace("|", " ").strip()
        if _DATE_MDY.fullmatch(line):
            seen_date = True
        elif seen_date and line:
            organisation = r"\b(?:Inc\.?|LLC|L\.P\.|Company|Corp\.?|Ltd\.?|Management)\b"
            return line if re.search(organisation, line) else None
    return None


# ---------------------------------------------------------------- dates and kind

_EFFECTIVE = re.compile(r"\beffective\s+(?:as\s+of\s+)?(?:the\s+)?", re.IGNORECASE)
_MADE_AS_OF = re.compile(
    r"\bAmendment\b(?:\s+No\.?\s*\d+)?\s+(?:is\s+)?(?:made|dated|entered\s+into)\s+(?:as\s+of\s+)"
    r"(?:the\s+)?",
    re.IGNORECASE,
)
_BLANK_DATE = re.compile(
    r"(?:_{2,}|day\s+of\s+" + _MONTH + r"|" + _MONTH + r"\s*_+)", re.IGNORECASE
)
_DATED = re.compile(r"(\w{1,30})?[\s,)\"]{0,6}\bdated\s+(?:as\s+of\s+)?", re.IGNORECASE)


def _effective_date(flat: str) -> date | None:
    firsts: list[tuple[int, date | None]] = []  # each pattern's first date (or blank one)
    for pattern in (_EFFECTIVE, _MADE_AS_OF):
        for m in pattern.finditer(flat[:6000]):
            rest = flat[m.end() : m.end() + 40]
            found = find_date(rest)
            if found is not None or _BLANK_DATE.match(rest):
                firsts.append((m.start(), found))
                break
    return min(firsts, key=lambda first: first[0])[1] if firsts else None


def _agreement_date(flat: str) -> date | None:
    for m in _DATED.finditer(flat[:4000]):
        if (m.group(1) or "").lower() in ("amendment", "letter"):
            continue  # the amendment's own date, or the letter's
        found = find_date(flat[m.end() : m.end() + 40])
        if found is not None:
            return found
    return None


def _prior_dates(flat: str) -> list[date]:
    m = re.search(r"\bas\s+amended\b", flat[:2500], re.IGNORECASE)
    if not m:
        return []
    rest = flat[m.end() : m.end() + 1200]
    stop = re.search(r"\(|\bbetween\b|\bis\s+entered\b|;|WHEREAS", rest)
    return parse_dates(rest[: stop.start()] if stop else rest)


def _amendment_number(title: str | None, flat: str) -> int | None:
    for text in (title or "", flat[:1500]):
        if m := re.search(r"\bAmendment\s+No\.?\s*(\d{1,3})\b", text, re.IGNORECASE):
            return int(m.group(1))
        if m := _ORDINAL_AMENDMENT.search(text):
            return _ORDINALS[m.group(1).lower()]
    return None


def _agreement_type(title: str, intro: str, both_advisers: bool) -> str:
    text = f"{title} {intro}".lower()
    if "fee waiver" in text or "expense limitation agreement" in text:
        return "fee_waiver"
    if re.search(r"administrat\w+\s+(?:services\s+)?agreement", text):
        return "administration"
    if both_advisers or re.search(r"sub-?advis", text):
        return "subadvisory"
    if re.search(r"(?:management|advisory)\s+agreement", text):
        return "management"
    return "unknown"


# The kind of filing its agreement's type decides; any other is an amendment or an agreement.
_KIND_OF_TYPE = {"fee_waiver": "fee_waiver", "administration": "other"}


def parse_header(text: str, flat: str) -> FilingReading:
    """Header fields from normalised text (line structure) and its flattened form; no changes."""
    header = FilingReading()
    title, prefix = _title_and_prefix(text[:6000])
    if title is None:
        title = _subject_line(text[:3000]) or _heading_title(text[:3000])
    header.document_title = title
    header.amendment_number = _amendment_number(title, flat)

    both_advisers = False
    parties = _parties(flat)
    if parties is not None:
        first, second = parties
        if _is_trust(first) != _is_trust(second):
            trust, adviser = (first, second) if _is_trust(first) else (second, first)
            header.trust, header.adviser = trust.name, adviser.name
        elif not _is_trust(first):
            both_advisers = True
            sub = [p for p in parties if p.term and p.term.lower() in ADVISER_TITLES]
            header.adviser = (sub[-1] if sub else second).name
    else:
        header.adviser = _letter_addressee(text)
    if header.trust is None and prefix:
        header.trust = prefix.title()

    header.agreement_date = _agreement_date(flat)
    header.effective_date = _effective_date(flat)
    header.prior_amendment_dates = _prior_dates(flat)
    header.agreement_type = _agreement_type(title or "", flat[:1000], both_advisers)
    amends = "amend" in f"{title or ''} {flat[:3000]}".lower()
    header.kind = _KIND_OF_TYPE.get(header.agreement_type, "amendment" if amends else "agreement")
    return header

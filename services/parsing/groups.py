"""Aggregated-asset footnotes: which portfolios' combined assets a schedule is computed on.

Owns one judgement: whether a footnote that puts a schedule on the combined (aggregate) net
assets of several portfolios names those portfolios *certainly* - one complete sentence of the
form "... based on the aggregate average daily net assets of A, a series of X, and B." (or
"determined on a combined basis with B."), every member a plain proper name, nothing after the
list.  Anything else (a portion of a fund's assets, accounts described in words, a cut or a
further sentence, a name list that cannot be split without guessing) is a reason, not members.
Rules name no fund family, adviser or portfolio; every pattern is anchored and bounded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.domain.names import clean_written_name, name_key

__all__ = ["GroupMembers", "aggregate_members", "listed_below", "mentions_aggregation"]

# A footnote longer than this is not one sentence naming a group.
_MAX_NOTE = 1500
_MENTION = re.compile(r"\baggregat\w*|\bcombined\b", re.IGNORECASE)
_AGGREGATE_ASSETS_OF = (
    r"(?:aggregate|combined)\s+(?:average\s+)?(?:daily\s+)?(?:net\s+)?assets\s+of\s+"
)
# "... based on the aggregate average daily net assets of LIST." / "... on the basis of the
# combined assets of LIST." - the list runs to the sentence's (and the footnote's) end.
_OF_LIST = re.compile(
    r"(?:the\s+)?[^.;]{0,200}?\b(?:based|determined|calculated|computed)\s+(?:on|upon)\s+"
    rf"(?:the\s+basis\s+of\s+)?the\s+{_AGGREGATE_ASSETS_OF}(?P<list>.{{3,800}}?)\s*\.\s*",
    re.IGNORECASE,
)
# "... determined on a combined basis with LIST." - the row's own portfolio is the first member.
_WITH_LIST = re.compile(
    r"(?:the\s+)?[^.;]{0,200}?\bon\s+an?\s+(?:aggregate|combined)\s+basis\s+with\s+"
    r"(?P<list>.{3,800}?)\s*\.\s*",
    re.IGNORECASE,
)
# Appositives naming a member's trust: ", a series of Transamerica Funds" / "(a series of ...)".
_SERIES = re.compile(
    r"\s*,\s*(?:each\s+)?an?\s+series\s+of\s+[^,()]{1,120}?(?=\s*,|\s*$)"
    r"|\s*\(\s*(?:each\s+)?an?\s+series\s+of\s+[^()]{1,120}\)",
    re.IGNORECASE,
)
# A prose fee "... of the aggregate average daily net assets of the Portfolios listed below"
# (whose words prose.py clears from the fee it reads).
LISTED_BELOW = (
    _AGGREGATE_ASSETS_OF
    + r"(?:all\s+)?the\s+(?:Portfolios|Funds|Series)\s+(?:listed|named|set\s+forth)\s+below\b"
)
_LISTED_BELOW = re.compile(r"\b" + LISTED_BELOW, re.IGNORECASE)
_TERMINAL = re.compile(r"\b(?:Fund|Portfolio)$")
_NAMEISH = re.compile(r"\b(?:fund|portfolio|series)\b", re.IGNORECASE)
_MAX_LISTED = 100
_SMALL_WORDS = frozenset(["of", "the", "and", "&", "for", "in", "on", "-"])
_TRADE_MARKS = "\u00ae\u2122"


@dataclass(frozen=True, slots=True)
class GroupMembers:
    """The portfolios, as the footnote names them, whose combined assets the schedule is on."""

    members: list[str]


def mentions_aggregation(text: str) -> bool:
    return bool(_MENTION.search(text))


def aggregate_members(note: str, own: str | None) -> GroupMembers | str:
    """The members a footnote names for the row of portfolio ``own``, or why they are uncertain."""
    text = " ".join(note.split())
    if len(text) > _MAX_NOTE:
        return "aggregated assets: the footnote is too long to be one naming sentence"
    if own is None:
        return "aggregated assets: the row names no portfolio"
    with_list = _WITH_LIST.fullmatch(text)
    found = with_list or _OF_LIST.fullmatch(text)
    if found is None:
        return "aggregated assets: the footnote does not end with a complete list of portfolios"
    names = _split(_SERIES.sub("", found["list"]), alone=with_list is not None)
    if isinstance(names, str):
        return names
    if with_list is not None:
        names = [own, *names]
    bad = next((n for n in names if not _plain_name(n)), None)
    if bad is not None:
        return f"aggregated assets: member '{bad}' is not a plain portfolio name"
    keys = [name_key(clean_written_name(n)) for n in names]
    if len(set(keys)) != len(keys) or len(keys) < 2:
        return "aggregated assets: the footnote does not name two distinct portfolios"
    if name_key(clean_written_name(own)) not in keys:
        return f"aggregated assets: the footnote's portfolios do not include {own!r}"
    return GroupMembers(members=[clean_written_name(n) for n in names])


def listed_below(sentence: str, following: list[str], cut: bool) -> GroupMembers | str | None:
    """The members a prose fee "on the aggregate ... assets of the Portfolios listed below"
    lists on the lines after it (``following``, non-empty lines); None when it lists none.

    The list is every line that is a plain name ending in Fund/Portfolio; it must end at a line
    that is no name at all (or at the end of a text that is not cut) - a line that looks like a
    name but is not a plain one makes the list uncertain."""
    if not _LISTED_BELOW.search(sentence):
        return None
    members: list[str] = []
    for line in following[:_MAX_LISTED]:
        name = clean_written_name(line.strip(" |"))
        if _plain_name(name) and _TERMINAL.search(name):
            members.append(name)
            continue
        if _NAMEISH.search(line):
            return f"aggregated assets: '{line[:60]}' in the list below is not a plain name"
        break  # the line after the list: it has ended
    else:
        if cut or len(following) > _MAX_LISTED:
            return "aggregated assets: the list of portfolios runs to the end of a cut text"
    keys = {name_key(m) for m in members}
    if len(members) < 2 or len(keys) != len(members):
        return "aggregated assets: the list below does not name two distinct portfolios"
    return GroupMembers(members=members)


def _split(listed: str, alone: bool) -> list[str] | str:
    """'A, B and C' / 'A, B, and C' / 'A and B' (or 'A' when ``alone``): names; an 'and' that
    may be a name's, a reason."""
    pieces = [p.strip() for p in listed.split(",")]
    if alone and len(pieces) == 1 and not re.search(r"\s(?:and|&)\s", pieces[0]):
        return pieces
    if any(not p for p in pieces):
        return "aggregated assets: the list of portfolios has an empty entry"
    serial = len(pieces) > 1 and pieces[-1].lower().startswith("and ")
    if serial:
        pieces[-1] = pieces[-1][4:].strip()
    ands = [p for p in pieces if re.search(r"\s(?:and|&)\s", p)]
    if serial and ands:
        return "aggregated assets: 'and' inside a listed name makes the members uncertain"
    if not serial:
        if ands != pieces[-1:] or len(re.findall(r"\sand\s", pieces[-1])) != 1:
            return "aggregated assets: the list of portfolios cannot be split with certainty"
        first, second = re.split(r"\sand\s", pieces[-1])
        pieces[-1:] = [first.strip(), second.strip()]
    return pieces


def _plain_name(name: str) -> bool:
    """A proper name: every word capitalised (or a digit, or a small joining word), no verbs."""
    words = name.split()
    if not words or not words[0][:1].isupper() or len(words) > 14:
        return False
    for word in words:
        bare = word.strip(_TRADE_MARKS + "*")
        if bare.lower() in _SMALL_WORDS and bare is not words[0]:
            continue
        if not re.fullmatch(r"[A-Z0-9][A-Za-z0-9.&/'\u2019-]*", bare):
            return False
    return True

"""Defined fund terms: which fund "the Fund" (or a short name) means in this filing.

Owns reading the preamble's definitions: ``on behalf of the X Fund (the "Fund")``,
``X Fund, a Delaware statutory trust (the "Fund", ...)``, ``X Fund (referred to in this
Addendum as the "Fund")``.  A schedule without a name of its own belongs to that fund only
when the document defines exactly one; several definitions (or none) give no fund, and the
schedule stays unnamed.  Linear regexes over a bounded head of the text.
"""

from __future__ import annotations

import re
from itertools import dropwhile, takewhile

__all__ = ["defined_funds", "short_names"]

_HEAD_CHARS = 8000
# The definition itself; quotes are sometimes lost in copies ("(the Fund, and ...").
_FUND_TERM = re.compile(
    r"\(\s*(?P<each>each\s+)?(?:hereinafter\s+)?(?:referred\s+to\s+(?:[A-Za-z]+\s+){0,4}as\s+)?(?:the\s+)?\"?(?:New\s+)?(?:Fund|Portfolio)\"?"
    r"\s*[,;)]"
)
_LIST_START = re.compile(
    r"\b(?:on\s+behalf\s+of|with\s+respect\s+to)\s+(?:each\s+of\s+)?(?:the\s+)?"
)
_LIST_SPLIT = re.compile(r",\s*(?:and\s+)?(?:the\s+)?|\s+and\s+(?:the\s+)?")
_DESCRIPTOR = re.compile(r",\s*(?:an?|the)\s+[^,()]{1,80}$")
_JOINERS = frozenset({"of", "and", "&", "-", "for", "the"})
_TERMINALS = frozenset({"fund", "portfolio", "trust", "series"})


def _part_of_name(word: str) -> bool:
    if any(c in word for c in '"()'):
        return False  # the close of an earlier definition: '("Core Fund") and the B Fund'
    return word[:1].isupper() or word[:1].isdigit() or word.lower() in _JOINERS - {"the"}


def _trailing_name(text: str) -> str | None:
    """The capitalised name ending ``text`` ('... on behalf of the Mid Cap Fund' -> 'Mid Cap
    Fund'), which must end with a fund word."""
    text = _DESCRIPTOR.sub("", text.rstrip(" ,"))
    words = text.split()
    if not words or words[-1].strip(",.").lower() not in _TERMINALS:
        return None
    taken = list(takewhile(_part_of_name, reversed(words[-16:])))[::-1]
    taken = list(dropwhile(lambda word: word.lower() in _JOINERS, taken))
    name = " ".join(taken).strip(" ,")
    return name if len(taken) >= 2 else None


def _listed(text: str) -> list[str]:
    """Names of a list ending ``text``: '... on behalf of A Fund, B Fund and C Fund'."""
    text = text[-1200:]
    starts = list(_LIST_START.finditer(text))
    if not starts:
        return []
    chunk = text[starts[-1].end() :]
    names = [_trailing_name(part) for part in _LIST_SPLIT.split(chunk)]
    return [n for n in names if n is not None] if all(names) else []


def defined_funds(flat: str) -> list[str]:
    """The fund(s) the preamble defines as "the Fund" (or "each ... the Fund"); [] when none,
    or when several definitions disagree."""
    head = flat[:_HEAD_CHARS]
    found: list[list[str]] = []
    for m in _FUND_TERM.finditer(head):
        before = head[max(0, m.start() - 1200) : m.start()]
        if m.group("each"):
            names = _listed(before)
        else:
            one = _trailing_name(before[-250:])
            names = [one] if one else []
        if names and names not in found:
            found.append(names)
    return found[0] if len(found) == 1 else []


# 'Sample Core Plus Bond Fund ("Core Plus Bond Fund")': a short name the schedule may use.
_SHORT = re.compile(
    r"\(\s*(?:the\s+|hereinafter\s+)?\"([A-Z][^\"()]{2,80}?\b(?:Fund|Portfolio))\"\s*\)"
)


def short_names(flat: str) -> dict[str, str]:
    """Short name (as written) -> the full name the preamble gives it."""
    head = flat[:_HEAD_CHARS]
    out: dict[str, str] = {}
    for m in _SHORT.finditer(head):
        full = _trailing_name(head[max(0, m.start() - 250) : m.start()])
        if full is not None and full != m[1]:
            out.setdefault(m[1], full)
    return out

"""Defined fund terms: which fund "the Fund" (or a short name) means in this filing.

Owns reading the preamble's definitions: ``on behalf of the X Fund (the "Fund")``,
``X Fund, a Delaware statutory trust (the "Fund", ...)``, ``X Fund (referred to in this
Addendum as the "Fund")``.  A schedule without a name of its own belongs to that fund only
when the document defines exactly one; several definitions (or none) give no fund, and the
schedule stays unnamed.  Linear regexes over a bounded head of the text.
"""

from __future__ import annotations

import re

__all__ = ["defined_fund"]

_HEAD_CHARS = 8000
# The definition itself; quotes are sometimes lost in copies ("(the Fund, and ...").
_FUND_TERM = re.compile(
    r"\(\s*(?:hereinafter\s+)?(?:referred\s+to\s+(?:[A-Za-z]+\s+){0,4}as\s+)?(?:the\s+)?\"?Fund\"?"
    r"\s*[,;)]"
)
_DESCRIPTOR = re.compile(r",\s*(?:an?|the)\s+[^,()]{1,80}$")
_JOINERS = frozenset({"of", "and", "&", "-", "for", "the"})
_TERMINALS = frozenset({"fund", "portfolio", "trust", "series"})


def _trailing_name(text: str) -> str | None:
    """The capitalised name ending ``text`` ('... on behalf of the Mid Cap Fund' -> 'Mid Cap
    Fund'), which must end with a fund word."""
    text = _DESCRIPTOR.sub("", text.rstrip(" ,"))
    words = text.split()
    if not words or words[-1].strip(",.").lower() not in _TERMINALS:
        return None
    taken: list[str] = []
    for word in reversed(words[-16:]):
        if word[:1].isupper() or word[:1].isdigit() or word.lower() in _JOINERS - {"the"}:
            taken.append(word)
        else:
            break
    taken.reverse()
    while taken and taken[0].lower() in _JOINERS:
        taken.pop(0)
    name = " ".join(taken).strip(" ,")
    return name if len(taken) >= 2 else None


def defined_fund(flat: str) -> str | None:
    """The one fund the preamble defines as "the Fund", or None."""
    head = flat[:_HEAD_CHARS]
    names = set()
    for m in _FUND_TERM.finditer(head):
        name = _trailing_name(head[max(0, m.start() - 250) : m.start()])
        if name is not None:
            names.add(name)
        if len(names) > 1:
            return None
    return names.pop() if names else None

"""Renames stated in a filing's prose rather than beside each row.

Owns two kinds of sentence: an explicit rename ("to change the name of A to B", "A is renamed
B") and a rule stated once for every row ("rename each X Fund by replacing "X" with "Y"",
"replace X with Y in each fund name").  Each gives a row named B, or a row whose name contains
Y, its former name; a "(formerly ...)" written on the row itself always wins.  Linear regexes.
"""

from __future__ import annotations

import re

from services.domain.names import clean_written_name, name_key
from services.parsing.model import ChangeReading

__all__ = ["apply_renames"]

_END = r"(?=\s*(?:[;.,:]|\band\b|\bwith\s+effect\b|\beffective\b|$))"
_EXPLICIT = (
    re.compile(
        r"\bchange\s+the\s+name\s+of\s+(?:the\s+)?(.{3,150}?)\s+to\s+(?:the\s+)?(.{3,150}?)" + _END,
        re.IGNORECASE,
    ),
    re.compile(
        r"\b(?:the\s+)?([A-Z][^;.,:]{2,150}?)\s+(?:is|was|shall\s+be|will\s+be)\s+(?:hereby\s+)?"
        r"renamed\s+(?:as\s+|to\s+)?(?:the\s+)?(.{3,150}?)" + _END
    ),
)
# "by replacing "INVESCO" with "AIM"" / "replace INVESCO with AIM in each fund name".
_RULE = re.compile(
    r"\breplac(?:e|ing)\s+(?:the\s+word\s+)?\"?([A-Z][\w&.\-]{0,40})\"?\s+with\s+(?:the\s+word\s+)?"
    r"\"?([A-Z][\w&.\-]{0,40})\"?",
)
_APPARATUS = frozenset({"schedule", "appendix", "exhibit", "annex", "attachment", "section"})


def _explicit(flat: str) -> dict[str, str]:
    """New name key -> former name, from sentences naming both."""
    out: dict[str, str] = {}
    for pattern in _EXPLICIT:
        for m in pattern.finditer(flat[:20000]):
            old, new = clean_written_name(m[1]), clean_written_name(m[2])
            if old and new and name_key(old) != name_key(new):
                out.setdefault(name_key(new), old)
    return out


def _rules(flat: str) -> list[tuple[str, str]]:
    """(old word, new word) rules that rename every fund whose name has the word."""
    head = flat[:20000]
    out = []
    for m in _RULE.finditer(head):
        old, new = m[1], m[2]
        near = head[max(0, m.start() - 200) : m.end() + 200].lower()
        apparatus = {old.lower(), new.lower()} & _APPARATUS
        if old != new and not apparatus and "name" in near:
            out.append((old, new))
    return out


def apply_renames(flat: str, changes: list[ChangeReading]) -> None:
    """Set ``formerly`` on changes the prose renames (rows' own "(formerly ...)" kept)."""
    explicit = _explicit(flat)
    rules = _rules(flat)
    for change in changes:
        if change.formerly or not change.portfolio:
            continue
        # An explicit rename of the row's name wins over a rule (a former name is never empty).
        former = explicit.get(name_key(change.portfolio)) or _by_rule(change.portfolio, rules)
        if former is not None:
            change.formerly = former


def _by_rule(name: str, rules: list[tuple[str, str]]) -> str | None:
    for old, new in rules:
        pattern = re.compile(rf"\b{re.escape(new)}\b")
        if pattern.search(name):
            return pattern.sub(old, name, count=1)
    return None

"""Portfolio names: how a name written in a filing becomes a stable identity.

Filings write the same portfolio with line-wrap whitespace, footnote markers (``*``, ``**``,
digits glued to the last word such as ``Portfolio2``) and trademark marks.  These helpers strip
that noise so names from different amendments compare equal, and derive a stable slug id.
Pure functions; no I/O.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["clean_written_name", "name_key", "normalise_portfolio_name", "portfolio_id_for"]

_WS = re.compile(r"\s+")
# Footnote asterisks anywhere after a word ("Fund *", "Bond**", "Fund*,").
_STARS = re.compile(r"\s*\*+")
# Digits glued to the name's last word ("Portfolio2") or to a Portfolio/Fund word mid-name.
_GLUED_END = re.compile(r"(?<=[A-Za-z)])\d{1,2}$")
_GLUED_TERMINAL = re.compile(r"\b(Portfolio|Fund|Trust)\d{1,2}\b", re.IGNORECASE)
_MARKS = re.compile(r"\s*(?:\u00ae|\u2122|\(R\)|\(TM\))", re.IGNORECASE)
_TRAILING_PUNCT = re.compile(r"[\s,;:]+$")
_NON_SLUG = re.compile(r"[^a-z0-9]+")


def clean_written_name(raw: str) -> str:
    """The name as written, minus wrap whitespace and footnote markers (keeps (R)/® marks)."""
    name = _WS.sub(" ", raw).strip()
    name = _STARS.sub("", name)
    name = _GLUED_TERMINAL.sub(r"\1", name)
    name = _GLUED_END.sub("", name)
    name = _TRAILING_PUNCT.sub("", name)
    return _WS.sub(" ", name).strip()


def normalise_portfolio_name(raw: str) -> str:
    """Canonical display form: wrap whitespace collapsed, footnote and trademark marks dropped."""
    return clean_written_name(_MARKS.sub("", raw))


def name_key(name: str) -> str:
    """How two names are matched everywhere (ingest, replay, read model, fee worker): wrap
    whitespace, footnote stars, trademark marks and trailing punctuation dropped, case folded.
    Digits stay: "Fund P1" is not "Fund P2" (names reach the log already cleaned of footnote
    digits by `clean_written_name`)."""
    text = _WS.sub(" ", _MARKS.sub("", _STARS.sub("", name))).strip()
    return _TRAILING_PUNCT.sub("", text).casefold()


def portfolio_id_for(name: str) -> str:
    """A stable lowercase slug for a portfolio name, e.g. ``met-aim-small-cap-growth-portfolio``."""
    text = normalise_portfolio_name(name).replace("&", " and ")
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NON_SLUG.sub("-", ascii_text.lower()).strip("-")

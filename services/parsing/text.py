"""Normalising EDGAR text and cutting it into pieces.

Owns everything about the *shape* of the source text: SGML/HTML tags (``<PAGE>``, ``<TABLE>``),
HTML entities, typographic quotes, ``|`` cell separators of converted HTML tables, and numbers
split from their ``%`` or ``million`` by a line wrap.  The result is a list of :class:`Piece` -
one per table cell or physical line - that the row reader consumes in document order.

Every regex here is linear: no nested unbounded quantifiers, bounded repetition counts.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

__all__ = ["Piece", "flatten", "normalise", "pieces"]

_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]{0,20}(?:\s[^<>]{0,1000})?/?>")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TRANSLATE = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u00a0": " ",
        "\u2013": "-",
        "\u2014": "-",
        "\t": "    ",
        "\r": "\n",
    }
)
# "0.45\n      % of" / "0.247\n|\n%": the percent sign wrapped away from its number.
_SPLIT_PERCENT = re.compile(r"(\d)[ \n|]{1,200}%")
# "$1.1\n      billion": the unit wrapped away from its amount.
_SPLIT_UNIT = re.compile(
    r"(\$ ?\d[\d,]{0,20}(?:\.\d{1,6})?)[ ]*\n[ |]*(million|billion|thousand)\b", re.IGNORECASE
)
# "plus 8\n   basis points" / "basis\n   points": basis points wrapped across lines.
_SPLIT_BPS = re.compile(r"(\d|basis)[ ]*\n[ |]*(basis|points?\b|bps\b)", re.IGNORECASE)
_SPACES = re.compile(r"[ ]+")


@dataclass(frozen=True, slots=True)
class Piece:
    """One table cell or physical line of text, in document order."""

    text: str
    offset: int  # index of the piece in the normalised text
    line: int
    new_cell: bool  # a "|" separates it from the previous piece
    gap: bool  # a blank line separates it from the previous piece
    column: int = 0  # position in its line: fixed-width tables put names in one column


def normalise(raw: str) -> str:
    """Plain text with tags, entities, typographic quotes and wrapped numbers repaired."""
    text = raw.replace("\r\n", "\n")
    text = _TAG.sub(" ", text)
    text = html.unescape(text)
    text = text.translate(_TRANSLATE)
    text = _CONTROL.sub(" ", text)
    text = _SPLIT_PERCENT.sub(r"\1%", text)
    text = _SPLIT_BPS.sub(r"\1 \2\n", text)
    return _SPLIT_UNIT.sub(r"\1 \2\n", text)


def flatten(text: str) -> str:
    """One-line form (cells and lines joined by single spaces) for sentence-level patterns."""
    return _SPACES.sub(" ", text.replace("|", " ").replace("\n", " ")).strip()


def pieces(text: str) -> list[Piece]:
    """Cut normalised text into cells/lines, remembering cell and blank-line boundaries."""
    out: list[Piece] = []
    offset = 0
    new_cell = gap = False
    for line_no, line in enumerate(text.split("\n")):
        if not line.strip():
            gap = True
        else:
            start = 0
            for cell in line.split("|"):
                stripped = cell.strip()
                if stripped:
                    column = start + len(cell) - len(cell.lstrip())
                    out.append(Piece(stripped, offset + column, line_no, new_cell, gap, column))
                    new_cell = gap = False
                start += len(cell) + 1
                new_cell = True
            # The last cell of a line has no "|" after it: only an explicit pipe starts a cell.
            new_cell = line.rstrip().endswith("|")
        offset += len(line) + 1
    return out

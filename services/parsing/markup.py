"""Whole EDGAR filings as filed: HTML exhibits and full submission ``.txt`` files.

Owns turning them into the plain text the rest of the parser reads.  An HTML exhibit is parsed
by a real HTML parser (selectolax's Lexbor engine), not by regexes: paragraphs and line breaks
become lines, and every table cell starts a line with ``|`` - the form EDGAR's own text
renderings of HTML tables take.  A full submission (``<SEC-DOCUMENT>`` / ``<DOCUMENT>``
sections) is cut into its documents; the exhibits that amend fees are kept, in order, and the
others are listed with the reason they were skipped.  Linear in the input; never raises (a
document the HTML parser cannot read is skipped with that reason).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from selectolax.lexbor import LexborHTMLParser, LexborNode

from services.parsing.model import SectionReading

__all__ = ["Unwrapped", "html_to_text", "looks_like_html", "unwrap"]

# Closing tags of HTML proper; EDGAR's own text format has <PAGE>, <TABLE>, <S>, <C> only.
_HTML_HINT = re.compile(r"<(?:html|body)\b|</(?:p|div|td|tr|table|font|span)\s*>", re.IGNORECASE)
_BLOCKS = frozenset(
    {"p", "div", "br", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol", "center", "hr"}
    | {"blockquote", "pre", "section", "article", "header", "footer", "title", "dt", "dd"}
)
_SKIP = frozenset({"script", "style", "head", "noscript", "template"})
# In HTML a source line break is a space: only blocks and <br> break lines.
_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
# Nesting deeper than this is not a document (and would make the walk's stack grow).
_MAX_DEPTH = 200

_DOCUMENT = re.compile(r"<DOCUMENT>(.*?)(?:</DOCUMENT>|\Z)", re.DOTALL | re.IGNORECASE)
_FIELD = re.compile(r"^<(TYPE|SEQUENCE|FILENAME|DESCRIPTION)>[ \t]*([^\n<]{0,200})", re.I | re.M)
_TEXT = re.compile(r"<TEXT>(.*?)(?:</TEXT>|\Z)", re.DOTALL | re.IGNORECASE)
# What a fee amendment has somewhere: a fee word and a rate; an exhibit without both is not one.
_FEE_WORD = re.compile(r"\b(?:fees?|compensation|rates?)\b", re.IGNORECASE)
_A_RATE = re.compile(r"\d\s?%|\bbasis\s+points\b", re.IGNORECASE)
_AMENDS = re.compile(
    r"\b(?:amend\w*|schedule|appendix|exhibit\s+[A-Z]|addendum|restated|waive\w*)\b", re.I
)
_BINARY_TYPES = re.compile(r"^(?:GRAPHIC|ZIP|EXCEL|PDF|XML|JSON|EX-101)", re.IGNORECASE)


def looks_like_html(text: str) -> bool:
    hints = _HTML_HINT.finditer(text[:20000])
    return next(hints, None) is not None and next(hints, None) is not None


def _cell_text(node: LexborNode, depth: int) -> str:
    parts: list[str] = []
    _walk(node, parts, depth)
    return _BLANK_LINES.sub("\n", "".join(parts)).strip()


def _rows(table: LexborNode) -> list[LexborNode]:
    """The table's own rows (not those of a table nested in a cell)."""
    sections = (c.iter() if c.tag in ("thead", "tbody", "tfoot") else [c] for c in table.iter())
    return [row for section in sections for row in section if row.tag == "tr"]


def _table(node: LexborNode, parts: list[str], depth: int) -> None:
    """Each row on its own lines, each cell opening a line with '|'."""
    parts.append("\n")
    for row in _rows(node):
        texts = [_cell_text(c, depth + 1) for c in row.iter() if c.tag in ("td", "th")]
        parts.extend(f"|{text}\n" for text in texts if text)
    parts.append("\n")


def _walk(node: LexborNode, parts: list[str], depth: int) -> None:
    if depth > _MAX_DEPTH:
        return
    for child in node.iter(include_text=True):
        tag = child.tag
        if tag == "-text":
            parts.append(_SPACES.sub(" ", child.text_content or ""))
        elif tag in _SKIP or tag == "-comment":
            continue
        elif tag == "table":
            _table(child, parts, depth + 1)
        elif tag in _BLOCKS:
            parts.append("\n")
            _walk(child, parts, depth + 1)
            parts.append("\n")
        else:
            _walk(child, parts, depth + 1)


def html_to_text(markup: str) -> str:
    """The text of an HTML document: blocks as lines, table cells as '|' lines."""
    tree = LexborHTMLParser(markup)
    root = tree.body or tree.root
    if root is None:
        return ""
    parts: list[str] = []
    _walk(root, parts, 0)
    lines = [" ".join(line.split()) for line in "".join(parts).split("\n")]
    return "\n".join(line for line in lines if line) + "\n"


@dataclass(slots=True)
class Unwrapped:
    text: str
    sections: list[SectionReading] = field(default_factory=list)


def _label(body: str) -> tuple[str, str]:
    fields = {m[1].upper(): m[2].strip() for m in _FIELD.finditer(body[:2000])}
    kind = fields.get("TYPE", "?")
    name = fields.get("FILENAME") or fields.get("DESCRIPTION") or fields.get("SEQUENCE", "")
    return kind, f"{kind} ({name})" if name else kind


def _document_text(body: str) -> str:
    m = _TEXT.search(body)
    inner = m[1] if m else body
    return html_to_text(inner) if looks_like_html(inner) else inner


def _judge(kind: str, text: str) -> str | None:
    """Why a document is not a fee amendment (None: it is one)."""
    if _BINARY_TYPES.match(kind):
        return "not text (graphic, archive or data file)"
    if not kind.upper().startswith("EX-"):
        return "the filing's main form or cover, not an exhibit"
    head = text[:200000]
    if not (_FEE_WORD.search(head) and _A_RATE.search(head)):
        return "no fee rate in it"
    if not _AMENDS.search(text[:20000]):
        return "does not amend, restate or waive a schedule"
    return None


def unwrap(raw: str) -> Unwrapped:
    """The text to read: a submission's fee exhibits, an HTML exhibit's text, or ``raw``."""
    docs = list(_DOCUMENT.finditer(raw)) if "<DOCUMENT>" in raw[:1_000_000].upper() else []
    if not docs:
        return Unwrapped(html_to_text(raw) if looks_like_html(raw) else raw)
    kept: list[str] = []
    sections: list[SectionReading] = []
    for m in docs:
        kind, label = _label(m[1])
        text = _document_text(m[1]) if not _BINARY_TYPES.match(kind) else ""
        reason = _judge(kind, text)
        if reason is None and kept:
            reason = "a further fee exhibit: the reading is of the first one; parse it alone"
        read = reason is None
        sections.append(SectionReading(document=label, read=read, reason=reason or "amends fees"))
        if read:
            kept.append(text)
    return Unwrapped(kept[0] if kept else "", sections)

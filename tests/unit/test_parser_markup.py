"""Whole filings as filed: a raw HTML exhibit and a full submission read like their excerpts.

The fixtures in fixtures/filings/ were written for these tests in the layout of EDGAR HTML
exhibits and submissions (no filed text is copied).  Each must give the same reading as the
text excerpt of the same exhibit in test_parser_layouts_written.py; a submission also says
which of its documents it read and why it skipped the others.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from services.parsing.command import parse_command
from services.parsing.filing import read_filing
from services.parsing.markup import html_to_text, looks_like_html
from tests.unit.test_parser_layouts_written import FIXED_WIDTH_MILLIONS, PIPE_CELLS

FIXTURES = Path(__file__).parent / "fixtures" / "filings"


def _reading(text: str) -> dict[str, Any]:
    data: dict[str, Any] = read_filing(text).model_dump(by_alias=True, mode="json")
    return data


def _without_sections(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "sections"}


def test_html_exhibit_reads_as_its_text_excerpt() -> None:
    raw = (FIXTURES / "exhibit_pipe_cells.htm").read_text("utf-8")
    assert len(raw) > 2000  # a whole exhibit, not a cut excerpt
    got = _reading(raw)
    assert got == _reading(PIPE_CELLS)
    assert "sections" not in got
    assert [c["portfolio"] for c in got["changes"]] == ["Sample Harbor Fund", "Sample Meadow Fund"]


def test_submission_reads_its_fee_exhibit_and_says_what_it_skipped() -> None:
    raw = (FIXTURES / "submission_pipe_cells.txt").read_text("utf-8")
    got = _reading(raw)
    assert _without_sections(got) == _reading(PIPE_CELLS)
    sections = {s["document"]: (s["read"], s["reason"]) for s in got["sections"]}
    assert sections["EX-99.D.1.II (ex99d1ii.htm)"] == (True, "amends fees")
    assert sections["485BPOS (form485b.htm)"][0] is False  # the prospectus's fee table
    assert sections["EX-99.I (ex99i.htm)"] == (False, "no fee rate in it")
    assert sections["GRAPHIC (logo.jpg)"][0] is False


def _submission(exhibit: str) -> str:
    return (
        "<SEC-DOCUMENT>x.txt\n<SEC-HEADER>x.hdr.sgml\nCONFORMED SUBMISSION TYPE:\t485BPOS\n"
        "</SEC-HEADER>\n<DOCUMENT>\n<TYPE>485BPOS\n<SEQUENCE>1\n<TEXT>\nThe fund's fees.\n"
        "Management fee 0.80%.\n</TEXT>\n</DOCUMENT>\n<DOCUMENT>\n<TYPE>EX-99.D\n<SEQUENCE>2\n"
        f"<FILENAME>ex99d.txt\n<TEXT>\n<PAGE>\n{exhibit}</TEXT>\n</DOCUMENT>\n</SEC-DOCUMENT>\n"
    )


def test_submission_with_a_plain_text_exhibit() -> None:
    got = _reading(_submission(FIXED_WIDTH_MILLIONS))
    assert _without_sections(got) == _reading(FIXED_WIDTH_MILLIONS)
    assert [s["read"] for s in got["sections"]] == [False, True]


def test_submission_without_a_fee_exhibit_reads_nothing() -> None:
    got = _reading(_submission("Consent of counsel to the use of its name.\n"))
    assert got["changes"] == []
    assert not any(s["read"] for s in got["sections"])


def test_html_tables_become_cell_lines() -> None:
    text = html_to_text(
        "<html><body><p>Fee\nschedule</p><table><tr><td>A Fund<br>(formerly B Fund)</td>"
        "<td>0.5%</td></tr></table><script>x()</script></body></html>"
    )
    assert text == "Fee schedule\n|A Fund\n(formerly B Fund)\n|0.5%\n"


def test_edgar_text_tags_are_not_taken_for_html() -> None:
    assert not looks_like_html("<PAGE>\n<TABLE>\n<CAPTION>\n<S>    <C>\nPortfolio 0.5%\n</TABLE>")


@pytest.mark.parametrize(
    "raw",
    [
        "<td>" * 100_000,
        "<table><tr><td>" * 20_000 + "</p></td>",
        "<div>" * 50_000 + "</div></p>",
        "<DOCUMENT>" * 50_000,
        "<DOCUMENT><TYPE>EX-99<TEXT></p></td>" * 5_000,
    ],
)
def test_hostile_markup_never_raises(raw: str) -> None:
    assert read_filing(raw).changes == []


def test_command_reads_an_html_exhibit(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_command(FIXTURES / "exhibit_pipe_cells.htm", json_output=True) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["changes"][0]["formerly"] == "Sample Lighthouse Fund"

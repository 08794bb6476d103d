"""`feeschedule parse`: exit statuses, JSON output, table output."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import typer

from services.parsing.command import describe_tiers, parse_cli, parse_command
from services.parsing.model import ScheduleReading, TierReading

FILING = """AMENDMENT NO. 22 TO MANAGEMENT AGREEMENT

This Amendment No. 22 to the Management Agreement dated December 8, 2000 (the "Agreement"),
by and between Met Investors Series Trust (the "Trust") and Met Investors Advisory Corp.
(the "Manager"), is entered into effective the 1st day of November, 2006.

1.   Schedule A of the Agreement hereby is amended to change the Manager's fee
     with respect to the Portfolio listed below to the following:

Met/AIM Small Cap Growth Portfolio      0.88% of the first $500 million of such assets, plus
                                        0.83% of such assets over $500 million

2. All other terms and conditions of the Agreement shall remain in full force and effect.
"""


def test_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "filing.txt"
    path.write_text(FILING, encoding="utf-8")
    assert parse_command(path, json_output=True) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["amendment_number"] == 22
    assert data["effective_date"] == "2006-11-01"
    (change,) = data["changes"]
    assert change["portfolio"] == "Met/AIM Small Cap Growth Portfolio"
    assert change["parseable"] is True
    assert change["schedule"]["tiers"] == [
        {"from": 0, "to": 500000000, "rate_pct": "0.88"},
        {"from": 500000000, "to": None, "rate_pct": "0.83"},
    ]
    assert "schedule_before" not in change


def test_table_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "filing.txt"
    path.write_text(FILING, encoding="utf-8")
    assert parse_command(path, json_output=False) == 0
    out = capsys.readouterr().out
    assert "Met/AIM" in out
    assert "0.88%" in out and "$500M" in out


def test_tier_description() -> None:
    schedule = ScheduleReading(
        tiers=[
            TierReading(from_=0, to=500_000_000, rate_pct="0.88"),
            TierReading(from_=500_000_000, to=None, rate_pct="0.83"),
        ]
    )
    assert describe_tiers(schedule) == "0.88% to $500M, 0.83% above"
    assert describe_tiers(None) == "-"


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_unreadable_file_is_status_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    path = tmp_path / "nope.txt" if kind == "missing" else tmp_path
    assert parse_command(path, json_output=True) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1


def test_random_text_is_status_0_with_no_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(3)
    words = [
        "lorem",
        "ipsum",
        "dolor",
        "sit",
        "amet",
        "consectetur",
        "adipiscing",
        "elit",
        "sed",
        "do",
        "eiusmod",
    ]
    path = tmp_path / "random.txt"
    path.write_text(" ".join(rng.choice(words) for _ in range(5000)), encoding="utf-8")
    assert parse_command(path, json_output=True) == 0
    assert json.loads(capsys.readouterr().out)["changes"] == []


def test_binary_junk_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "junk.bin"
    path.write_bytes(bytes(random.Random(5).randrange(256) for _ in range(20_000)))
    assert parse_command(path, json_output=True) == 0
    json.loads(capsys.readouterr().out)


def test_cli_face_raises_exit_with_the_status(tmp_path: Path) -> None:
    with pytest.raises(typer.Exit) as raised:
        parse_cli(tmp_path / "missing.txt", json_output=True)
    assert raised.value.exit_code == 2

"""The packing benchmark packs the settle step's shape of command both ways, and the two agree."""

from __future__ import annotations

import sys

import pytest

from benchmarks import bench_packing
from services.adapters.connection import HiredisPackedConnection


def test_the_command_is_ten_arguments_an_accrual_with_its_entry_and_event() -> None:
    command = bench_packing.command(3)
    assert command[:3] == ["EVALSHA", "f" * 40, 60]
    assert len(command) == 3 + 30
    assert sorted(len(str(a)) for a in command[3:13])[-2:] == [500, 1000]


def test_it_prints_both_times_and_their_ratio(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["bench_packing", "--accruals", "2", "--rounds", "1"])
    bench_packing.main()
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["redis-py", "the", "ratio"]
    assert float(lines[2].split()[1]) > 0


def test_a_command_the_two_pack_differently_stops_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["bench_packing", "--accruals", "1", "--rounds", "1"])
    monkeypatch.setattr(HiredisPackedConnection, "pack_command", lambda self, *a: [b"other"])
    with pytest.raises(SystemExit, match="different bytes"):
        bench_packing.main()

"""The partition function against the test vectors contracts/README.md publishes."""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.partitions import partition_of

README = Path(__file__).resolve().parents[2] / "contracts" / "README.md"


def vectors() -> list[tuple[str, int, dict[int, int]]]:
    """The rows of the README's table: id, CRC-32, and the partition for each P."""
    text = README.read_text()
    table = text[text.index("| portfolio id | CRC-32") :].split("\n\n", 1)[0].splitlines()
    header = [int(c.strip().removeprefix("P=")) for c in table[0].split("|")[3:-1]]
    rows = []
    for line in table[2:]:
        cells = [c.strip() for c in line.split("|")[1:-1]]
        pid = re.match(r"`([^`]*)`", cells[0])
        assert pid is not None, line
        crc = int(cells[1].strip("`"), 16)
        rows.append((pid.group(1), crc, dict(zip(header, map(int, cells[2:]), strict=True))))
    return rows


def test_the_readme_has_at_least_five_vectors() -> None:
    assert len(vectors()) >= 5


@pytest.mark.parametrize(("pid", "crc", "partitions"), vectors())
def test_each_vector(pid: str, crc: int, partitions: dict[int, int]) -> None:
    assert zlib.crc32(pid.encode("utf-8")) == crc
    for p, k in partitions.items():
        assert partition_of(pid, p) == k


@given(st.text(max_size=64), st.integers(min_value=1, max_value=4096))
def test_a_partition_is_in_range_and_one_partition_is_zero(pid: str, partitions: int) -> None:
    k = partition_of(pid, partitions)
    assert 0 <= k < partitions
    assert partition_of(pid, 1) == 0


def test_no_partitions_is_refused_naming_the_value() -> None:
    with pytest.raises(ValueError, match="partitions: 0"):
        partition_of("EQ", 0)

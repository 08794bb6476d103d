"""Which partition of the net-asset intake a portfolio's messages go to.

Part of the wire contract: a client in any language computes the same partition with any
CRC-32 (IEEE 802.3, the one zlib, Java's `CRC32`, Go's `crc32.ChecksumIEEE` compute) of the
portfolio id's UTF-8 bytes, modulo the number of partitions. contracts/README.md lists test
vectors.
"""

from __future__ import annotations

import zlib


def partition_of(portfolio_id: str, partitions: int) -> int:
    """The partition (0 .. partitions-1) of a portfolio's reports and invoices."""
    if partitions < 1:
        raise ValueError(f"partitions: {partitions!r} is not a positive number")
    return zlib.crc32(portfolio_id.encode("utf-8")) % partitions

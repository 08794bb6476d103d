"""What the machine was doing while a benchmark ran: CPUs, load, and CPU time stolen by the
hypervisor (on a shared virtual machine, steal makes absolute rates swing; the ratios to a
baseline measured in the same run swing less)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

_STAT = Path("/proc/stat")


def cpu_times() -> list[int] | None:
    """The aggregate `cpu` line of /proc/stat (user, nice, system, idle, iowait, irq, softirq,
    steal, ...), or None where there is no /proc."""
    try:
        first = _STAT.read_text().splitlines()[0].split()
    except OSError:
        return None
    return [int(x) for x in first[1:9]]


def describe(before: list[int] | None, after: list[int] | None) -> str:
    """One line: CPUs, load average, and the share of CPU time stolen between the two readings."""
    parts = [f"{os.cpu_count()} CPUs"]
    with contextlib.suppress(OSError):  # no load average on some systems
        parts.append(f"load average {os.getloadavg()[0]:.2f}")
    if before is not None and after is not None:
        spent = [b - a for a, b in zip(before, after, strict=True)]
        total = sum(spent)
        if total > 0:
            parts.append(f"steal {100 * spent[7] / total:.0f}% of CPU time")
    return "machine: " + ", ".join(parts)

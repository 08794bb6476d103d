"""What the benchmarks share: what the machine was doing while one ran (CPUs, load, and CPU
time stolen by the hypervisor: on a shared virtual machine absolute rates swing, the ratios to
a baseline measured in the same run much less), and which `feeschedule` they run."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
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


def console_script() -> str:
    """This interpreter's own `feeschedule` (as `.venv/bin/python -m ...` runs a benchmark),
    else the one on PATH."""
    beside = Path(sys.executable).with_name("feeschedule")
    return str(beside) if beside.exists() else shutil.which("feeschedule") or "feeschedule"

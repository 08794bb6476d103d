"""Benchmark the filing parser on 1 MB of random and adversarial text, as a user runs it.

    python -m benchmarks.bench_parse [--runs 3] [--size 1000000]

For each kind of text (`KINDS`), writes it to a temporary file and times `feeschedule parse FILE
--json` as a fresh process (start-up included), beside a baseline measured in the same run: a
fresh `python -c` process that only reads the same file. Prints the best of `--runs` runs of
each, the exit status and the number of changes read. The goal (issue 5): under 2 s, exit
status 0 with no certain changes, or 2 with one clear line. No Redis needed.
"""

from __future__ import annotations

import argparse
import json
import random
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.machine import console_script

MB = 1_000_000
KINDS = (
    "printable", "schedule_rows", "one_line", "newlines", "spaces_then_percent", "tags", "salad",
)  # fmt: skip


def adversarial(kind: str, size: int = MB) -> str:
    """`size` characters of one kind of hostile text (random, or a phrase that a careless
    regex would backtrack on), the same every time."""
    rng = random.Random(7)
    if kind == "printable":
        return "".join(rng.choice(string.printable) for _ in range(size))
    if kind == "schedule_rows":
        row = "Growth Portfolio   0.70% of first $200 million of such assets plus 0.65% over\n"
        return row * (size // len(row))
    if kind == "one_line":
        return "0.5% of first $1 million plus " * (size // 30)
    if kind == "newlines":
        return "\n" * size
    if kind == "spaces_then_percent":
        return ("1" + " " * 199 + "\n") * (size // 201)
    if kind == "tags":
        return "<a " * (size // 3)
    if kind == "salad":
        words = ["of", "the", "first", "$500", "million", "0.5%", "plus", "over", "Portfolio", "|"]
        return " ".join(rng.choice(words) for _ in range(size // 6))
    raise ValueError(f"kind: unknown kind of text {kind!r}")


def _best(command: list[str], runs: int) -> tuple[float, subprocess.CompletedProcess[str]]:
    best, done = float("inf"), None
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        best = min(best, time.perf_counter() - started)
    assert done is not None
    return best, done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size", type=int, default=MB)
    args = parser.parse_args(argv)
    cli = console_script()
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for kind in KINDS:
            path = Path(tmp) / f"{kind}.txt"
            path.write_text(adversarial(kind, args.size))
            read_only = [sys.executable, "-c", f"open({str(path)!r}).read()"]
            baseline, _ = _best(read_only, args.runs)
            took, done = _best([cli, "parse", str(path), "--json"], args.runs)
            worst = max(worst, took)
            changes = json.loads(done.stdout)["changes"] if done.returncode == 0 else []
            certain = sum(1 for c in changes if c.get("parseable"))
            said = done.stderr.strip().splitlines()[-1:] if done.returncode else []
            print(
                f"{kind:20} {path.stat().st_size:>9,} bytes  parse {took:5.2f} s"
                f"  (read-only baseline {baseline:4.2f} s; ratio {took / baseline:4.1f}x)"
                f"  exit {done.returncode}, {len(changes)} changes, {certain} parseable"
                + (f"  {said[0]}" if said else "")
            )
    print(f"slowest: {worst:.2f} s (goal < 2 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

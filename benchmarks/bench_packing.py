"""The settle step's command packed by redis-py's asyncio connection and by the worker's own
(services.adapters.connection: hiredis, each argument as it is).

    python -m benchmarks.bench_packing [--accruals 125] [--rounds 200]

The command is shaped as the worker's: EVALSHA, then ten arguments an accrual, two of them
its ledger entry and event (about 500 and 1,000 bytes). Checks that both pack the same bytes,
then prints each one's best time per command over five rounds, and their ratio.
"""

from __future__ import annotations

import argparse
import timeit

import redis
import redis.asyncio as aioredis

from services.adapters.connection import HiredisPackedConnection


def command(accruals: int) -> list[str | int]:
    sizes = {3: 500, 5: 1000}  # the ledger entry's and the event's places among the ten
    per_accrual = ["x" * sizes[i] if i in sizes else "2024-01-01" for i in range(10)]
    return ["EVALSHA", "f" * 40, 60, *(per_accrual * accruals)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accruals", type=int, default=125)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    theirs, ours = aioredis.Connection(), HiredisPackedConnection()
    packed = command(args.accruals)
    if b"".join(theirs.pack_command(*packed)) != b"".join(ours.pack_command(*packed)):
        raise SystemExit("the two pack different bytes")
    times = {}
    for name, connection in (("redis-py asyncio", theirs), ("the worker's", ours)):
        best = min(timeit.repeat(lambda c=connection: c.pack_command(*packed), number=args.rounds))
        times[name] = best / args.rounds
        print(f"{name:18s} {1e6 * times[name]:8,.0f} us a command of {args.accruals} accruals")
    ratio = times["redis-py asyncio"] / times["the worker's"]
    print(f"ratio {ratio:.1f} (redis-py {redis.__version__})")


if __name__ == "__main__":
    main()

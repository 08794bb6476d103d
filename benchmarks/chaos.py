"""A chaos suite anyone can rerun: the real services under SIGKILLs and Redis restarts, fed good
reports mixed with fuzzed ones, judged by the suite's own fee math.

    .venv/bin/python -m benchmarks.chaos [--kills 100] [--fuzz 10000] [--good 10000] [--seed 1]

1. Starts its own redis-server (AOF, appendfsync always, a temp dir, a free loopback port);
   never another Redis.
2. Records the agreement and two amendments with the real CLI (`feeschedule register-agreement`,
   `feeschedule amend --file`), then runs `feeschedule run projector` and `feeschedule run
   fee-worker` as processes.
3. Sends, with plain XADD, the good reports (unique report_id and revision each; some revised
   with a higher revision, some sent twice, some for dates no schedule covers) mixed with the
   fuzzed entries of benchmarks/chaos_inputs.py, while:
   - one worker is SIGKILLed `--kills` times at a random moment after it is ready, and
     restarted each time; a third amendment, retroactive, is recorded half way through;
   - then two workers run, and a random one of them is SIGKILLed about every second,
     `--kills` times; Redis is restarted meanwhile (SHUTDOWN, then kill -9; same port, same
     append-only file). A service that exits by itself is restarted, as a supervisor would, and
     reported.
4. Waits until the consumer group has nothing pending and nothing unread, sends the late
   entries (higher revisions of accrued dates, duplicates, same-revision conflicts), waits
   again, stops the services, and prints lost / duplicated / wrong / dead-lettered-good /
   untraced (benchmarks/chaos_verdict.py says what each counts), which must all be 0, then
   what the outputs hold. Exit status 1 when any of the five is not 0.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from benchmarks.chaos_inputs import AGREEMENT, AMENDMENTS, RETROACTIVE, Entry, Plan, plan
from benchmarks.chaos_processes import (
    RedisServer,
    Services,
    clean_env,
    redis_server_binary,
    wait_until,
)
from benchmarks.chaos_verdict import FIVE, Observed, Verdict, judge
from benchmarks.machine import console_script, cpu_times, describe

PREFIX = "chaos"
GROUP = "fee-worker"


@dataclass(frozen=True)
class StreamKeys:
    """The keys of the bus contract (README, contracts/README.md), spelled out here."""

    prefix: str = PREFIX

    def key(self, name: str) -> str:
        return "{" + self.prefix + "}:" + name

    @property
    def net_assets(self) -> str:
        return self.key("net-assets")

    @property
    def agreements(self) -> str:
        return self.key("agreements")

    @property
    def outputs(self) -> tuple[str, ...]:
        return (self.key("accruals"), self.key("report-outcomes"), self.key("dead-letters"))

    @property
    def unpriced(self) -> str:
        return self.key("unpriced")

    @property
    def checkpoint(self) -> str:
        return self.key("fee-worker:log-position")


@dataclass
class Options:
    kills: int = 100
    fuzz: int = 10_000
    good: int = 10_000
    seed: int = 1
    redis_restarts: int = 2
    max_delay: float = 2.0
    claim_idle_ms: int = 1000
    settle_timeout: float = 300
    redis_server: str | None = None
    workdir: Path | None = None
    keep: bool = False
    say: Callable[[str], None] = field(default=lambda text: print(text, file=sys.stderr))


@dataclass
class Outcome:
    verdict: Verdict
    chaos: dict[str, Any]
    workdir: Path | None

    @property
    def clean(self) -> bool:
        return self.verdict.clean and self.chaos["settled"]


# ---- publishing ---------------------------------------------------------------------------


class Publisher(threading.Thread):
    """XADDs the entries in order, up to what it is allowed, each with the id chosen for it: a
    retry after Redis went away mid-request either writes the entry or meets it already there,
    so nothing is sent twice or lost."""

    def __init__(self, url: str, stream: str, entries: Sequence[Entry]) -> None:
        super().__init__(daemon=True, name="chaos-publisher")
        self.url, self.stream, self.entries = url, stream, entries
        self.allowed = 0
        self.published = 0
        self.retries = 0
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self._halt = threading.Event()

    def allow(self, n: int) -> None:
        with self._lock:
            self.allowed = max(self.allowed, min(n, len(self.entries)))

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        client = redis.Redis.from_url(self.url, socket_timeout=10, socket_connect_timeout=2)
        try:
            while not self._halt.is_set():
                with self._lock:
                    target = self.allowed
                if self.published >= target:
                    time.sleep(0.005)
                    continue
                chunk = self.entries[self.published : min(target, self.published + 25)]
                self._send(client, chunk)
                self.published += len(chunk)
        except BaseException as exc:
            self.error = exc
        finally:
            client.close()

    def _send(self, client: redis.Redis, chunk: Sequence[Entry]) -> None:
        deadline = time.monotonic() + 120
        while True:
            try:
                pipe = client.pipeline(transaction=False)
                for entry in chunk:
                    pipe.xadd(self.stream, entry.fields, id=entry.entry_id)  # type: ignore[arg-type]
                replies = pipe.execute(raise_on_error=False)
                for entry, reply in zip(chunk, replies, strict=True):
                    if isinstance(reply, Exception):
                        there = client.xrange(self.stream, entry.entry_id, entry.entry_id)
                        if "equal or smaller" not in str(reply) or not there:
                            raise RuntimeError(f"XADD {entry.entry_id} failed: {reply}")
                return
            except (redis.ConnectionError, redis.TimeoutError):
                if time.monotonic() > deadline:
                    raise
                self.retries += 1
                time.sleep(0.05)

    def wait_published(self, n: int, timeout: float) -> None:
        def done() -> bool:
            if self.error is not None:
                raise RuntimeError(f"publisher failed: {self.error!r}")
            return self.published >= n

        wait_until(done, timeout, f"{n:,} entries to be sent")


# ---- watching Redis -----------------------------------------------------------------------


def work_left(ctl: redis.Redis, raw: redis.Redis, keys: StreamKeys) -> tuple[int, int]:
    """(entries pending in the fee worker's group, entries not yet read by it). `ctl` decodes
    replies; `raw` does not, for replies that carry input entries (some are not UTF-8)."""
    try:
        groups: Any = ctl.xinfo_groups(keys.net_assets)
    except redis.ResponseError:  # no stream yet
        return 0, 0
    newest: Any = raw.xrevrange(keys.net_assets, count=1)
    last = newest[0][0].decode() if newest else "0-0"
    group = next((g for g in groups if g["name"] == GROUP), None)
    if group is None:
        return 0, int(ctl.xlen(keys.net_assets))
    delivered = group["last-delivered-id"]
    if delivered == last:
        return int(group["pending"]), 0
    lag = group.get("lag")
    if isinstance(lag, int):
        return int(group["pending"]), lag
    unread: Any = raw.xrange(keys.net_assets, "(" + delivered, "+", count=10_000)
    return int(group["pending"]), len(unread)


def settled(ctl: redis.Redis, raw: redis.Redis, keys: StreamKeys) -> bool:
    """Nothing pending, nothing unread, and the worker has priced against the whole log."""
    if work_left(ctl, raw, keys) != (0, 0):
        return False
    last: Any = ctl.xrevrange(keys.agreements, count=1)
    return bool(last) and ctl.get(keys.checkpoint) == last[0][0]


def output_lengths(ctl: redis.Redis, keys: StreamKeys) -> tuple[int, ...]:
    return tuple(int(ctl.xlen(s)) for s in keys.outputs)


def xrange_all(client: redis.Redis, stream: str, page: int = 2000) -> Iterator[tuple[Any, Any]]:
    start = "-"
    while True:
        rows: Any = client.xrange(stream, start, "+", count=page)
        yield from rows
        if len(rows) < page:
            return
        last = rows[-1][0]
        start = "(" + (last.decode() if isinstance(last, bytes) else last)


def observe(raw: redis.Redis, keys: StreamKeys) -> Observed:
    inputs = [entry_id.decode() for entry_id, _ in xrange_all(raw, keys.net_assets)]
    events: list[tuple[str, dict[str, Any] | None]] = []
    for stream in keys.outputs:
        for _, fields in xrange_all(raw, stream):
            kind = fields.get(b"type", b"").decode("utf-8", "replace")
            try:
                data = json.loads(fields[b"data"])
            except (KeyError, ValueError):
                data = None
            events.append((kind, data if isinstance(data, dict) else None))
    ledgers: dict[str, dict[str, str]] = {}
    head = keys.key("ledger:")
    for key in raw.scan_iter(match=head.replace("{", "\\{").replace("}", "\\}") + "*"):
        name = key.decode("utf-8", "replace")
        if raw.type(key) != b"hash":
            continue
        reply: Any = raw.hgetall(key)
        ledgers[name[len(head) :]] = {k.decode(): v.decode() for k, v in reply.items()}
    parked: Any = raw.hgetall(keys.unpriced)
    unpriced = {k.decode(): v.decode() for k, v in parked.items()}
    return Observed(inputs, events, ledgers, unpriced)


# ---- the run ------------------------------------------------------------------------------


class Chaos:
    def __init__(self, options: Options, entries: Plan, workdir: Path) -> None:
        self.o = options
        self.plan = entries
        self.workdir = workdir
        self.rng = random.Random(options.seed * 7919 + 1)  # the moments, apart from the inputs
        self.keys = StreamKeys()
        self.server = RedisServer(redis_server_binary(options.redis_server), workdir)
        self.script = console_script()
        self.started = time.monotonic()
        self.kills = {"one worker": 0, "one of two": 0}
        self.mid_work = {"one worker": 0, "one of two": 0}
        self.busy = {"one worker": 0.1, "one of two": 0.1}  # seconds a slice keeps them busy
        self.redis_restarts: list[str] = []
        self.redis_mid_work = 0

    def say(self, text: str) -> None:
        self.o.say(f"[{time.monotonic() - self.started:6.1f}s] {text}")

    def cli(self, *args: str, attempts: int = 3) -> str:
        """A `feeschedule` command as a user runs it; retried if Redis is away (status 1)."""
        for attempt in range(attempts):
            done = subprocess.run(
                [self.script, *args],
                env=self.env,
                cwd=self.workdir,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            if done.returncode == 0:
                return done.stdout
            if done.returncode != 1 or attempt == attempts - 1:
                raise RuntimeError(f"feeschedule {' '.join(args)}: {done.stderr.strip()}")
            time.sleep(1)
        raise AssertionError("unreachable")

    def amend(self, number: int) -> str:
        """`feeschedule amend --file` with the amendment's file, written here; its first line."""
        amendment = next(a for a in AMENDMENTS if a.number == number)
        path = self.workdir / f"amendment-{number}.json"
        path.write_text(json.dumps(amendment.file(), indent=2))
        said = self.cli("amend", "--file", str(path), "--agreement", AGREEMENT).strip()
        if not said.startswith("recorded"):
            raise RuntimeError(f"amendment {number}: {said.splitlines()[0]}")
        return said.splitlines()[0]

    def accrued_since(self, amendment: Any) -> bool:
        """Whether a portfolio the amendment revises has a date accrued on or after its
        effective date (the ledger read with plain HKEYS)."""
        first = amendment.effective.isoformat()
        for action, pid, _ in amendment.changes:
            if action != "revise":
                continue
            days: Any = self.ctl.hkeys(self.keys.key(f"ledger:{pid}"))
            if any(str(d) >= first for d in days):
                return True
        return False

    def pause(self, seconds: float) -> None:
        """Sleep, supervising the services meanwhile."""
        end = time.monotonic() + seconds
        while (now := time.monotonic()) < end:
            self.services.supervise()
            time.sleep(min(0.02, end - now))

    def work_left(self) -> tuple[int, int]:
        """`work_left`, riding out a Redis restart (the clients reconnect on the next try)."""
        deadline = time.monotonic() + 60
        while True:
            try:
                return work_left(self.ctl, self.raw, self.keys)
            except (redis.ConnectionError, redis.TimeoutError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def strike(self, slot: str, phase: str, publisher: Publisher, upto: int) -> None:
        """Once the worker in `slot` is ready, send the next slice of entries (up to `upto`)
        and SIGKILL the worker at a random moment: uniform over a little more than the time
        slices have kept the workers busy so far (at most --max-delay), so that most kills
        land while entries are being read or settled."""
        service = self.services.wait_ready(slot, 180)
        publisher.allow(upto)
        released = time.monotonic()
        delay = self.rng.uniform(0, min(self.o.max_delay, 1.25 * self.busy[phase]))
        done_at = None
        while (now := time.monotonic()) < released + delay:
            self.services.supervise()
            if done_at is None and publisher.published >= upto and self.work_left() == (0, 0):
                done_at = now
            time.sleep(0.005)
        pending, unread = self.work_left()
        service.kill()
        self.kills[phase] += 1
        self.say(
            f"{phase}: SIGKILL {service.name} {1000 * delay:.0f} ms after its slice"
            f" ({pending} pending, {unread} unread)"
        )
        if pending + unread > 0:
            self.mid_work[phase] += 1
            self.busy[phase] = max(self.busy[phase], delay)
        elif done_at is not None:
            self.busy[phase] = (self.busy[phase] + done_at - released) / 2

    def restart_redis(self, publisher: Publisher | None = None, upto: int = 0) -> None:
        """SHUTDOWN and kill -9 in turn, a random moment after the next slice (up to `upto`)
        was let go; restarted on the same port and append-only file."""
        how = "SHUTDOWN" if len(self.redis_restarts) % 2 == 0 else "kill -9"
        if publisher is not None:
            publisher.allow(upto)
            self.pause(self.rng.uniform(0, 1.25 * self.busy["one of two"]))
        pending, unread = self.work_left()
        self.say(f"redis: {how} ({pending} pending, {unread} unread)")
        if how == "SHUTDOWN":
            self.server.shutdown()
        else:
            self.server.kill()
        self.pause(self.rng.uniform(0.2, 1.0))
        self.server.start()
        self.redis_restarts.append(how)
        self.redis_mid_work += pending + unread > 0

    def wait_settled(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        before: tuple[int, ...] = ()
        while time.monotonic() < deadline:
            self.services.supervise()
            if self.work_left() == (0, 0) and settled(self.ctl, self.raw, self.keys):
                now = output_lengths(self.ctl, self.keys)
                if now == before:
                    return True
                before = now
                self.pause(0.5)
                continue
            before = ()
            self.pause(0.2)
        return False

    def run(self) -> tuple[Observed, dict[str, Any]]:
        self._start()
        base = int(time.time() * 1000)
        entries = self.plan.entries
        for seq, entry in enumerate(entries, 1):
            entry.entry_id = f"{base}-{seq}"
        publisher = Publisher(self.server.url, self.keys.net_assets, entries)
        publisher.start()
        n_main = len(self.plan.main)
        try:
            self._one_worker(publisher, n_main // 2)
            self._two_workers(publisher, n_main // 2, n_main)
            # The rest of the main stream, then the late entries once it has settled.
            ok = self._all_published(publisher, n_main, "main stream")
            ok = self._all_published(publisher, len(entries), "late entries") and ok
            pending, unread = self.work_left()
        finally:
            publisher.stop()
            publisher.join(timeout=30)
        stopped = self.services.stop_all()
        facts = {"redis_url": self.server.url, "settled": ok}
        facts |= {"pending_at_end": pending, "unread_at_end": unread}
        return observe(self.raw, self.keys), facts | self._facts(stopped, publisher)

    def _start(self) -> None:
        """Redis, the agreement and every amendment but the retroactive one, the projector."""
        self.server.start()
        self.env = clean_env(
            self.server.url,
            PREFIX,
            FEES_BLOCK_MS="100",
            FEES_CLAIM_IDLE_MS=str(self.o.claim_idle_ms),
        )
        self.ctl = redis.Redis.from_url(self.server.url, decode_responses=True, socket_timeout=10)
        self.raw = redis.Redis.from_url(self.server.url, socket_timeout=10)
        self.services = Services(self.script, self.env, self.workdir / "logs")
        self.say(f"redis-server on {self.server.url} ({self.server.binary}), AOF in {self.workdir}")
        self.cli(
            "register-agreement",
            "--agreement", AGREEMENT,
            "--trust", "Chaos Trust",
            "--agreement-date", "2019-06-01",
            "--day-count", "ACT/365F",
            "--rounding", "ROUND_HALF_UP:0.01",
        )  # fmt: skip
        for amendment in AMENDMENTS:
            if amendment is not RETROACTIVE:
                self.say(self.amend(amendment.number))
        self.services.start("projector", "projector", "projector-1")

    def _one_worker(self, publisher: Publisher, first_half: int) -> None:
        """Phase 1: one worker, SIGKILLed at a random moment after it is ready, the
        retroactive amendment recorded halfway while the next slices are priced."""
        o = self.o
        if o.kills == 0:
            self.say(self.amend(RETROACTIVE.number))
        amend: threading.Thread | None = None
        failed: list[BaseException] = []

        def retroactive() -> None:
            try:
                # Once a date it changes is accrued (for a while at most): there is then
                # always something for it to adjust.
                deadline = time.monotonic() + 60
                while not self.accrued_since(RETROACTIVE) and time.monotonic() < deadline:
                    time.sleep(0.02)
                self.say(self.amend(RETROACTIVE.number))
            except BaseException as exc:
                failed.append(exc)

        for k in range(o.kills):
            consumer = "solo" if self.rng.random() < 0.5 else f"solo-{k}"
            self.services.start("a", "fee-worker", consumer)
            if k == o.kills // 2:
                amend = threading.Thread(target=retroactive, daemon=True)
                amend.start()
            self.strike("a", "one worker", publisher, first_half * (k + 1) // o.kills)
        if amend is not None:
            if amend.is_alive():
                # Each worker died before it priced a date the amendment changes (a slow
                # start on a busy machine): one more prices until it is recorded.
                waiting = self.services.start("a", "fee-worker", "solo")
                amend.join(timeout=120)
                waiting.stop()
            if amend.is_alive() or failed:
                raise RuntimeError(f"the retroactive amendment was not recorded: {failed}")
        self.say(f"phase 1 done: {self.kills['one worker']} kills")

    def _two_workers(self, publisher: Publisher, first_half: int, n_main: int) -> None:
        """Phase 2: two workers; a random one of them killed about every second, and Redis
        restarted --redis-restarts times along the way."""
        o = self.o
        self.services.start("a", "fee-worker", "pair-a")
        self.services.start("b", "fee-worker", "pair-b")
        restart_at = [
            round((j + 1) * o.kills / (o.redis_restarts + 1)) for j in range(o.redis_restarts)
        ]
        for k in range(o.kills):
            self.pause(self.rng.uniform(0.5, 1.0))
            slot = self.rng.choice(["a", "b"])
            old = self.services.running[slot].consumer
            upto = first_half + (n_main - first_half) * (k + 1) // o.kills
            self.strike(slot, "one of two", publisher, upto)
            consumer = old if self.rng.random() < 0.5 else f"pair-{slot}-{k}"
            self.services.start(slot, "fee-worker", consumer)
            for _ in range(restart_at.count(k)):
                step = (n_main - first_half) // max(o.kills, 1)
                self.restart_redis(publisher, min(upto + step, n_main))
        while len(self.redis_restarts) < o.redis_restarts:  # --kills 0 or 1
            self.restart_redis()
        self.say(f"phase 2 done: {self.kills['one of two']} kills")

    def _all_published(self, publisher: Publisher, upto: int, what: str) -> bool:
        """Entries up to `upto` published, and whether the workers then settled them."""
        publisher.allow(upto)
        publisher.wait_published(upto, self.o.settle_timeout)
        ok = self.wait_settled(self.o.settle_timeout)
        self.say(f"{what} settled: {ok}")
        return ok

    def _facts(self, stopped: dict[str, int | None], publisher: Publisher) -> dict[str, Any]:
        """What the chaos did: kills, restarts, how the services ended."""
        return {
            "kills": dict(self.kills),
            "kills_mid_work": dict(self.mid_work),
            "worker_starts": sum(1 for s in self.services.history if s.service == "fee-worker"),
            "redis_restarts": list(self.redis_restarts),
            "redis_restarts_mid_work": self.redis_mid_work,
            "exited_on_their_own": list(self.services.exits),
            "stop_status": dict(stopped),
            "tracebacks_logged": sum(s.tracebacks() for s in self.services.history),
            "publish_retries": publisher.retries,
        }

    def close(self) -> None:
        if hasattr(self, "services"):
            self.services.kill_all()
        self.server.stop()


def run(options: Options) -> Outcome:
    """One chaos run, from nothing to the verdict."""
    before = cpu_times()
    started = time.monotonic()
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="feeschedule-chaos-"))
    workdir.mkdir(parents=True, exist_ok=True)
    entries = plan(options.good, options.fuzz, options.seed)
    chaos = Chaos(options, entries, workdir)
    clean = False
    try:
        observed, facts = chaos.run()
        verdict = judge(entries, observed, chaos.keys.net_assets)
        facts["elapsed_s"] = round(time.monotonic() - started, 1)
        facts["machine"] = describe(before, cpu_times())
        outcome = Outcome(verdict, facts, workdir)
        clean = outcome.clean
        return outcome
    finally:
        chaos.close()
        if clean and not options.keep and options.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
            outcome.workdir = None


def _counts(counter: dict[str, int]) -> str:
    if not counter:
        return "none"
    return ", ".join(f"{k} {v:,}" for k, v in sorted(counter.items(), key=lambda kv: -kv[1]))


def report(outcome: Outcome, options: Options) -> str:
    v, c = outcome.verdict, outcome.chaos
    cats = v.info["categories"]
    lines = [
        f"chaos: seed {options.seed}; {options.good:,} good reports, {options.fuzz:,} fuzzed"
        f" entries; {options.kills} kills of one worker, {options.kills} of one of two;"
        f" {options.redis_restarts} Redis restarts",
    ]
    lines += [f"{name.replace('_', '-'):<22}{v.counts[name]:>6,}" for name in FIVE]
    lines += [
        f"{'inputs':<22}{v.info['inputs']:,} entries: {cats.get('good', 0):,} good,"
        f" {cats.get('duplicate', 0):,} exact duplicates, {cats.get('conflict', 0):,}"
        f" same-revision conflicts, {cats.get('poison', 0):,} fuzzed",
        f"{'expected':<22}{v.info['dates_expected_priced']:,} dates priced,"
        f" {v.info['dates_expected_held']:,} held",
        f"{'accrued':<22}{v.info['fee_accrued']:,} FeeAccrued",
        f"{'adjusted by reason':<22}{_counts(v.info['adjusted_by_reason'])}",
        f"{'dead letters by code':<22}{_counts(v.info['dead_letters_by_code'])}",
        f"{'held by code':<22}{_counts(v.info['held_by_code'])}",
        f"{'ignored by code':<22}{_counts(v.info['ignored_by_code'])}",
        f"{'fuzzed, not refused':<22}{_counts(v.info['poison_accepted'])}",
        f"{'unexpected codes':<22}{_counts(v.info['poison_code_mismatches'])}",
        f"{'kills':<22}one worker {c['kills']['one worker']} ({c['kills_mid_work']['one worker']}"
        f" with work pending or unread), one of two {c['kills']['one of two']}"
        f" ({c['kills_mid_work']['one of two']})",
        f"{'restarts':<22}worker starts {c['worker_starts']}; Redis"
        f" {len(c['redis_restarts'])} ({', '.join(c['redis_restarts']) or 'none'};"
        f" {c['redis_restarts_mid_work']} with work pending or unread);"
        f" services that exited on their own: {len(c['exited_on_their_own'])}",
    ]
    lines += [f"{'':<22}{text}" for text in c["exited_on_their_own"][:10]]
    bad_stops = {k: s for k, s in c["stop_status"].items() if s != 0}
    lines += [
        f"{'stopped (SIGTERM)':<22}{len(c['stop_status'])} services,"
        f" {bad_stops or 'all with status 0'}",
        f"{'settled':<22}{'yes' if c['settled'] else 'NO'} (pending {c['pending_at_end']},"
        f" unread {c['unread_at_end']}); tracebacks in service logs: {c['tracebacks_logged']};"
        f" sends retried: {c['publish_retries']}",
        f"{'elapsed':<22}{c['elapsed_s']} s",
    ]
    for name in FIVE:
        for text in v.examples.get(name, []):
            lines.append(f"  {name}: {text}")
    if outcome.workdir is not None:
        lines.append(f"logs and data kept in {outcome.workdir}")
    lines.append(c["machine"])
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=100, help="SIGKILLs per phase")
    parser.add_argument("--fuzz", type=int, default=10_000, help="fuzzed entries")
    parser.add_argument("--good", type=int, default=10_000, help="good reports")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--redis-restarts", type=int, default=2)
    parser.add_argument("--max-delay", type=float, default=2.0, help="seconds, at most")
    parser.add_argument("--claim-idle-ms", type=int, default=1000)
    parser.add_argument("--settle-timeout", type=float, default=300)
    parser.add_argument("--redis-server", help="the redis-server binary to run")
    parser.add_argument("--keep", action="store_true", help="keep logs and data of a clean run")
    args = parser.parse_args(argv)
    options = Options(
        kills=args.kills,
        fuzz=args.fuzz,
        good=args.good,
        seed=args.seed,
        redis_restarts=args.redis_restarts,
        max_delay=args.max_delay,
        claim_idle_ms=args.claim_idle_ms,
        settle_timeout=args.settle_timeout,
        redis_server=args.redis_server,
        keep=args.keep,
    )
    outcome = run(options)
    print(report(outcome, options))
    return 0 if outcome.clean else 1


if __name__ == "__main__":
    sys.exit(main())

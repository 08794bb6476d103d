"""The fee ledger on Redis (services.app.ledger.LedgerStore), settled by one Lua step (settle.lua).

Ledger: one hash per portfolio (`keys.ledger(portfolio)`), as_of date -> the ledger entry JSON.
`RedisLedgerStore.settle` sends a step's operations to settle.lua (EVALSHA), which checks every
precondition first, then writes ledger entries, output events, dead letters and parked reports,
moves the worker's checkpoint and XACKs the entries it settled: all or nothing, so a crash at
any moment leaves either the whole step done or nothing of it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from importlib import resources
from typing import Any, assert_never

import redis
import redis.asyncio as aioredis

from services.adapters.connection import LAG_COUNTED, lag_start, text
from services.adapters.keys import Keys
from services.app.ledger import SettleResult, month_outcomes
from services.app.operations import (
    Accrue,
    Ack,
    CloseMonth,
    Conflict,
    DropInvoice,
    Emit,
    ExpectEntry,
    ExpectLength,
    HoldInvoice,
    Op,
    Park,
    Revise,
    Unpark,
    Where,
    closed_by_portfolio,
    closed_field,
    held_for,
    invoice_prefix,
    unpriced_field,
)

log = logging.getLogger("feeschedule.fee_worker")

SETTLE_LUA = resources.files("services.adapters").joinpath("settle.lua").read_text()
# Compare-and-set on the lease: take it if free or ours (and extend it); drop it only if ours.
TAKE_LEASE_LUA = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
DROP_LEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisLedgerStore:
    """Async access to the ledger, the unpriced reports and the worker checkpoint."""

    def __init__(
        self,
        client: aioredis.Redis,
        keys: Keys,
        group: str,
        source: str | None = None,
        elsewhere: Sequence[Keys] = (),
    ) -> None:
        self.client = client
        self.keys = keys
        self.group = group
        # The other partitions' keys, whose ledgers `read_elsewhere` reads.
        self.elsewhere = elsewhere
        # The input stream whose entries a step acknowledges (the net assets by default).
        self.source = keys.net_assets if source is None else source
        self._settle = client.register_script(SETTLE_LUA)
        self._take_lease = client.register_script(TAKE_LEASE_LUA)
        self._drop_lease = client.register_script(DROP_LEASE_LUA)

    async def take_lease(self, holder: str, ttl_ms: int) -> bool:
        return bool(await self._take_lease(keys=[self.keys.advance_lease], args=[holder, ttl_ms]))

    async def drop_lease(self, holder: str) -> None:
        await self._drop_lease(keys=[self.keys.advance_lease], args=[holder])

    async def checkpoint(self) -> str:
        value: Any = await self.client.get(self.keys.worker_checkpoint)
        return "" if value is None else text(value)

    async def read_ledgers(self, portfolio_ids: Iterable[str]) -> dict[str, dict[str, str]]:
        return await self._read([self.keys], list(portfolio_ids))

    async def read_elsewhere(self, portfolio_ids: Iterable[str]) -> dict[str, dict[str, str]]:
        ids = list(portfolio_ids)
        return {pid: {} for pid in ids} | await self._read(self.elsewhere, ids)

    async def _read(self, lanes: Sequence[Keys], ids: list[str]) -> dict[str, dict[str, str]]:
        """The ledgers of `ids` in `lanes`, merged per portfolio (a key that is not a hash
        holds no accrual: left out, and the settle step refuses it)."""
        asked = [(lane, pid) for lane in lanes for pid in ids]
        if not asked:
            return {}
        async with self.client.pipeline(transaction=False) as pipe:
            for lane, pid in asked:
                pipe.hgetall(lane.ledger(pid))
            replies: list[Any] = await pipe.execute(raise_on_error=False)
        out: dict[str, dict[str, str]] = {}
        for (_, pid), reply in zip(asked, replies, strict=True):
            if isinstance(reply, redis.ResponseError):
                log.warning("ledger of %s not read: %s", pid, reply)
                continue
            out.setdefault(pid, {}).update((text(k), text(v)) for k, v in reply.items())
        return out

    async def covered_days(self) -> dict[str, set[str]]:
        pids = await self.ledger_portfolios()
        async with self.client.pipeline(transaction=False) as pipe:
            for pid in pids:
                pipe.hkeys(self.keys.ledger(pid))
                pipe.hkeys(self.keys.coverage(pid))
            replies: list[Any] = await pipe.execute(raise_on_error=False)
        out: dict[str, set[str]] = {}
        for pid, ledger, coverage in zip(pids, replies[::2], replies[1::2], strict=True):
            if isinstance(ledger, redis.ResponseError) or isinstance(coverage, redis.ResponseError):
                continue  # not a hash: the settle step refuses it, and says why
            out[pid] = {text(day) for day in (*ledger, *coverage)}
        return out

    async def closed_months(self, portfolio_id: str) -> dict[str, str]:
        pattern = _starting(closed_field(portfolio_id, ""))
        found = self.client.hscan_iter(self.keys.closed_months, match=pattern)
        named = [(held_for(portfolio_id, text(name)), text(v)) async for name, v in found]
        return {month: value for month, value in named if month is not None}

    async def closed_periods(self) -> dict[str, set[str]]:
        reply: Any = await self.client.hkeys(self.keys.closed_months)
        return closed_by_portfolio(text(name) for name in reply)

    async def invoice_outcomes(self, portfolio_id: str, month: str) -> list[dict[str, Any]]:
        rows: Any = await self.client.xrange(self.keys.invoice_outcomes)
        outcomes = ((text(f[b"type"]), f[b"data"]) for _, f in rows)
        return month_outcomes(outcomes, portfolio_id, month)

    async def ledger_portfolios(self) -> list[str]:
        members: Any = await self.client.smembers(self.keys.ledger_portfolios)
        return sorted(text(m) for m in members)

    async def waiting_invoices(self, portfolio_id: str, month: str) -> dict[str, str]:
        pattern = _starting(invoice_prefix(portfolio_id, month))
        found = self.client.hscan_iter(self.keys.invoices_waiting, match=pattern)
        return {text(name): text(value) async for name, value in found}

    async def unsettled(self) -> int:
        try:
            groups: Any = await self.client.xinfo_groups(self.source)
        except redis.ResponseError:
            return 0  # no input stream: nothing sent, nothing to settle
        for info in groups:
            fields = {text(k): v for k, v in info.items()}
            if text(fields.get("name", "")) == self.group:
                lag = fields.get("lag")
                if lag is None:  # Redis before 7: count what follows the last delivered entry
                    after = lag_start(fields)
                    rows: Any = await self.client.xrange(self.source, after, "+", LAG_COUNTED)
                    lag = len(rows)
                return int(fields.get("pending") or 0) + int(lag)
        return int(await self.client.xlen(self.source))  # no worker has read any

    async def read_unpriced(self) -> dict[str, str]:
        reply: Any = await self.client.hgetall(self.keys.unpriced)
        return {text(k): text(v) for k, v in reply.items()}

    async def settle(
        self, ops: Sequence[Op], expected_checkpoint: str, new_checkpoint: str = ""
    ) -> SettleResult:
        keys, args = self._encode(ops, expected_checkpoint, new_checkpoint)
        reply: Any = await self._settle(keys=keys, args=args)
        status = text(reply[0])
        if status == "stale":
            return SettleResult("stale", detail=text(reply[1]))
        if status == "conflict":
            return SettleResult("conflict", detail=text(reply[1]))
        if status == "refused":
            key, kind = text(reply[1]).rsplit(" ", 1)  # the type is one word; a key may hold spaces
            reason = f"ledger: the key {key!r} holds a {kind}, not a ledger hash; fix or delete it"
            pid = key.removeprefix(self.keys.ledger("")).removeprefix(self.keys.coverage(""))
            return SettleResult("refused", detail=reason, portfolio_id=pid)
        conflicts: list[Conflict] = []
        for i in range(1, len(reply), 3):
            op = ops[int(reply[i])]
            where = _WHERE[text(reply[i + 1])]
            assert isinstance(op, Accrue | Park | Revise)
            conflicts.append((op, where, text(reply[i + 2])))
        return SettleResult("ok", conflicts)

    def _encode(
        self, ops: Sequence[Op], expected_checkpoint: str, new_checkpoint: str
    ) -> tuple[list[str], list[str | int]]:
        portfolios: dict[str, int] = {}

        def k(portfolio_id: str) -> int:
            number = portfolios.get(portfolio_id)
            if number is None:
                number = portfolios[portfolio_id] = len(portfolios) + 1
            return number

        body = [field for op in ops for field in _fields(op, k)]
        keys = self.keys
        key_list = [
            self.source,
            keys.accruals,
            keys.dead_letters,
            keys.unpriced,
            keys.worker_checkpoint,
            keys.report_outcomes,
            keys.ledger_portfolios,
            *(keys.ledger(pid) for pid in portfolios),
            *(keys.coverage(pid) for pid in portfolios),
            keys.closed_months,
            keys.invoice_outcomes,
            keys.invoices_waiting,
        ]
        header: list[str | int] = [self.group, expected_checkpoint, new_checkpoint, len(portfolios)]
        return key_list, [*header, *portfolios, *body]


# KEYS of settle.lua ('I': the invoice outcomes, after the portfolios' keys).
_STREAM_INDEX = {
    "accruals": "2",
    "report_outcomes": "6",
    "dead_letters": "3",
    "invoice_outcomes": "I",
}
_WHERE: dict[str, Where] = {"ledger": "ledger", "unpriced": "unpriced", "coverage": "coverage"}


def _fields(op: Op, k: Callable[[str], int]) -> list[str]:
    """One operation as settle.lua reads it (see its header); `k` numbers the ledgers."""
    if type(op) is Accrue:  # nearly every operation: the match below, without its look-ups
        field, parked = op.unpriced or ("", "")
        event = op.event
        return [
            "A",
            str(k(op.portfolio_id)),
            op.as_of,
            op.ledger,
            event["event_id"],
            event["data"],
            op.ack or "",
            field,
            parked,
            ",".join(op.covers),
        ]
    match op:
        case Revise(pid, as_of, expected, ledger, event, ack, covers, releases):
            data = [event.get("event_id", ""), event.get("data", ""), ack or ""]
            days = [",".join(covers), ",".join(releases)]
            return ["R", str(k(pid)), as_of, expected, ledger, *data, *days, op.books_in]
        case Park(pid, as_of, report, event, ack, expected):
            held = [op.field, report.model_dump_json(), expected or ""]
            return ["P", str(k(pid)), as_of, *held, event["event_id"], event["data"], ack or ""]
        case Emit(stream, event, ack):
            data = [event["event_id"], event["type"], event["data"], ack or ""]
            return ["E", _STREAM_INDEX[stream], *data]
        case Unpark(field, expected):
            return ["U", field, expected]
        case Ack(ack):
            return ["K", ack or ""]
        case ExpectLength(pid, length):
            return ["L", "0" if pid is None else str(k(pid)), str(length)]
        case ExpectEntry(pid, as_of, entry):
            return ["X", str(k(pid)), as_of, entry or ""]
        case HoldInvoice(field, invoice, ack, closed):
            return ["H", field, invoice, ack or "", closed]
        case DropInvoice(field):
            return ["D", field]
        case CloseMonth(events=events):
            k(op.portfolio_id)  # its ledger is named, as every portfolio's a step writes
            emitted = [part for e in events for part in (e["event_id"], e["type"], e["data"])]
            return ["C", op.field, op.record, str(len(events)), *emitted]
    assert_never(op)


async def claim_partitions(client: aioredis.Redis, keys: Keys, partitions: int) -> None:
    """Record how many partitions the workers route by, or refuse a worker that routes by
    another number: two such workers would settle one portfolio's reports in two places."""
    await client.set(keys.partitions, partitions, nx=True)
    stored: Any = await client.get(keys.partitions)
    if stored is not None and int(stored) != partitions:
        raise RuntimeError(
            f"partitions: {partitions} (FEES_PARTITIONS) differs from the {int(stored)} the fee"
            f" workers of prefix {keys.prefix!r} route by ({keys.partitions}); run every worker"
            " with the same number (changing it needs the input streams drained first)"
        )


# The command line's and the site's reads of one portfolio. With several partitions they read
# every partition: a group member's days settle in its group's partition (services.app.routing).


def read_ledger(client: redis.Redis, lanes: Sequence[Keys], portfolio_id: str) -> dict[str, str]:
    """One portfolio's ledger (as_of -> entry JSON)."""
    out: dict[str, str] = {}
    for keys in lanes:
        reply: Any = client.hgetall(keys.ledger(portfolio_id))
        out |= {text(k): text(v) for k, v in reply.items()}
    return dict(sorted(out.items()))


def has_ledger(client: redis.Redis, lanes: Sequence[Keys], portfolio_id: str) -> bool:
    return any(client.exists(keys.ledger(portfolio_id)) for keys in lanes)


def read_unpriced_dates(client: redis.Redis, lanes: Sequence[Keys], portfolio_id: str) -> list[str]:
    """Dates of this portfolio's reports still waiting for a schedule."""
    hashes = [keys.unpriced for keys in lanes]
    return sorted(_held_for(client, hashes, portfolio_id, unpriced_field(portfolio_id, "")))


def read_closed_months(client: redis.Redis, lanes: Sequence[Keys], portfolio_id: str) -> list[str]:
    """The portfolio's closed months (YYYY-MM)."""
    hashes = [keys.closed_months for keys in lanes]
    return sorted(set(_held_for(client, hashes, portfolio_id, closed_field(portfolio_id, ""))))


def _held_for(
    client: redis.Redis, hashes: list[str], portfolio_id: str, prefix: str
) -> Iterator[str]:
    """The months or days the portfolio's names in `hashes` hold (`prefix`: its names' start)."""
    for key in hashes:
        for name, _ in client.hscan_iter(key, match=_starting(prefix)):
            if (held := held_for(portfolio_id, text(name))) is not None:
                yield held


def _starting(prefix: str) -> str:
    """The HSCAN pattern of the field names that start with `prefix`."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in prefix) + "*"

"""The fee ledger on Redis, and the one atomic step that settles a batch (settle.lua).

Ledger: one hash per portfolio (`keys.ledger(portfolio)`), as_of date -> the ledger entry JSON.
`LedgerStore.settle` sends a batch's operations to settle.lua (EVALSHA), which checks every
precondition first, then writes ledger entries, output events, dead letters and parked reports,
moves the worker's checkpoint and XACKs the entries it settled: all or nothing, so a crash at
any moment leaves either the whole batch done or nothing of it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

import redis
import redis.asyncio as aioredis

from services.adapters.keys import Keys
from services.fee_worker.pricing import (
    Accrue,
    Ack,
    Conflict,
    Emit,
    Op,
    Park,
    Revise,
    Unpark,
)

log = logging.getLogger("feeschedule.fee_worker")

SETTLE_LUA = resources.files("services.fee_worker").joinpath("settle.lua").read_text()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True, slots=True)
class SettleResult:
    """What the step did: `ok` (with conflicts left for a second step), `stale`, `conflict`."""

    status: Literal["ok", "stale", "conflict", "refused"]
    conflicts: list[Conflict] = field(default_factory=list)
    # `stale`: the checkpoint found; `conflict`: the key whose precondition failed;
    # `refused`: "KEY TYPE", a ledger key that holds something other than a hash.
    detail: str = ""


class LedgerStore:
    """Async access to the ledger, the unpriced reports and the worker checkpoint."""

    def __init__(self, client: aioredis.Redis, keys: Keys, group: str) -> None:
        self.client = client
        self.keys = keys
        self.group = group
        self._settle = client.register_script(SETTLE_LUA)

    async def checkpoint(self) -> str:
        value: Any = await self.client.get(self.keys.worker_checkpoint)
        return "" if value is None else _text(value)

    async def read_ledgers(self, portfolio_ids: Iterable[str]) -> dict[str, dict[str, str]]:
        ids = list(portfolio_ids)
        if not ids:
            return {}
        async with self.client.pipeline(transaction=False) as pipe:
            for pid in ids:
                pipe.hgetall(self.keys.ledger(pid))
            replies: list[Any] = await pipe.execute(raise_on_error=False)
        out: dict[str, dict[str, str]] = {}
        for pid, reply in zip(ids, replies, strict=True):
            if isinstance(reply, redis.ResponseError):
                # Not a hash, so it holds no accrual to adjust; the settle step refuses it.
                log.warning("ledger of %s not read: %s", pid, reply)
                continue
            out[pid] = {_text(k): _text(v) for k, v in reply.items()}
        return out

    async def read_unpriced(self) -> dict[str, str]:
        reply: Any = await self.client.hgetall(self.keys.unpriced)
        return {_text(k): _text(v) for k, v in reply.items()}

    async def settle(
        self, ops: Sequence[Op], expected_checkpoint: str, new_checkpoint: str = ""
    ) -> SettleResult:
        """Apply `ops` in one atomic step, if the checkpoint is still `expected_checkpoint`."""
        keys, args = self._encode(ops, expected_checkpoint, new_checkpoint)
        reply: Any = await self._settle(keys=keys, args=args)
        status = _text(reply[0])
        if status == "stale":
            return SettleResult("stale", detail=_text(reply[1]))
        if status == "conflict":
            return SettleResult("conflict", detail=_text(reply[1]))
        if status == "refused":
            return SettleResult("refused", detail=_text(reply[1]))
        conflicts: list[Conflict] = []
        for i in range(1, len(reply), 3):
            op = ops[int(reply[i])]
            where = _text(reply[i + 1])
            assert isinstance(op, Accrue | Park) and where in ("ledger", "unpriced")
            conflicts.append(
                (op, "ledger" if where == "ledger" else "unpriced", _text(reply[i + 2]))
            )
        return SettleResult("ok", conflicts)

    def _encode(
        self, ops: Sequence[Op], expected_checkpoint: str, new_checkpoint: str
    ) -> tuple[list[str], list[str | int]]:
        portfolios: dict[str, int] = {}

        def k(portfolio_id: str) -> int:
            if portfolio_id not in portfolios:
                portfolios[portfolio_id] = len(portfolios) + 1
            return portfolios[portfolio_id]

        body = ["\n".join(_fields(op, k)) for op in ops]
        keys = self.keys
        key_list = [
            keys.net_assets,
            keys.accruals,
            keys.dead_letters,
            keys.unpriced,
            keys.worker_checkpoint,
            keys.report_outcomes,
            keys.ledger_portfolios,
            *(keys.ledger(pid) for pid in portfolios),
        ]
        header: list[str | int] = [
            self.group,
            expected_checkpoint,
            new_checkpoint,
            len(portfolios),
            *portfolios,
        ]
        return key_list, [*header, *body]


_STREAM_INDEX = {"report_outcomes": "6", "dead_letters": "3"}  # KEYS of settle.lua


def _fields(op: Op, k: Callable[[str], int]) -> list[str]:
    """One operation as settle.lua reads it (see its header); `k` numbers the ledgers."""
    ack = (op.ack or "") if isinstance(op, Accrue | Revise | Park | Emit | Ack) else ""
    if isinstance(op, Accrue):
        field, parked = op.unpriced or ("", "")
        event_id, data = op.event["event_id"], op.event["data"]
        return [
            "A",
            str(k(op.portfolio_id)),
            op.as_of,
            op.ledger,
            event_id,
            data,
            ack,
            field,
            parked,
        ]
    if isinstance(op, Revise):
        event_id, data = op.event["event_id"], op.event["data"]
        return ["R", str(k(op.portfolio_id)), op.as_of, op.expected, op.ledger, event_id, data, ack]
    if isinstance(op, Park):
        report, expected = op.report.model_dump_json(), op.expected or ""
        event_id, data = op.event["event_id"], op.event["data"]
        return [
            "P",
            str(k(op.portfolio_id)),
            op.as_of,
            op.field,
            report,
            expected,
            event_id,
            data,
            ack,
        ]
    if isinstance(op, Emit):
        ev = op.event
        return ["E", _STREAM_INDEX[op.stream], ev["event_id"], ev["type"], ev["data"], ack]
    if isinstance(op, Unpark):
        return ["U", op.field, op.expected]
    if isinstance(op, Ack):
        return ["K", ack]
    return ["L", "0" if op.portfolio_id is None else str(k(op.portfolio_id)), str(op.length)]


def read_ledger(client: redis.Redis, keys: Keys, portfolio_id: str) -> dict[str, str]:
    """One portfolio's ledger (as_of -> entry JSON), for the command line."""
    reply: Any = client.hgetall(keys.ledger(portfolio_id))
    return {_text(k): _text(v) for k, v in reply.items()}


def read_unpriced_dates(client: redis.Redis, keys: Keys, portfolio_id: str) -> list[str]:
    """Dates of this portfolio's reports still waiting for a schedule."""
    prefix = f"{portfolio_id}|"
    return sorted(
        _text(name)[len(prefix) :]
        for name, _ in client.hscan_iter(keys.unpriced, match=_glob_escape(prefix) + "*")
    )


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)

"""`ReadModel`: one key prefix's read model in Redis, through its Lua scripts.

Reading (`lookup`, `answer_now`: the generation resolved and read in one script), live writing
(`apply_entries`, `catch_up`: documents and checkpoint moved in one script), dead letters, and
the rebuild's last steps (catch up, swap the pointer, drop the old generation; the fold itself
is `rebuild.fold_log`). The scripts are the `.lua` files beside this module.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from importlib import resources
from typing import Any

import pydantic_core
import redis

from contracts.messages import AmendmentRetracted, DeadLetter, DeadLetterCode, Message
from contracts.wire import encode
from services.adapters.keys import Keys
from services.adapters.readmodel.documents import PortfolioRows, timeline_from_doc
from services.adapters.readmodel.naming import (
    amendment_field,
    answer_field,
    name_key,
    new_generation,
)
from services.adapters.readmodel.projection import (
    Decoded,
    OnPoison,
    Projection,
    affected_portfolios,
    as_str,
    decode_entries,
)
from services.adapters.readmodel.rebuild import fold_log
from services.domain.fees import FeeSchedule
from services.domain.timeline import (
    KnownAt,
    ScheduleAnswer,
    ScheduleTimeline,
    ScheduleVersion,
    VersionKind,
    position_key,
)


def _script(name: str) -> str:
    return resources.files("services.adapters.readmodel").joinpath(name).read_text()


_APPLY_LUA = _script("apply.lua")
_LOOKUP_LUA = _script("lookup.lua")
_SWAP_LUA = _script("swap.lua")
_ANSWER_LUA = _script("answer.lua")


@dataclass(frozen=True, slots=True)
class Lookup:
    """One portfolio as the read model holds it, read from a single generation."""

    generation: str
    portfolio_id: str
    checkpoint: str
    document: dict[str, Any]

    @property
    def timeline(self) -> ScheduleTimeline:
        return timeline_from_doc(self.document)

    def schedule_on(
        self, on: date, known_at: KnownAt = None, skeleton: ScheduleTimeline | None = None
    ) -> ScheduleAnswer:
        """`ScheduleTimeline.schedule_on` over the stored versions, building only the
        FeeSchedules of the versions in the answer (the fast path of `--source read-model`)."""
        rows = PortfolioRows.from_doc(self.document)
        if skeleton is None:
            skeleton = rows.timeline(self.portfolio_id, schedules=False)
        answer = skeleton.schedule_on(on, known_at)
        tiers = {(v.source.position, v.kind, v.effective_from): v.tiers for v in rows.versions}

        def filled(version: ScheduleVersion | None) -> ScheduleVersion | None:
            if version is None:
                return None
            key = (
                version.provenance.recorded.position,
                version.kind.value,
                version.effective_from.isoformat(),
            )
            raw = tiers.get(key)
            schedule = None if raw is None else FeeSchedule.from_json(json.loads(raw))
            return replace(version, schedule=schedule)

        version, base = filled(answer.version), filled(answer.base)
        schedule = None
        if version is not None and version.kind is not VersionKind.REMOVE:
            schedule = version.schedule
        return replace(answer, schedule=schedule, version=version, base=base)


class ReadModel:
    """Reads and writes the read model of one key prefix (sync client; thread-safe scripts)."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self.rm_prefix = keys.read_model("")
        self._apply = client.register_script(_APPLY_LUA)
        self._lookup = client.register_script(_LOOKUP_LUA)
        self._swap = client.register_script(_SWAP_LUA)
        self._answer = client.register_script(_ANSWER_LUA)

    def gen_key(self, generation: str, part: str) -> str:
        return f"{self.keys.read_model(generation)}:{part}"

    # ---- reading ------------------------------------------------------------------------

    def current(self) -> str | None:
        raw: Any = self.client.get(self.keys.read_model_pointer)
        return None if raw is None else as_str(raw)

    def checkpoint(self, generation: str) -> str:
        raw: Any = self.client.get(self.gen_key(generation, "checkpoint"))
        return "" if raw is None else as_str(raw)

    def lookup(self, name_or_id: str) -> Lookup | None:
        """The portfolio (by id or any name it has had) from the current generation."""
        reply: Any = self._lookup(
            keys=[self.keys.read_model_pointer], args=[self.rm_prefix, name_or_id]
        )
        gen, pid, doc, checkpoint = (as_str(v) for v in reply)
        if not doc:
            reply = self._lookup(
                keys=[self.keys.read_model_pointer], args=[self.rm_prefix, name_key(name_or_id)]
            )
            gen, pid, doc, checkpoint = (as_str(v) for v in reply)
        if not doc:
            return None
        return Lookup(gen, pid, checkpoint, pydantic_core.from_json(doc))

    def answer_now(self, name_or_id: str, on: date) -> tuple[str, dict[str, Any]] | None:
        """(portfolio id, stored answer) for `on` as known now, in one script call that
        resolves the generation, the name and the date's segment; None if unknown."""
        day = f"{on.year:04d}{on.month:02d}{on.day:02d}"
        reply: Any = self._answer(
            keys=[self.keys.read_model_pointer],
            args=[self.rm_prefix, name_or_id, name_key(name_or_id), day],
        )
        pid, answer = reply
        if not answer:
            return None
        return as_str(pid), json.loads(answer)

    # ---- writing --------------------------------------------------------------------------

    def ensure_current(self) -> str:
        """The current generation, creating an empty one on first use."""
        self.client.set(self.keys.read_model_pointer, new_generation(), nx=True)
        gen = self.current()
        assert gen is not None
        return gen

    def _load(self, generation: str, projection: Projection, messages: list[Message]) -> None:
        """Fetch the documents and amendment index entries the messages will change."""
        pids: set[str] = set()
        retracted: list[str] = []
        for m in messages:
            pids.update(affected_portfolios(m))
            if isinstance(m, AmendmentRetracted):
                retracted.append(amendment_field(m.agreement_id, m.amendment_number))
        if retracted:
            rows: Any = self.client.hmget(self.gen_key(generation, "amendments"), retracted)
            for key, raw in zip(retracted, rows, strict=True):
                if raw is not None:
                    projection.amendments[key] = json.loads(raw)
                    pids.update(projection.amendments[key])
        if pids:
            ordered = sorted(pids)
            docs: Any = self.client.hmget(self.gen_key(generation, "portfolios"), ordered)
            for raw in docs:
                if raw is not None:
                    projection.load(pydantic_core.from_json(raw))

    def apply_entries(
        self,
        generation: str,
        expected_checkpoint: str,
        entries: list[Decoded],
        *,
        require_current: bool,
        on_poison: OnPoison | None = None,
    ) -> bool:
        """Apply log entries after `expected_checkpoint` in one atomic step; False on a race.
        An entry the domain's rules reject is not folded (`on_poison` hears of it)."""
        if not entries:
            return True
        projection = Projection()
        self._load(generation, projection, [m for _, _, m in entries])
        projection.fold(entries, on_poison)
        return self._write(
            generation, expected_checkpoint, entries[-1][0], projection, require_current
        )

    def _write(
        self,
        generation: str,
        expected: str,
        checkpoint: str,
        projection: Projection,
        require_current: bool,
    ) -> bool:
        entries = list(projection.portfolio_entries())
        groups: list[list[tuple[str, str]]] = [
            [(pid, doc) for pid, doc, _, _ in entries],
            list(projection.name_pairs()),
            list(projection.amendment_pairs()),
            list(projection.agreements.items()),
            [(pid, index) for pid, _, index, _ in entries],
            [answer_field(pid, i) for pid, _, _, answers in entries for i in enumerate(answers)],
        ]
        flat = [item for group in groups for pair in group for item in pair]
        reply: Any = self._apply(
            keys=[self.keys.read_model_pointer],
            args=[
                self.rm_prefix,
                generation,
                expected,
                checkpoint,
                "1" if require_current else "0",
                *(len(g) for g in groups),
                *flat,
            ],
        )
        return int(reply) == 1

    def catch_up(
        self,
        until: str = "+",
        *,
        generation: str | None = None,
        page: int = 500,
        on_poison: OnPoison | None = None,
    ) -> int:
        """Apply every log entry after the checkpoint up to `until`, in log order.

        Entries at or before the checkpoint are no-ops, so a redelivery changes nothing. With
        `generation` None the current generation is followed (and re-resolved after a swap).
        An entry that cannot be read or that the domain rejects goes to `on_poison` and the
        checkpoint moves past it. Returns how many entries were applied.
        """
        applied = 0
        while True:
            gen = generation or self.ensure_current()
            checkpoint = self.checkpoint(gen)
            if until != "+" and checkpoint and position_key(checkpoint) >= position_key(until):
                return applied
            start = "(" + checkpoint if checkpoint else "-"
            rows: Any = self.client.xrange(self.keys.agreements, min=start, max=until, count=page)
            if not rows:
                return applied
            entries = list(decode_entries(rows, on_poison))
            last = as_str(rows[-1][0])
            if not entries or entries[-1][0] != last:
                # The page ended on an undecodable entry: still move the checkpoint past it.
                entries.append((last, {}, _NOTHING))
            current = generation is None
            if self.apply_entries(
                gen, checkpoint, entries, require_current=current, on_poison=on_poison
            ):
                applied += len(rows)

    def dead_letter(
        self, entry_id: str, fields: dict[bytes, bytes], reason: str, code: DeadLetterCode
    ) -> None:
        """An entry the projector cannot fold, kept on the dead-letter stream (see `OnPoison`)."""
        letter = DeadLetter(
            source_stream=self.keys.agreements,
            entry_id=entry_id,
            fields={as_str(k): as_str(v)[:4000] for k, v in fields.items()},
            code=code,
            reason=reason,
            consumer="projector",
        )
        self.client.xadd(self.keys.dead_letters, encode(letter))  # type: ignore[arg-type]

    # ---- rebuild --------------------------------------------------------------------------

    def rebuild(
        self,
        *,
        page: int = 2000,
        progress: Callable[[int], None] | None = None,
        workers: int = 1,
    ) -> RebuildResult:
        """Replay the whole log into a fresh generation, catch up, swap the pointer, drop the old.

        Every entry is validated in full and folded as the live projector folds it; one that
        cannot be read or that the domain rejects is dead-lettered. Each document is written
        once, at the end. With `workers` > 1 the log up to its current end is folded by that
        many forked processes, a `Share` of the portfolios each (`rebuild.fold_log`).

        The old generation is deleted right after the swap: every read resolves the pointer
        and reads the documents inside one Lua script, so no reader can still be holding the
        old generation's name between two of its reads.
        """
        gen, count = fold_log(self, page, progress, workers)
        while True:
            count += self.catch_up(generation=gen)
            reply: Any = self._swap(
                keys=[self.keys.read_model_pointer, self.keys.agreements],
                args=[self.rm_prefix, gen],
            )
            status, other = (as_str(v) for v in reply)
            if status == "ok":
                break
        if other:
            self.drop(other)
        return RebuildResult(gen, other or None, count)

    def drop(self, generation: str) -> None:
        parts = ("portfolios", "names", "amendments", "agreements", "now", "checkpoint")
        self.client.unlink(*(self.gen_key(generation, p) for p in parts))


@dataclass(frozen=True, slots=True)
class RebuildResult:
    generation: str
    previous: str | None
    events: int


class _Nothing(Message):
    """Stands in for an undecodable entry so the checkpoint can move past it."""

    type: str = "Nothing"


_NOTHING = _Nothing()

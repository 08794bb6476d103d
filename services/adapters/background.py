"""A service's background pass: run every so many seconds until stopped, a failing pass logged
and tried again at the next (the fee worker's upkeep; the intake router's and the projector's
claims)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("feeschedule")


class Periodic:
    """`step` every `seconds`, from `start` until `stop` (which waits for the pass running)."""

    def __init__(self, seconds: float, step: Callable[[], Awaitable[object]], what: str) -> None:
        self.seconds, self.step, self.what = seconds, step, what
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.seconds)
                return
            try:
                await self.step()
            except Exception:
                log.exception("%s failed; retrying", self.what)

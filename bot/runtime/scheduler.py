"""One scheduler for everything that falls due: it sleeps until the earliest due item of all
registered :data:`commands.base.DUE_SOURCES` and wakes early when a command changes the plan
(a handler's ``ctx.wake("scheduler")``). No polling loop."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from commands.base import DUE_SOURCES
from storage import rebuild

if TYPE_CHECKING:
    from bot.runtime.shell import MatrixShell

log = logging.getLogger("organizer_bot.scheduler")


class Scheduler:
    def __init__(self, shell: MatrixShell) -> None:
        self.shell = shell
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def next_due(self) -> datetime | None:
        times = [t for source in DUE_SOURCES.values() if (t := await source.next_due(self.shell.db)) is not None]
        return min(times) if times else None

    async def run(self) -> None:
        await self.shell.ready.wait()  # rooms are known after the first sync
        while True:
            self._wake.clear()
            due = await self.next_due()
            now = datetime.now(UTC)
            if due is not None and due <= now:
                await self.fire_due()
                continue
            timeout = None if due is None else (due - now).total_seconds()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass

    async def fire_due(self) -> None:
        for source in DUE_SOURCES.values():
            env = self.shell.env()
            try:
                async with self.shell.db.transaction():
                    outputs = await source.fire(env)
                    await self.shell.enqueue_outputs(outputs, f"{source.name}:{uuid.uuid4()}")
            except Exception as exc:  # noqa: BLE001 - one broken source must not stop the others
                log.error("scheduled work %s failed: %s", source.name, type(exc).__name__)
                await asyncio.sleep(1)
            else:
                self.shell.wake(env.wakes)  # committed: a woken service sees the changes
        await rebuild.settle(self.shell.db)  # member rows written by the jobs lose their order (issue #23)
        self.shell.kick_outbox()

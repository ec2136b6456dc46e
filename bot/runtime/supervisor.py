"""Every long-lived task of the running bot, supervised (issue #23).

Before, an exception nobody expected ended its task for good: the sync loop's took the process
down (at every start, when its cause was a peer's published keys), the outbox's left the bot
running, syncing and saying it was healthy while nothing was sent any more. Now each task (sync,
outbox, scheduler, the other services) runs under :meth:`Supervisor.supervise`: an unexpected
exception is logged without identities (its type and where it was raised, never its message,
which may name a room or user) and counted, and the task restarts after a backoff that doubles
from :data:`RESTART_FIRST` to :data:`RESTART_MAX` seconds (back to the start after a run of
:data:`STABLE_AFTER` seconds). Short-lived tasks (joins, key preparation) report their deaths
with :meth:`Supervisor.died` (a join that raised: ``bot/runtime/rooms.py``).

A task that died :data:`FAILING_DEATHS` times within :data:`FAILING_WINDOW` seconds "keeps
dying": ``health.json`` lists it and the health check and ``doctor`` say unhealthy
(``bot/runtime/health.py``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import traceback
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.runtime.sending.outbox import Stopping

log = logging.getLogger("organizer_bot")

RESTART_FIRST = 1.0
RESTART_MAX = 60.0
STABLE_AFTER = 60.0
FAILING_DEATHS = 3
FAILING_WINDOW = 600.0


@dataclass
class TaskDeaths:
    total: int = 0
    recent: deque[float] = field(default_factory=deque)  # monotonic times within FAILING_WINDOW


def where(exc: BaseException) -> str:
    """Where an exception was raised: file name and line, nothing of its message."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    return f"{os.path.basename(frames[-1].filename)}:{frames[-1].lineno}"


class Supervisor:
    def __init__(self, stopping: Stopping, clock: Callable[[], float] = time.monotonic,
                 on_death: Callable[[], None] | None = None) -> None:
        self.stopping = stopping
        self.clock = clock
        self.on_death = on_death  # e.g. rewrite health.json at once
        self.deaths: dict[str, TaskDeaths] = {}

    async def supervise(self, name: str, run: Callable[[], Awaitable[None]], *, once: bool = False) -> None:
        """Run ``run()`` until the bot stops, restarting it with backoff when it raises (or, unless
        ``once``, when it returns before the bot stops)."""
        delay = RESTART_FIRST
        while not self.stopping.is_set():
            started = self.clock()
            try:
                await run()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - whatever it was, the task must come back
                self.died(name, exc)
            else:
                if once or self.stopping.is_set():
                    return
                self.died(name, None)
            if self.clock() - started >= STABLE_AFTER:
                delay = RESTART_FIRST
            log.warning("task %s restarts in %.0f s", name, delay)
            await self.stopping.sleep(delay)
            delay = min(delay * 2, RESTART_MAX)

    def died(self, name: str, exc: BaseException | None) -> None:
        """Count a task's death and log it without identities."""
        deaths = self.deaths.setdefault(name, TaskDeaths())
        deaths.total += 1
        deaths.recent.append(self.clock())
        self._forget_old(deaths)
        what = "ended unexpectedly" if exc is None else f"failed: {type(exc).__name__} at {where(exc)}"
        log.error("task %s %s (%d times since start)", name, what, deaths.total)
        if self.on_death is not None:
            try:
                self.on_death()
            except Exception as error:  # noqa: BLE001 - reporting must not kill the reporter
                log.warning("could not record a task's death: %s", type(error).__name__)

    def failing(self) -> list[str]:
        """The tasks that keep dying."""
        found = []
        for name, deaths in self.deaths.items():
            self._forget_old(deaths)
            if len(deaths.recent) >= FAILING_DEATHS:
                found.append(name)
        return sorted(found)

    def health(self) -> dict[str, Any]:
        return {"task_deaths": {name: d.total for name, d in sorted(self.deaths.items())},
                "tasks_failing": self.failing()}

    def _forget_old(self, deaths: TaskDeaths) -> None:
        while deaths.recent and self.clock() - deaths.recent[0] > FAILING_WINDOW:
            deaths.recent.popleft()

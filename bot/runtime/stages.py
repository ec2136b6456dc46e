"""Where a crowd's time goes: per-stage counts and durations, never an identity (issue #15).

A new DM costs the bot a ``/join``, then, before its first answer, the round trips of the first
encrypted send (members, device keys, one-time keys, the room key's to-device message). This
module times each stage and logs one line per period while there is activity: counts and
durations only (p50 / p95 / max in ms). Room IDs are held in memory just long enough to match a
DM's join with its first handled command and its first sent answer; they are never logged.

``BOT_STAGE_STATS`` (seconds, default 0) logs the line at INFO that often; with 0 it goes to
DEBUG once a minute. nio's own round trips inside ``room_send`` are timed by wrapping the
client's methods (:meth:`StageTimes.instrument`): the send path calls them on the instance.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("organizer_bot")

DEFAULT_EVERY = 60.0
KEEP = 2000  # samples kept per stage and period (enough for p95 in a minute of a burst)
FORGET_AFTER = 600.0  # a joined DM whose first command never comes is forgotten after this
# nio methods timed when the send path calls them (room_send → joined_members, keys_query,
# share_group_session → keys_claim + to-device)
NIO_STAGES = {"room_send": "send", "joined_members": "members", "keys_query": "keys_query",
              "keys_claim": "keys_claim", "share_group_session": "share", "join": "join"}
ORDER = ("sync", "join", "join_to_handled", "cmd_age", "handled_to_sent", "send", "members", "keys_query",
         "keys_claim", "share", "prepare", "batch")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


@dataclass
class Stage:
    count: int = 0
    samples: list[float] = field(default_factory=list)  # seconds

    def add(self, seconds: float) -> None:
        self.count += 1
        if len(self.samples) < KEEP:
            self.samples.append(seconds)

    def text(self, name: str) -> str:
        s = self.samples
        return (f"{name} {self.count}× p50 {_pct(s, 50) * 1000:.0f} p95 {_pct(s, 95) * 1000:.0f} "
                f"max {max(s) * 1000:.0f} ms")


@dataclass(eq=False)
class StageTimes:
    every: float = 0.0  # seconds between INFO lines; 0: DEBUG once a minute
    clock: Callable[[], float] = time.monotonic
    stages: dict[str, Stage] = field(default_factory=dict, init=False)
    _joined: dict[str, float] = field(default_factory=dict, init=False)  # room → when joined
    _handled: dict[str, float] = field(default_factory=dict, init=False)  # new room → its first command handled
    _period_start: float = field(default=0.0, init=False)
    _wake: asyncio.Event = field(default_factory=asyncio.Event, init=False)

    def __post_init__(self) -> None:
        self._period_start = self.clock()

    # ------------------------------------------------------------ recording

    def record(self, name: str, seconds: float) -> None:
        self.stages.setdefault(name, Stage()).add(max(0.0, seconds))

    def timed(self, name: str, call: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        """``call`` wrapped so each await of it is recorded under ``name``."""

        @functools.wraps(call)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = self.clock()
            try:
                return await call(*args, **kwargs)
            finally:
                self.record(name, self.clock() - start)

        return wrapper

    def instrument(self, client: Any) -> None:
        """Time nio's round trips on this client instance (see :data:`NIO_STAGES`)."""
        for method, name in NIO_STAGES.items():
            call = getattr(client, method, None)
            if call is not None:  # a test's stand-in may lack some
                setattr(client, method, self.timed(name, call))

    def joined(self, room_id: str) -> None:
        """The bot has just joined ``room_id`` (a new DM or room)."""
        now = self.clock()
        self._joined[room_id] = now
        for room, at in list(self._joined.items()):  # bounded: rooms that never send a command
            if now - at > FORGET_AFTER:
                del self._joined[room]
        for room, at in list(self._handled.items()):
            if now - at > FORGET_AFTER:
                del self._handled[room]

    def handled(self, room_id: str, server_ts_ms: int | None = None) -> None:
        """A command from ``room_id`` was handled (its answer queued)."""
        now = self.clock()
        if server_ts_ms is not None:
            self.record("cmd_age", time.time() - server_ts_ms / 1000)
        joined = self._joined.pop(room_id, None)
        if joined is not None:
            self.record("join_to_handled", now - joined)
            self._handled[room_id] = now

    def sent(self, room_id: str) -> None:
        """A message to ``room_id`` was accepted by the homeserver."""
        handled = self._handled.pop(room_id, None)
        if handled is not None:
            self.record("handled_to_sent", self.clock() - handled)

    # ------------------------------------------------------------ reporting

    def line(self) -> str | None:
        """The period's figures, or ``None`` if nothing happened; starts a new period."""
        now = self.clock()
        elapsed, self._period_start = now - self._period_start, now
        stages, self.stages = self.stages, {}
        if not stages:
            return None
        names = [n for n in ORDER if n in stages] + sorted(n for n in stages if n not in ORDER)
        return f"stage times, last {elapsed:.0f} s: " + "; ".join(stages[n].text(n) for n in names)

    def flush(self) -> None:
        text = self.line()
        if text is not None:
            log.log(logging.INFO if self.every > 0 else logging.DEBUG, "%s", text)

    async def run(self) -> None:
        period = self.every if self.every > 0 else DEFAULT_EVERY
        try:
            while True:
                try:
                    await asyncio.wait_for(self._wake.wait(), period)
                except TimeoutError:
                    pass
                self._wake.clear()
                self.flush()
        finally:
            self.flush()  # the last figures of a run are not lost on stop

    def wake(self) -> None:
        """Log the current figures now."""
        self._wake.set()

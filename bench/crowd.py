"""Shared by the benchmarks with a crowd of real members (bench/launch.py, bench/fanout.py): the
bot restarted with every DM and timed to its first answer, and a long setup's progress.

A restart is timed from the new process's start to the moment a member's client holds the bot's
decrypted answer to one command, sent once the bot has handled its first sync (``health.json``
written, bot/runtime/health.py). The bot logs how long that first sync took and how many rooms it
held (``first sync handled: N rooms, S s``, bot/runtime/sync.py); both are reported beside it.
"""

from __future__ import annotations

import asyncio
import re
import resource
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from bench.live import proc_stats
from tests.harness import BotProcess, Received
from tests.security.light import LightMember

FIRST_SYNC = re.compile(r"first sync handled: (\d+) rooms, ([\d.]+) s")
Log = Callable[[str], None]


@dataclass
class Restarted:
    answer_s: float = float("nan")  # process start → the member holds the answer
    ready_s: float = float("nan")  # process start → health.json written (the first sync handled)
    first_sync_s: float = float("nan")  # the bot's own log: its first sync, request → handled
    rooms: int = 0  # rooms the bot held then (its log)
    rss: int = 0  # the bot's peak RSS when the answer was held (bytes)

    def text(self) -> str:
        return (f"answered {self.answer_s:.1f} s after the start (first sync of {self.rooms} rooms handled at "
                f"{self.ready_s:.1f} s, itself {self.first_sync_s:.1f} s), RSS {self.rss / 2**20:.0f} MB")


def answers_to(member: LightMember, room: str, event_id: str) -> list[Received]:
    """The bot's lines in ``room`` that reply to ``event_id`` (or carry no reply relation)."""
    return [r for r in member.from_bot(room)
            if (r.relates_to.get("m.in_reply_to") or {}).get("event_id", event_id) == event_id]


async def restart(bot: BotProcess, member: LightMember, room: str, command: str,
                  answered: Callable[[str], Any] | None = None, *, timeout: float = 600) -> Restarted:
    """Stop the bot (if running), start it again with every room it has, and time how long until
    ``member`` holds its answer to ``command`` in ``room`` (``answered(event_id)`` true; default:
    a line after the command that replies to it, or carries no reply relation)."""
    assert bot.stop() == 0
    health = bot.data_dir / "health.json"
    before = health.stat().st_mtime if health.exists() else 0.0
    res = Restarted()
    t0 = time.monotonic()
    bot.start(wait=False)
    assert bot.process is not None
    while not (health.exists() and health.stat().st_mtime > before):
        if bot.process.poll() is not None:
            raise RuntimeError(f"the bot exited with {bot.process.returncode} while starting:\n{bot.log()[-3000:]}")
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"the bot did not handle its first sync in {timeout:.0f} s")
        await asyncio.sleep(0.05)
    res.ready_s = time.monotonic() - t0
    seen = len(member.from_bot(room))
    sent = await member.send(room, command, txn_id=f"restart.{secrets.token_hex(4)}")
    check = answered or (lambda e: [r for r in member.from_bot(room)[seen:] if r in answers_to(member, room, e)])
    await member.sync_until(lambda: check(sent), timeout=max(1.0, timeout - (time.monotonic() - t0)))
    res.answer_s = time.monotonic() - t0
    res.rss = proc_stats(bot.process.pid)[1]
    assert bot.log_path is not None
    found = FIRST_SYNC.findall(bot.log_path.read_text(errors="replace"))
    if found:
        res.rooms, res.first_sync_s = int(found[0][0]), float(found[0][1])
    return res


def more_open_files() -> None:
    """N member clients each hold a store (SQLite) and connections: the soft limit up to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Progress:
    """A long setup's counts, logged every ``every`` seconds while it runs, and where the CPU went
    (the homeserver, the bot, this process with its member clients) phase by phase."""

    log: Log
    total: int
    pids: dict[str, int] = field(default_factory=dict)  # name → process, for the CPU split
    every: float = 30.0
    done: dict[str, int] = field(default_factory=dict)  # step → members through it

    def step(self, name: str) -> None:
        self.done[name] = self.done.get(name, 0) + 1

    def _cpu(self) -> dict[str, float]:
        cpu = {name: proc_stats(pid)[0] for name, pid in self.pids.items()}
        cpu["members"] = own_cpu()
        return cpu

    @asynccontextmanager
    async def phase(self, name: str) -> AsyncIterator[None]:
        """Log the phase's time, per member, and CPU by process once it is over; its counts meanwhile."""
        t0, cpu0 = time.monotonic(), self._cpu()

        async def tick() -> None:
            while True:
                await asyncio.sleep(self.every)
                counts = ", ".join(f"{step} {k}/{self.total}" for step, k in self.done.items())
                self.log(f"  … {name}: {time.monotonic() - t0:.0f} s, {counts}")

        ticker = asyncio.create_task(tick())
        try:
            yield
        finally:
            ticker.cancel()
            took, cpu1 = time.monotonic() - t0, self._cpu()
            split = ", ".join(f"{k} {cpu1[k] - cpu0[k]:.0f} s" for k in cpu1)
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
            self.log(f"  {self.total} members {name} in {took:.0f} s ({took * 1000 / max(1, self.total):.0f} ms "
                     f"per member; CPU {split}; this process's peak RSS {rss:.0f} MB)")

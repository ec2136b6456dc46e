"""Benchmarks through a real Synapse: latency against the echo floor and matrix-reminder-bot
(part 1), reminder timing and idle CPU (4), footprint and cold start (5), catch-up (6).

Everything runs on one throwaway homeserver on 127.0.0.1; the organizer bot is the real
``organizer-bot run`` process (tests/harness.py ``BotProcess``) with a seeded 100k-member database.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from nio import RoomCreateResponse

from bench import inproc
from bench.peers import start_echo, start_reminder_bot
from bot.config import Settings
from bot.ops.localserver import LocalSynapse
from commands import load_all
from storage import actions as action_store
from storage.hashing import Keyring
from storage.schema import open_database
from tests.fakes import FakeShell, World
from tests.harness import PASSWORD, BotProcess, Member, Received

ENCRYPTION = {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}
ORG_COMMANDS = ["!pledge bench", "!here Amazon", "!contracts Palantir"]
REMINDER = re.compile(r"bench-reminder (\d+)")


class Stamped(list):  # type: ignore[type-arg]
    """A member's received list that notes when each message arrived (wall clock)."""

    def __init__(self) -> None:
        super().__init__()
        self.at: dict[str, float] = {}

    def append(self, item: Received) -> None:
        self.at[item.event_id] = time.time()
        super().append(item)


async def new_member(hs: LocalSynapse, name: str, directory: Path, bot_id: str) -> Member:
    member = await Member.create(hs, name, directory, bot_id)
    member.received = Stamped()
    return member


async def room_with(member: Member, bot_id: str, direct: bool) -> str:
    response = await member.client.room_create(is_direct=direct, invite=[bot_id], initial_state=[ENCRYPTION])
    assert isinstance(response, RoomCreateResponse), response
    await member.wait_joined(response.room_id, bot_id, timeout=60)
    return str(response.room_id)


def replies(member: Member, room_id: str, sender: str) -> list[Received]:
    return [r for r in member.received if r.room_id == room_id and r.sender == sender]


async def ask(member: Member, room_id: str, text: str, sender: str, started: float | None = None,
              timeout: float = 60) -> float:
    """Seconds from sending (or ``started``) to holding the decrypted answer."""
    seen = len(replies(member, room_id, sender))
    t0 = time.time()
    await member.send(room_id, text)
    found = await member.wait_for(lambda: replies(member, room_id, sender)[seen:], timeout)
    return member.received.at[found[0].event_id] - (started if started is not None else t0)  # type: ignore[attr-defined]


def proc_stats(pid: int) -> tuple[float, int]:
    """(CPU seconds used, peak RSS in bytes) of a process, from /proc."""
    import os

    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    peak = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) * 1024
    return cpu, peak


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass
class LiveResults:
    latency: dict[str, list[float]] = field(default_factory=dict)  # bot → seconds, one command in flight
    latency_loaded: dict[str, list[float]] = field(default_factory=dict)  # bot → seconds, 20 at once
    cold_start_s: float = float("nan")
    peak_rss: int = 0
    catchup_s: float = float("nan")
    catchup_answered: int = 0
    catchup_sent: int = 0
    catchup_duplicates: int = 0
    single_late_ms: list[float] = field(default_factory=list)
    burst_late_ms: list[float] = field(default_factory=list)
    burst_expected: int = 0
    scheduled_extra: int = 0
    idle_cpu_s: float = float("nan")
    idle_window_s: float = float("nan")
    loads: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


async def seed_bot_db(bot: BotProcess, members: int, actions: int) -> None:
    settings = Settings(MATRIX_HOMESERVER=bot.hs.url, MATRIX_USER_ID=bot.user_id, MATRIX_PASSWORD=PASSWORD,
                        BOT_DATA_DIR=bot.data_dir, BOT_HASH_KEY=bot.hash_key, BOT_STORE_KEY=bot.store_key)
    bot.data_dir.mkdir(parents=True, exist_ok=True)
    load_all()
    keyring = Keyring(settings.hash_key)
    db = await open_database(bot.data_dir / "bot.db", keyring.fingerprint())
    try:
        world = World(db, keyring, settings, FakeShell(views=[]), now=datetime.now(UTC))
        await inproc.seed_campaign(world, members=members, actions=actions)
    finally:
        await db.close()


async def seed_reminders(bot: BotProcess, single: list[tuple[str, int]], burst: list[tuple[str, int]],
                         scheduled: int, dm_for_scheduled: str) -> None:
    keyring = Keyring(Settings(MATRIX_HOMESERVER=bot.hs.url, MATRIX_USER_ID=bot.user_id, MATRIX_PASSWORD=PASSWORD,
                               BOT_DATA_DIR=bot.data_dir, BOT_HASH_KEY=bot.hash_key,
                               BOT_STORE_KEY=bot.store_key).hash_key)
    db = await open_database(bot.data_dir / "bot.db", keyring.fingerprint())
    try:
        rows = []
        later = action_store.ms(datetime.now(UTC) + timedelta(days=1))
        for room, due in [*single, *burst]:
            rows.append((keyring.ref("member:reminders", room), keyring.seal(action_store.DM, room),
                         keyring.seal(action_store.TEXT, f"bench-reminder {due}"), "UTC", due))
        for i in range(scheduled):
            rows.append((keyring.ref("member:reminders", str(i)), keyring.seal(action_store.DM, dm_for_scheduled),
                         keyring.seal(action_store.TEXT, "later"), "UTC", later + i * 1000))
        async with db.transaction():
            await db.executemany("INSERT INTO personal_reminders (member_ref, dm_sealed, text_sealed, zone, due_at) "
                                 "VALUES (?, ?, ?, ?, ?)", rows)
    finally:
        await db.close()


async def run_live(work: Path, *, members_n: int = 20, per_member: int = 10, db_members: int = 100_000,
                   catchup_total: int = 1000, burst: int = 1000, scheduled: int = 10_000, idle_s: float = 30,
                   singles: int = 30,
                   log: Callable[[str], None] = print) -> LiveResults:
    res = LiveResults()
    hs = LocalSynapse(work / "synapse").start()
    helpers = []
    bot: BotProcess | None = None
    members: list[Member] = []
    members_all: list[Member] = []
    peak = 0

    def stop_bot() -> None:
        nonlocal peak
        assert bot is not None and bot.process is not None
        peak = max(peak, proc_stats(bot.process.pid)[1])
        bot.stop()

    try:
        echo = start_echo(hs, work / "echo", PASSWORD)
        helpers.append(echo)
        peer = start_reminder_bot(hs, work / "peer", PASSWORD)
        helpers.append(peer)
        admin_id = f"@benchadmin:{hs.server_name}"
        bot_id = hs.register("organizer", PASSWORD)
        bot = BotProcess(hs, work / "bot", bot_id, extra_env={
            "BOT_ADMINS": admin_id, "BOT_MEMBER_RATE": "100000", "BOT_LOG_LEVEL": "WARNING"})
        t0 = time.perf_counter()
        await seed_bot_db(bot, db_members, 10_000)
        log(f"  bot database seeded with {db_members:,} members in {time.perf_counter() - t0:.1f} s")
        bot.start()
        admin = await new_member(hs, "benchadmin", work / "members", bot_id)
        members_all.append(admin)
        for start in range(0, members_n, 5):
            members += await asyncio.gather(*[new_member(hs, f"m{i}", work / "members", bot_id)
                                              for i in range(start, min(members_n, start + 5))])
        admin_dm = await room_with(admin, bot_id, True)
        await ask(admin, admin_dm, "!pledge create bench Bench pledge --goal 100000", bot_id)
        await ask(admin, admin_dm, "!rollcall start bench Bench roll-call", bot_id)
        rooms: dict[str, list[str]] = {"organizer-bot": [], "echo floor": [], "matrix-reminder-bot": []}
        ids = {"organizer-bot": bot_id, "echo floor": echo.user_id, "matrix-reminder-bot": peer.user_id}
        for m in members:
            org, ech, per = await asyncio.gather(room_with(m, bot_id, True), room_with(m, echo.user_id, False),
                                                 room_with(m, peer.user_id, False))
            rooms["organizer-bot"].append(org)
            rooms["echo floor"].append(ech)
            rooms["matrix-reminder-bot"].append(per)
        log(f"  {members_n} members with a DM to organizer-bot and rooms with the echo floor and the peer")

        commands = {"organizer-bot": ORG_COMMANDS, "echo floor": ["!echo"], "matrix-reminder-bot": ["!help"]}

        async def round_of(name: str, count: int) -> list[float]:
            """Every member asks at once, each waiting for its answer before the next (20 in flight)."""
            async def one(i: int, m: Member) -> list[float]:
                out = []
                for j in range(count):
                    cmd = commands[name][(i + j) % len(commands[name])]
                    out.append(await ask(m, rooms[name][i], cmd, ids[name]))
                return out

            return [x for xs in await asyncio.gather(*[one(i, m) for i, m in enumerate(members)]) for x in xs]

        async def turns_of(name: str, count: int) -> list[float]:
            """The members take turns: one command in flight at a time."""
            out = []
            for j in range(count):
                for i, m in enumerate(members):
                    out.append(await ask(m, rooms[name][i], commands[name][(i + j) % len(commands[name])], ids[name]))
            return out

        for name in rooms:  # warm-up: Olm sessions and room keys are shared on the first message
            await round_of(name, 1)
        res.loads.append(f"latency start: load {load_average()}")
        for _ in range(2):  # interleaved, so drift in machine load hits all three alike
            for name in rooms:
                res.latency.setdefault(name, []).extend(await turns_of(name, per_member // 2))
            for name in rooms:
                res.latency_loaded.setdefault(name, []).extend(await round_of(name, per_member // 2))
        res.loads.append(f"latency end: load {load_average()}")
        for label, table in (("one in flight", res.latency), ("20 at once", res.latency_loaded)):
            log(f"  latency p50, {label}: " + ", ".join(f"{k} {inproc.pct(v, 50) * 1000:.0f} ms"
                                                        for k, v in table.items()))

        # ---- cold start: process start → first answered command
        stop_bot()
        t_start = time.time()
        bot.start(wait=False)
        res.cold_start_s = await ask(admin, admin_dm, "!contracts Palantir", bot_id, started=t_start)
        log(f"  cold start to first answer: {res.cold_start_s:.2f} s")

        # ---- catch-up: commands sent while the bot is stopped
        await asyncio.sleep(1)
        stop_bot()
        per = max(1, catchup_total // len(members))

        async def backlog(i: int, m: Member) -> list[str]:
            return [await m.send(rooms["organizer-bot"][i], "!contracts Palantir") for _ in range(per)]

        sent = [e for es in await asyncio.gather(*[backlog(i, m) for i, m in enumerate(members)]) for e in es]
        res.catchup_sent = len(sent)
        wanted = set(sent)

        def answered() -> Counter[str]:
            found: Counter[str] = Counter()
            for m in members:
                for r in [x for x in m.received if x.sender == bot_id]:
                    target = r.relates_to.get("m.in_reply_to", {}).get("event_id")
                    if target in wanted:
                        found[target] += 1
            return found

        t_start = time.time()
        bot.start(wait=False)
        deadline = time.monotonic() + 240
        last_change, last_count = time.monotonic(), -1
        while time.monotonic() < deadline:
            count = len(answered())
            if count != last_count:
                last_change, last_count = time.monotonic(), count
            if count >= len(wanted) or time.monotonic() - last_change > 30:
                break
            await asyncio.sleep(0.2)
        done_at = max((m.received.at[x.event_id] for m in members for x in m.received  # type: ignore[attr-defined]
                       if x.sender == bot_id and x.relates_to.get("m.in_reply_to", {}).get("event_id") in wanted),
                      default=float("nan"))
        await asyncio.sleep(3)
        counts = answered()
        res.catchup_answered = len(counts)
        res.catchup_duplicates = sum(n - 1 for n in counts.values() if n > 1)
        res.catchup_s = done_at - t_start
        log(f"  catch-up: {res.catchup_answered}/{res.catchup_sent} answered in {res.catchup_s:.1f} s, "
            f"{res.catchup_duplicates} duplicates")

        # ---- reminders: one at a time, then a burst, with many scheduled later
        stop_bot()
        now_ms = int(time.time() * 1000)
        single = [(admin_dm, now_ms + 12_000 + i * 1500) for i in range(singles)]
        burst_rooms = rooms["organizer-bot"]
        burst_start = now_ms + 20_000 + singles * 1500
        burst_rows = [(burst_rooms[i % len(burst_rooms)], burst_start + (i * 60_000) // burst) for i in range(burst)]
        await seed_reminders(bot, single, burst_rows, scheduled, admin_dm)
        res.burst_expected = burst
        res.scheduled_extra = scheduled
        bot.start()
        everyone = [admin, *members]

        def reminders_seen() -> list[tuple[int, float]]:
            out = []
            for m in everyone:
                for r in m.received:
                    if r.sender == bot_id and (match := REMINDER.search(r.body)):
                        out.append((int(match.group(1)), m.received.at[r.event_id]))  # type: ignore[attr-defined]
            return out

        try:
            await admin.wait_for(lambda: len(reminders_seen()) >= len(single) + burst, timeout=150)
        except TimeoutError:
            res.notes.append("not every reminder arrived within 150 s")
        seen = reminders_seen()
        single_due = {d for _, d in single}
        res.single_late_ms = [(at * 1000 - due) for due, at in seen if due in single_due]
        res.burst_late_ms = [(at * 1000 - due) for due, at in seen if due not in single_due]
        log("  single reminders, ms late: " + " ".join(f"{x:.0f}" for x in res.single_late_ms))
        log(f"  reminders: single p50 {inproc.pct(res.single_late_ms, 50):.0f} ms; burst {len(res.burst_late_ms)}"
            f"/{burst}, p50 {inproc.pct(res.burst_late_ms, 50):.0f} ms, max {max(res.burst_late_ms, default=0):.0f} ms")

        # ---- idle CPU with 10k reminders scheduled: no polling expected
        await asyncio.sleep(2)
        assert bot.process is not None
        cpu0, _ = proc_stats(bot.process.pid)
        t0 = time.monotonic()
        await asyncio.sleep(idle_s)
        cpu1, _ = proc_stats(bot.process.pid)
        res.idle_cpu_s, res.idle_window_s = cpu1 - cpu0, time.monotonic() - t0
        log(f"  idle: {res.idle_cpu_s:.3f} s CPU in {res.idle_window_s:.0f} s")
        stop_bot()
        res.peak_rss = peak
    finally:
        for m in [*members_all, *members]:
            await m.close()
        if bot is not None:
            bot.stop()
        for h in helpers:
            h.stop()
        hs.stop()
    return res

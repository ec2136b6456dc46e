#!/usr/bin/env python3
"""Fan-out (issue 27): a coordinator's broadcast to N members who joined by code, one DM each,
beside two floors measured in the same run on the same N DMs with the same concurrency:

* **bare nio**: a minimal matrix-nio client logged in as the bot's own account (a new device, the
  bot process stopped meanwhile) sends the same text to the same N DMs, 8 at a time (the bot's
  ``PARALLEL``), sharing a Megolm key with each member's device as any E2EE client must;
* **homeserver**: a raw HTTP client PUTs an ``m.room.encrypted``-shaped event (random ciphertext,
  no key work) to the same N rooms, 8 at a time: what Synapse itself takes per event.

Then the bot is started again with every DM (it was stopped for the floors) and timed from its
process start to the coordinator holding its answer to ``!broadcast status`` (bench/crowd.py).

``python3 bench/fanout.py --sizes 300,1000,3000`` writes the fan-out section of bench/RESULTS.md.
Latency per member is on the homeserver's clock: ``!confirm`` sent → the member's copy stamped,
and "delivered" means the member's own client fetched and decrypted it. Each member must hold it
exactly once. The CI-sized version is ``tests/integration/test_fanout.py`` (N = 100).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    from bench.run import ensure_environment

    ensure_environment(Path(__file__))

import aiohttp  # noqa: E402
from nio import RoomCreateResponse  # noqa: E402

from bench.crowd import Progress, Restarted, more_open_files, restart  # noqa: E402
from bench.inproc import pct  # noqa: E402
from bench.launch import write_section  # noqa: E402
from bench.live import load_average, proc_stats  # noqa: E402
from bot.ops.localserver import LocalSynapse  # noqa: E402
from tests.harness import PASSWORD, BotProcess, gather_limited  # noqa: E402
from tests.security.light import LightMember  # noqa: E402

SIZES = (300, 1000, 3000)
SECTION = "fanout"
CONCURRENCY = 8  # bot/runtime/sending/outbox.py PARALLEL
JOINING = 32  # members joining at once during the set-up
CODE = re.compile(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}")
DONE_LINE = "Broadcast to the DMs of members by code is done"
RESTART_COMMAND = "!broadcast status"  # any coordinator may type it; it changes nothing
RESTART_TARGET_S = 30.0  # issue 27: the first answer within 30 s of the start, at 3,000 DMs
Log = Callable[[str], None]


@dataclass
class Delivery:
    """What the members' clients hold of one text: per member, its copies and their stamps."""

    n: int
    got: int = 0  # members holding exactly one copy
    missing: int = 0
    twice: int = 0  # members holding more than one
    latency_ms: list[float] = field(default_factory=list)  # sent → the member's copy stamped (homeserver clock)
    last_s: float = float("nan")  # sent → the last member's client held it decrypted (wall clock)
    sender_s: float = float("nan")  # the sender's own time: go → its last event stamped (members idle meanwhile)
    cpu_s: float = float("nan")  # the sender's CPU for the whole fan-out
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.got == self.n and self.twice == 0


@dataclass
class Hub:
    """A campaign with N members by code: the coordinator, its home room and each member's DM."""

    coordinator: LightMember
    home: str
    members: list[LightMember]
    dms: list[str]


async def home_room(coordinator: LightMember) -> str:
    """An encrypted group room the coordinator (a bot admin) invites the bot into: the home room."""
    response = await coordinator.client.room_create(
        name="fan-out home", invite=[coordinator.bot_id],
        initial_state=[{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}])
    assert isinstance(response, RoomCreateResponse), response
    room = response.room_id

    def joined() -> bool:
        r = coordinator.client.rooms.get(room)
        return r is not None and coordinator.bot_id in r.users and coordinator.bot_id not in r.invited_users

    await coordinator.sync_until(joined, 60)
    return str(room)


async def ask(member: LightMember, room: str, text: str, needle: str, timeout: float = 120, poll: int = 1000) -> str:
    """Send ``text``; the body of the bot's first new line in ``room`` containing ``needle``."""
    seen = len(member.from_bot(room))
    await member.send(room, text, txn_id=f"ask.{secrets.token_hex(4)}")
    found = await member.sync_until(lambda: [r for r in member.from_bot(room)[seen:] if needle in r.body], timeout,
                                    poll)
    return str(found[0].body)


async def make_hub(hs: LocalSynapse, bot: BotProcess, work: Path, n: int, prefix: str, coordinator_name: str,
                   log: Log = print) -> Hub:
    """The coordinator and its home room, one code good for ``n`` uses, and ``n`` members who
    each open a DM with the bot and join with it (``bot`` lists the coordinator in BOT_ADMINS).
    Set-up only (not measured), each member in one go, :data:`JOINING` at once (one member's
    key generation here overlaps others' room creation in Synapse): it uses the device its
    registration made (no login), types ``!join`` as soon as its DM exists, while the bot is still
    joining it (as a new member does), and waits for the answer in long polls of 10 s (not 1 s:
    fewer empty syncs while the bot is busy). Progress is logged every 30 s."""
    coordinator = await LightMember.create(hs, coordinator_name, work, bot.user_id)
    home = await home_room(coordinator)
    [code] = CODE.findall(await ask(coordinator, home, f"!codes new --uses {n}", "Made 1 invite code"))
    pids = {name: p.pid for name, p in (("Synapse", hs.process), ("bot", bot.process)) if p is not None}
    progress = Progress(log, n, pids)

    async def join(i: int) -> tuple[LightMember, str]:
        m = await LightMember.create(hs, f"{prefix}{i}", work, bot.user_id, login=False)
        progress.step("registered")
        dm = await m.open_dm()
        await ask(m, dm, f"!join {code}", "Welcome", timeout=300, poll=10_000)
        progress.step("joined")
        return m, dm

    async with progress.phase("registered and joined by code in their DMs"):
        joined: list[tuple[LightMember, str]] = await gather_limited([join(i) for i in range(n)], limit=JOINING)
    return Hub(coordinator, home, [m for m, _ in joined], [dm for _, dm in joined])


def allowed(n: int, base: float = 600, per_member: float = 0.4) -> float:
    """A wait that grows with N (seconds): 600 s was measured ample at 1,000 on a loaded machine."""
    return max(base, n * per_member)


async def collect(hub: Hub, text: str, t0_ms: float, timeout: float | None = None) -> Delivery:
    """Every member syncs until its DM holds ``text`` (decrypted), then once more to catch a second copy."""
    res = Delivery(len(hub.members))
    deadline = time.monotonic() + (timeout or allowed(res.n))
    held_at: list[float] = []

    def copies(i: int) -> list[float]:
        return [r.ts for r in hub.members[i].from_bot(hub.dms[i]) if r.body == text]

    async def one(i: int) -> None:
        m = hub.members[i]
        while not copies(i) and time.monotonic() < deadline:
            await m.sync(timeout=2000)
        if copies(i):
            held_at.append(time.time())
        await m.sync(timeout=0)  # a duplicate sent right after would be here

    await gather_limited([one(i) for i in range(res.n)], limit=64)
    for i in range(res.n):
        found = copies(i)
        if not found:
            res.missing += 1
        elif len(found) > 1:
            res.twice += 1
        else:
            res.got += 1
        if found:
            res.latency_ms.append(min(found) - t0_ms)
    if held_at:
        res.last_s = max(held_at) - t0_ms / 1000
    if res.latency_ms:
        res.sender_s = max(res.latency_ms) / 1000
    undecrypted = sum(len(m.undecrypted) for m in hub.members)
    if undecrypted:
        res.notes.append(f"{undecrypted} events the members could not decrypt")
    return res


async def broadcast(bot: BotProcess, hub: Hub, text: str, timeout: float | None = None
                    ) -> tuple[Delivery, str, str]:
    """The coordinator's ``!broadcast``; returns the delivery, the preview, and the home room's done line."""
    assert bot.process is not None
    timeout = timeout or allowed(len(hub.members))
    coordinator, home = hub.coordinator, hub.home
    preview = await ask(coordinator, home, f"!broadcast {text}", "confirm ")
    code = re.search(r"confirm (\d{4})", preview)
    assert code is not None, preview
    cpu0, _ = proc_stats(bot.process.pid)
    t0_ms = time.time() * 1000
    await coordinator.send(home, f"!confirm {code.group(1)}", txn_id=f"confirm.{code.group(1)}")
    # the members' clients wait for the done line, as they do for the floors: the sender alone loads the homeserver
    done = await coordinator.sync_until(lambda: [r for r in coordinator.from_bot(home) if DONE_LINE in r.body],
                                        timeout)
    cpu_s = proc_stats(bot.process.pid)[0] - cpu0
    res = await collect(hub, text, t0_ms, timeout)
    res.cpu_s = cpu_s
    return res, preview, str(done[0].body)


# ---------------------------------------------------------------- floors


async def bare_nio(hs: LocalSynapse, bot: BotProcess, work: Path, hub: Hub, text: str,
                   padded: bool = False) -> Delivery:
    """A bare matrix-nio client, logged in as the bot's account (new device), sends ``text`` to the
    same DMs, :data:`CONCURRENCY` at a time, in its own process (its CPU measured there); ``padded``:
    padded to the bot's 4 KiB bucket (bench/fanout_floor.py)."""
    rooms = work / "floor-rooms.json"
    rooms.write_text(json.dumps(hub.dms))
    store = work / f"floor-store-{secrets.token_hex(3)}"
    store.mkdir()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(Path(__file__).with_name("fanout_floor.py")), hs.url, bot.user_id, PASSWORD, str(store),
        str(rooms), text, str(CONCURRENCY), *(["padded"] if padded else []), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    while (line := await asyncio.wait_for(proc.stdout.readline(), allowed(len(hub.dms), 900, 0.6))).strip() != b"ready":  # logged in, warm
        if not line:
            raise RuntimeError("the floor bot exited before it was ready")
    t0_ms = time.time() * 1000
    proc.stdin.write(b"go\n")
    await proc.stdin.drain()
    out, _ = await proc.communicate()
    res = await collect(hub, text, t0_ms)
    res.cpu_s = float(json.loads(out.decode().strip().splitlines()[-1])["cpu_s"])
    return res


async def raw_puts(hs: LocalSynapse, bot: BotProcess, rooms: list[str]) -> tuple[float, float]:
    """The homeserver's own limit: PUT an encrypted-looking event to each room, :data:`CONCURRENCY`
    at a time, as the bot's account (a fresh access token). Returns (seconds, events per second)."""
    async with aiohttp.ClientSession() as http:
        login = await http.post(f"{hs.url}/_matrix/client/v3/login", json={
            "type": "m.login.password", "identifier": {"type": "m.id.user", "user": bot.user_id},
            "password": PASSWORD, "device_id": "RAWFLOOR"})
        token = (await login.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
        for item in enumerate(rooms):
            queue.put_nowait(item)

        async def worker() -> None:
            while not queue.empty():
                i, room = queue.get_nowait()
                body = {"algorithm": "m.megolm.v1.aes-sha2", "sender_key": base64.b64encode(os.urandom(32)).decode(),
                        "ciphertext": base64.b64encode(os.urandom(400)).decode(), "session_id": "floor",
                        "device_id": "RAWFLOOR"}
                for _ in range(10):
                    answer = await http.put(f"{hs.url}/_matrix/client/v3/rooms/{room}/send/m.room.encrypted/raw{i}",
                                            json=body, headers=headers)
                    if answer.status == 200:
                        break
                    await asyncio.sleep(float((await answer.json()).get("retry_after_ms", 500)) / 1000)

        t0 = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        took = time.monotonic() - t0
        await http.post(f"{hs.url}/_matrix/client/v3/logout", headers=headers)
    return took, len(rooms) / took


# ---------------------------------------------------------------- one size, the report


@dataclass
class SizeResult:
    n: int
    bot: Delivery
    floor: Delivery | None = None
    raw_s: float = float("nan")
    preview: str = ""
    done_line: str = ""
    rss: int = 0
    load_before: str = ""
    load_after: str = ""
    restarted: Restarted | None = None  # the bot started again after the floors, with every DM
    padded: Delivery | None = None  # the bare client again, its text padded as the bot's (--padded-floor)


async def run_size(work: Path, n: int, log: Log = print, padded_floor: bool = False) -> SizeResult:
    hs = LocalSynapse(work / "synapse", bcrypt_rounds=4).start()
    tag = f"f{n}x{os.getpid()}"
    coordinator = f"{tag}coord"
    user = hs.register(f"{tag}bot", PASSWORD)
    bot = BotProcess(hs, work / "bot", user, extra_env={"BOT_ADMINS": f"@{coordinator}:{hs.server_name}"})
    hs.exempt_from_ratelimit(bot.user_id)  # as docs/operations.md tells the homeserver admin
    hub: Hub | None = None
    try:
        bot.start(timeout=120)
        hub = await make_hub(hs, bot, work, n, f"{tag}m", coordinator, log)
        load_before = load_average()
        res, preview, done = await broadcast(bot, hub, f"Walkout at noon ({n})")
        assert bot.process is not None
        rss = proc_stats(bot.process.pid)[1]
        log(f"  organizer-bot: {res.got}/{n} once, last {res.last_s:.1f} s, CPU {res.cpu_s:.1f} s; {done}")
        bot.stop()  # the floors run alone, on the same rooms
        floor = await bare_nio(hs, bot, work, hub, f"Floor text ({n})")
        log(f"  bare nio: {floor.got}/{n} once, last {floor.last_s:.1f} s, CPU {floor.cpu_s:.1f} s")
        padded = None
        if padded_floor:
            padded = await bare_nio(hs, bot, work, hub, f"Padded floor text ({n})", padded=True)
            log(f"  bare nio, padded: {padded.got}/{n} once, sent in {padded.sender_s:.1f} s, CPU {padded.cpu_s:.1f} s")
        raw_s, _ = await raw_puts(hs, bot, hub.dms)
        log(f"  raw PUTs: {raw_s:.1f} s")
        load_after = load_average()
        # start-up with N real DMs: the bot again (stopped for the floors), timed to its first answer
        restarted = await restart(bot, hub.coordinator, hub.home, RESTART_COMMAND, timeout=allowed(n))
        log(f"  restart with {n} DMs: {restarted.text()}")
        return SizeResult(n, res, floor, raw_s, preview, done, rss, load_before, load_after, restarted, padded)
    finally:
        bot.stop()
        if hub is not None:
            for m in [hub.coordinator, *hub.members]:
                await m.close()
        hs.stop()


def restart_table(results: list[SizeResult]) -> list[str]:
    """Start-up with N real DMs, after the floors: process start → the coordinator holds the answer."""
    rows = [f"| {r.n:,} | {'✅' if s.answer_s <= RESTART_TARGET_S else '❌'} {s.answer_s:.1f} s | "
            f"{s.ready_s:.1f} s ({s.first_sync_s:.1f} s, {s.rooms:,} rooms) | {s.rss / 2**20:.0f} MB |"
            for r in results if (s := r.restarted) is not None]
    if not rows:
        return []
    return ["", f"**Restart with N DMs** (the bot started again once the floors are done, every DM its own): "
            f"process start → the coordinator holds the answer to `{RESTART_COMMAND}` in its home room, sent once "
            "the bot has handled its first sync (health.json written); in brackets the first sync's own time "
            "(request → handled) and the rooms it held, from the bot's log; the bot's peak RSS by the answer. "
            f"Target (issue 27): the first answer ≤ {RESTART_TARGET_S:.0f} s at 3,000 DMs.", "",
            "| N | restart with N DMs: start → answer | first sync handled (its own time, rooms) | RSS |",
            "|---|---|---|---|", *rows]


def render(results: list[SizeResult], machine: str) -> str:
    rows = []
    for r in results:
        floor = r.floor.sender_s if r.floor else float("nan")
        for name, d in (("organizer-bot", r.bot), ("bare matrix-nio (floor)", r.floor),
                        ("bare matrix-nio, padded to 4 KiB as the bot's", r.padded)):
            if d is None:
                continue
            rows.append(f"| {r.n:,} | {name} | {'✅' if d.ok else '❌'} {d.got}/{d.n}, {d.twice} twice | "
                        f"{d.sender_s:.1f} s | {d.sender_s / floor:.2f}× | {d.sender_s / r.raw_s:.2f}× | "
                        f"{pct(d.latency_ms, 50) / 1000:.1f} s / {pct(d.latency_ms, 95) / 1000:.1f} s | "
                        f"{d.n / d.sender_s:.1f} | {d.cpu_s * 1000 / max(1, d.got):.1f} ms | {d.last_s:.0f} s | "
                        f"{r.load_before} → {r.load_after} |")
        rows.append(f"| {r.n:,} | homeserver (raw PUTs, no key work) | – | {r.raw_s:.1f} s | {r.raw_s / floor:.2f}× | "
                    f"1.00× | – | {r.n / r.raw_s:.1f} | – | – | |")
    return "\n".join([
        "<!-- fanout -->",
        "## Fan-out: a broadcast to N members by code, one DM each (issue 27)",
        "",
        f"`python3 bench/fanout.py`; {machine}. The three senders run one after the other on the same N DMs, "
        f"{CONCURRENCY} sends at once, while the members' clients wait; then every client fetches and decrypts "
        "what it got (exactly once, or the row fails). **Sent in**: `!confirm` (the floors: go) → the last copy "
        "stamped by the homeserver. p50 / p95: the same per member. **Fetched**: → the last member's client held "
        "it decrypted (the N clients share one Python process, so this is mostly the benchmark's own time). "
        "CPU per DM: the sender process's CPU while sending (the bot's includes handling `!confirm` and syncing "
        "its own N events back). The floor shares its room keys with each DM once before the timed send, as "
        "the bot did when it answered each member's `!join`.",
        "",
        "| N | sender | exactly once | sent in | / bare nio | / homeserver | p50 / p95 per member | DMs/s | "
        "CPU per DM | fetched | load before → after |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        *restart_table(results),
        "<!-- /fanout -->",
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--padded-floor", action="store_true",
                        help="also the bare client with its text padded as the bot pads (what bigger events cost)")
    args = parser.parse_args(argv)
    more_open_files()
    results = []
    for n in (int(s) for s in args.sizes.split(",")):
        work = Path(tempfile.mkdtemp(prefix=f"fanout-{n}-"))
        print(f"N = {n} (load {load_average()})", flush=True)
        try:
            results.append(asyncio.run(run_size(work, n, padded_floor=args.padded_floor)))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    machine = f"{os.cpu_count()} cores, run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    text = render(results, machine)
    print(text)
    if not args.no_write:
        write_section(ROOT / "bench" / "RESULTS.md", text, SECTION)
    return 0 if all(r.bot.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())

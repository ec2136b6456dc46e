#!/usr/bin/env python3
"""Many rooms (issue 27), in-process, no homeserver: the bot's own cost per room it is in.

A generated full-state sync response with N encrypted DMs (the bot and one member each; every
member joined by code, every DM in the bot's registry of DMs) is fed to a real matrix-nio client
with its E2EE store (``receive_response``) and to the bot's shell (``Syncer.handle``), as the
first sync after a start. Then 200 incremental syncs, each with one plain message in one DM, go
through the same two steps plus the health file the sync loop writes after each batch. Reported:
RSS after the start (the process's, so the baseline is printed too), the start's time, and the
mean per-sync time at each N: a per-sync cost that grows with N is work over every room.

``python3 bench/manyrooms.py --sizes 1000,15000`` (each size in its own process, so RSS is its own).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    from bench.run import ensure_environment

    ensure_environment(Path(__file__))

from nio import AsyncClient, AsyncClientConfig, SyncResponse  # noqa: E402

from bench.live import load_average  # noqa: E402
from bot.runtime.shell import MatrixShell  # noqa: E402
from storage.hashing import Member  # noqa: E402
from storage.hub import members as hub_members  # noqa: E402
from tests.fakes import make_world  # noqa: E402

BOT = "@bot:example.org"
SYNCS = 200


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _event(kind: str, sender: str, content: dict[str, Any], n: int, state_key: str | None = None) -> dict[str, Any]:
    event = {"type": kind, "sender": sender, "content": content, "event_id": f"$e{n}", "origin_server_ts": 1_700_000_000_000 + n}
    if state_key is not None:
        event["state_key"] = state_key
    return event


def room_id(i: int) -> str:
    return f"!dm{i:06d}:example.org"


def member_id(i: int) -> str:
    return f"@member{i:06d}:example.org"


def full_sync(n: int) -> dict[str, Any]:
    join = {}
    for i in range(n):
        user, base = member_id(i), i * 10
        state = [
            _event("m.room.create", user, {"room_version": "10", "creator": user}, base, ""),
            _event("m.room.member", user, {"membership": "join"}, base + 1, user),
            _event("m.room.power_levels", user, {"users": {user: 100, BOT: 100}}, base + 2, ""),
            _event("m.room.join_rules", user, {"join_rule": "invite"}, base + 3, ""),
            _event("m.room.history_visibility", user, {"history_visibility": "shared"}, base + 4, ""),
            _event("m.room.encryption", user, {"algorithm": "m.megolm.v1.aes-sha2"}, base + 5, ""),
            _event("m.room.member", user, {"membership": "invite", "is_direct": True}, base + 6, BOT),
            _event("m.room.member", BOT, {"membership": "join"}, base + 7, BOT),
        ]
        join[room_id(i)] = {"state": {"events": state}, "timeline": {"events": [], "limited": False, "prev_batch": "p0"},
                            "ephemeral": {"events": []}, "account_data": {"events": []},
                            "summary": {"m.joined_member_count": 2, "m.invited_member_count": 0}}
    return {"next_batch": "s1", "rooms": {"join": join, "invite": {}, "leave": {}}, "to_device": {"events": []},
            "device_lists": {"changed": [], "left": []}, "device_one_time_keys_count": {"signed_curve25519": 50},
            "account_data": {"events": []}, "presence": {"events": []}}


def one_message(i: int, k: int) -> dict[str, Any]:
    """An incremental sync: one plain message (not a command) in DM ``i``."""
    user = member_id(i)
    timeline = [_event("m.room.message", user, {"msgtype": "m.text", "body": "hello"}, 10**9 + k)]
    return {"next_batch": f"s{k + 2}", "rooms": {"join": {room_id(i): {
        "state": {"events": []}, "timeline": {"events": timeline, "limited": False, "prev_batch": f"p{k}"},
        "ephemeral": {"events": []}, "account_data": {"events": []}}}, "invite": {}, "leave": {}},
        "to_device": {"events": []}, "device_lists": {"changed": [], "left": []},
        "device_one_time_keys_count": {"signed_curve25519": 50}, "account_data": {"events": []},
        "presence": {"events": []}}


async def measure(n: int, work: Path) -> dict[str, float]:
    baseline = rss_mb()
    world = await make_world(work / "bot", MATRIX_USER_ID=BOT)
    store = work / "store"
    store.mkdir()
    client = AsyncClient("http://127.0.0.1:9", BOT, "BENCHDEVICE", store_path=str(store),
                         config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True))
    client.restore_login(BOT, "BENCHDEVICE", "token")  # loads (creates) the E2EE store; no network
    shell = MatrixShell(world.settings, world.db, world.keyring)
    await shell.attach(client)
    async with world.db.transaction():  # the bot's registry of DMs, every member joined by code
        for i in range(n):
            await shell.book.set_room_flag(room_id(i), "dm")
            await hub_members.add(world.db, Member(world.keyring, member_id(i)))
    await shell.known.load()
    before = rss_mb()
    data = full_sync(n)
    t0 = time.perf_counter()
    response = SyncResponse.from_dict(data)
    del data
    await client.receive_response(response)
    start_nio_s = time.perf_counter() - t0
    await shell.syncer.handle(response, None)
    start_s = time.perf_counter() - t0
    del response
    shell.syncer.last_sync = time.time()
    after = rss_mb()
    times, nio_times, bot_times = [], [], []
    for k in range(SYNCS):
        incremental = SyncResponse.from_dict(one_message(k * 7919 % n, k))
        t = time.perf_counter()
        await client.receive_response(incremental)  # matrix-nio's part: any nio bot pays it
        t_nio = time.perf_counter()
        await shell.syncer.handle(incremental, f"s{k + 1}")  # the bot's own
        shell.syncer.write_health()
        done = time.perf_counter()
        times.append(done - t)
        nio_times.append(t_nio - t)
        bot_times.append(done - t_nio)
    t = time.perf_counter()
    views = len(shell.known.member_dms())
    dms_s = time.perf_counter() - t
    await world.db.close()
    await client.close()
    times.sort()
    nio_times.sort()
    bot_times.sort()
    return {"nio_ms_p50": 1000 * nio_times[len(nio_times) // 2], "bot_ms_p50": 1000 * bot_times[len(bot_times) // 2],
            "bot_ms_mean": 1000 * sum(bot_times) / len(bot_times), "nio_ms_mean": 1000 * sum(nio_times) / len(nio_times),
            "n": n, "baseline_mb": baseline, "before_mb": before, "rss_mb": after, "start_s": start_s, "start_nio_s": start_nio_s,
            "sync_ms_mean": 1000 * sum(times) / len(times), "sync_ms_p50": 1000 * times[len(times) // 2],
            "sync_ms_p95": 1000 * times[int(0.95 * (len(times) - 1))], "member_dms_ms": 1000 * dms_s,
            "member_dms": views}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,15000")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a size, in this process
    args = parser.parse_args(argv)
    if args.one:
        with tempfile.TemporaryDirectory(prefix="manyrooms-") as work:
            print(json.dumps(asyncio.run(measure(args.one, Path(work)))), flush=True)
        return 0
    for n in (int(s) for s in args.sizes.split(",")):
        load = load_average()
        out = subprocess.run([sys.executable, __file__, "--one", str(n)], capture_output=True, text=True, check=True)
        found = json.loads(out.stdout.strip().splitlines()[-1])
        print(json.dumps({**found, "load": load}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

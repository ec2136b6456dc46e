"""The fan-out floor: a bare matrix-nio E2EE client sends one text to many rooms, N at a time, and
prints its own CPU seconds as JSON. It logs in as the given account with a new device, syncs once
(full state: the rooms and their members), queries the members' device keys, says ``ready`` and
waits for a line on stdin; then it sends, and does nothing else: what any matrix-nio bot pays
(a key query and claim for the members' devices, an Olm-encrypted room key per device, one
Megolm-encrypted event per room).

With a last argument ``padded`` the text goes out padded as organizer-bot pads every message (to a
4 KiB bucket, ``bot.runtime.sending.outputs.pad``, so its size tells nothing): what the bot's bigger
events cost the homeserver, apart from its own work.

Usage: ``python bench/fanout_floor.py HOMESERVER USER_ID PASSWORD STORE_DIR ROOMS.json TEXT CONCURRENCY [padded]``.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
from pathlib import Path
from typing import Any

from nio import AsyncClient, AsyncClientConfig, RoomSendResponse, SyncResponse


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def send_all(client: AsyncClient, rooms: list[str], text: str, concurrency: int, padded: bool = False) -> int:
    """Send ``text`` to every room, ``concurrency`` at a time; returns how many failed."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for room in rooms:
        queue.put_nowait(room)
    failed = 0
    content: dict[str, Any] = {"msgtype": "m.text", "body": text}
    if padded:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from bot.runtime.sending.outputs import pad

        content = pad(content)

    async def worker() -> None:
        nonlocal failed
        while not queue.empty():
            room = queue.get_nowait()
            for _ in range(5):
                try:
                    sent = await client.room_send(room, "m.room.message", content,
                                                  ignore_unverified_devices=True)
                except Exception:  # noqa: BLE001 - retry, as a bot would
                    continue
                if isinstance(sent, RoomSendResponse):
                    break
            else:
                failed += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return failed


async def main(homeserver: str, user_id: str, password: str, store: str, rooms_file: str, text: str,
               concurrency: int, padded: bool = False) -> None:
    rooms: list[str] = json.loads(open(rooms_file).read())
    config = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False, max_limit_exceeded=None)
    client = AsyncClient(homeserver, user_id, store_path=store, config=config)
    await client.login(password, device_name="fanout-floor")
    if client.should_upload_keys:
        await client.keys_upload()
    response = await client.sync(timeout=0, full_state=True)
    assert isinstance(response, SyncResponse), response
    if client.should_query_keys:
        await client.keys_query()  # as a bot does after each sync: the members' devices, one request
    # the bot answered every member's `!join`, so its room keys are already shared with each DM: the
    # floor shares its own first (untimed), so both are measured in the same steady state
    await send_all(client, rooms, "warm-up", concurrency)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # the benchmark's go
    cpu0 = cpu_seconds()
    failed = await send_all(client, rooms, text, concurrency, padded)
    cpu = cpu_seconds() - cpu0
    await client.logout()
    await client.close()
    print(json.dumps({"cpu_s": cpu, "failed": failed}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:7], int(sys.argv[7]), padded=sys.argv[8:9] == ["padded"]))

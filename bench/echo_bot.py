"""The latency floor: a minimal matrix-nio E2EE bot that answers every ``!`` message with a notice.

It syncs the way organizer-bot does (long-poll, key maintenance after each sync) and does no
other work, so its send → decrypted-reply time is what the homeserver and the client library
cost. It joins every room it is invited to (from its first sync on). Like organizer-bot's outbox it
answers and joins :data:`CONCURRENCY` at a time, off the sync loop, so a burst does not queue
behind one send at a time (a floor slower than it could be would flatter the bot). A command whose
room key has not arrived yet (the member's key and message race, often under a burst) is held and
decrypted again after each sync, as any client that means to answer must. With a fifth argument
``upkeep`` it keeps its one-time keys topped up and a fallback key published with organizer-bot's
``KeyUpkeep`` (bot/e2ee/fallback_keys.py): bare matrix-nio 0.26 uploads at most 50 one-time keys
and no fallback key, so in a burst of new members most cannot open an Olm session with it, their
room keys never arrive, and their commands stay unreadable (at N = 1,000 it answered 167). On stdout: ``ready`` once
it has synced, then ``answered`` (or ``failed``, not retried) for each answer, which
bench/launch_floor.py counts. Usage: ``python bench/echo_bot.py HOMESERVER USER_ID PASSWORD STORE_DIR [upkeep]``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    EncryptionError,
    InviteMemberEvent,
    MatrixRoom,
    MegolmEvent,
    RoomMessageText,
    RoomSendResponse,
    SyncResponse,
)

CONCURRENCY = 8  # sends (and joins) at once, as organizer-bot's outbox


async def main(homeserver: str, user_id: str, password: str, store: str, upkeep: bool = False) -> None:
    config = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False, max_limit_exceeded=None)
    client = AsyncClient(homeserver, user_id, store_path=store, config=config)
    await client.login(password, device_name="echo-floor")
    keys = None
    if upkeep:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from bot.e2ee.fallback_keys import KeyUpkeep

        keys = KeyUpkeep.attach(client)
        asyncio.create_task(keys.run())  # noqa: RUF006 - runs as long as the process: tops up during long syncs
    if client.should_upload_keys:
        await client.keys_upload()

    limit = asyncio.Semaphore(CONCURRENCY)
    running: set[asyncio.Task[None]] = set()

    def spawn(work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        running.add(task)
        task.add_done_callback(running.discard)

    async def answer(room_id: str, event: RoomMessageText) -> None:
        async with limit:
            sent = await client.room_send(room_id, "m.room.message",
                                          {"msgtype": "m.notice", "body": event.body,
                                           "m.relates_to": {"m.in_reply_to": {"event_id": event.event_id}}},
                                          ignore_unverified_devices=True)
        print("answered" if isinstance(sent, RoomSendResponse) else f"failed: {type(sent).__name__}", flush=True)

    async def join(room_id: str) -> None:
        async with limit:
            await client.join(room_id)

    async def on_message(room: MatrixRoom, event: RoomMessageText) -> None:
        if event.sender != client.user_id and event.body.startswith("!"):
            spawn(answer(room.room_id, event))

    held: list[MegolmEvent] = []  # commands whose room key has not arrived yet

    async def on_undecrypted(room: MatrixRoom, event: MegolmEvent) -> None:
        event.room_id = room.room_id
        held.append(event)

    def decrypt_held() -> None:
        for event in list(held):
            try:
                found = client.decrypt_event(event)
            except EncryptionError:
                continue  # its key is still missing
            held.remove(event)
            if isinstance(found, RoomMessageText) and found.sender != client.user_id and found.body.startswith("!"):
                spawn(answer(event.room_id, found))

    async def on_invite(room: MatrixRoom, event: InviteMemberEvent) -> None:
        if event.state_key == client.user_id and event.membership == "invite":
            spawn(join(room.room_id))

    token = None
    first = True
    while True:
        response = await client.sync(timeout=25000, since=token, full_state=first)
        if not isinstance(response, SyncResponse):
            await asyncio.sleep(1)
            continue
        if first:  # skip history: register callbacks only after the first sync
            client.add_event_callback(on_message, RoomMessageText)  # type: ignore[arg-type]
            client.add_event_callback(on_invite, InviteMemberEvent)  # type: ignore[arg-type]
            client.add_event_callback(on_undecrypted, MegolmEvent)  # type: ignore[arg-type]
            print("ready", flush=True)
        token, first = response.next_batch, False
        decrypt_held()
        if keys is not None:
            await keys.after_sync()
        elif client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())
        await client.send_to_device_messages()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5], upkeep=sys.argv[5:6] == ["upkeep"]))

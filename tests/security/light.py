"""A lighter E2EE member for the crowd scenarios: a real matrix-nio client with its own device,
store and Olm/Megolm keys, but no background sync loop (50 of the harness's members, each
long-polling, would swamp a 2-core machine). It syncs when the test asks it to."""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    MegolmEvent,
    RoomCreateResponse,
    RoomMemberEvent,
    RoomMessage,
    RoomSendResponse,
    SyncResponse,
)

from bot.ops.localserver import LocalSynapse
from tests.harness import PASSWORD, Received

SYNC_FILTER = {"room": {"timeline": {"limit": 200}}, "presence": {"types": []}}


class LightMember:
    def __init__(self, client: AsyncClient, bot_id: str) -> None:
        self.client = client
        self.bot_id = bot_id
        self.received: list[Received] = []
        self.undecrypted: list[tuple[str, MegolmEvent]] = []
        self._synced = False
        self.sync_errors: list[str] = []
        self.seen: dict[str, int] = {}  # event types seen, for diagnostics
        self.sent_ts: dict[str, int] = {}  # own message event ID → homeserver timestamp (ms)
        self.bot_joined_ts: dict[str, int] = {}  # room ID → when the bot joined (homeserver ms)

    @property
    def user_id(self) -> str:
        return str(self.client.user_id)

    @classmethod
    async def create(cls, hs: LocalSynapse, localpart: str, directory: Path, bot_id: str,
                     display_name: str | None = None, login: bool = True) -> LightMember:
        """A new user with its own device; ``login=False``: the device and access token its
        registration made (one request fewer per member, for crowds of thousands)."""
        registered = await asyncio.to_thread(hs.register_session, localpart, PASSWORD)
        store = directory / f"light-{localpart}-{secrets.token_hex(3)}"
        store.mkdir(parents=True)
        config = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True, max_limit_exceeded=None)
        client = AsyncClient(hs.url, f"@{localpart}:{hs.server_name}", store_path=str(store), config=config)
        if login:
            await client.login(PASSWORD, device_name=f"light-{localpart}")
        else:
            client.restore_login(str(registered["user_id"]), str(registered["device_id"]),
                                 str(registered["access_token"]))
        assert client.access_token
        if client.should_upload_keys:
            await client.keys_upload()
        if display_name:
            await client.set_displayname(display_name)
        member = cls(client, bot_id)
        await member.sync()
        return member

    async def sync(self, timeout: int = 0) -> None:
        client = self.client
        response = await client.sync(timeout=timeout, sync_filter=SYNC_FILTER, full_state=not self._synced)
        if not isinstance(response, SyncResponse):
            self.sync_errors.append(f"{type(response).__name__}: {getattr(response, 'message', '')}"[:200])
            await asyncio.sleep(0.5)
            return
        self._synced = True
        for room_id, info in response.rooms.join.items():
            for event in info.timeline.events:
                self._take(room_id, event)
        if client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())
        await client.send_to_device_messages()
        pending, self.undecrypted = self.undecrypted, []
        for room_id, event in pending:
            try:
                decrypted = client.decrypt_event(event)
            except Exception:  # noqa: BLE001 - key not here yet
                self.undecrypted.append((room_id, event))
                continue
            self._take(room_id, decrypted)

    def _take(self, room_id: str, event: Any) -> None:
        self.seen[type(event).__name__] = self.seen.get(type(event).__name__, 0) + 1
        if isinstance(event, MegolmEvent):
            self.undecrypted.append((room_id, event))
        elif isinstance(event, RoomMessage) and event.sender != self.client.user_id:
            self.received.append(Received(room_id, event.event_id, event.sender, event.source.get("content", {}),
                                          event.server_timestamp))
        elif isinstance(event, RoomMessage):
            self.sent_ts[event.event_id] = event.server_timestamp
        elif (isinstance(event, RoomMemberEvent) and event.state_key == self.bot_id
              and event.membership == "join"):
            self.bot_joined_ts.setdefault(room_id, event.server_timestamp)

    async def sync_until(self, predicate: Any, timeout: float = 120, poll: int = 1000) -> Any:
        """Sync (long-polling ``poll`` ms) until ``predicate()`` is true; returns its value. A longer
        poll costs the homeserver fewer empty syncs while the awaited answer is slow to come."""
        deadline = time.monotonic() + timeout
        while True:
            found = predicate()
            if found:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError("condition not met in time")
            await self.sync(timeout=poll)

    async def open_dm(self, until_joined: bool = False) -> str:
        """Create an encrypted DM inviting the bot; returns once this client knows the room with the
        bot in it (invited: a new user may type while the bot is still joining), or, with
        ``until_joined``, once the bot has joined."""
        response = await self.client.room_create(
            is_direct=True, invite=[self.bot_id],
            initial_state=[{"type": "m.room.encryption", "state_key": "",
                            "content": {"algorithm": "m.megolm.v1.aes-sha2"}}])
        assert isinstance(response, RoomCreateResponse), response
        room_id = response.room_id

        def bot_joined() -> bool:
            room = self.client.rooms.get(room_id)
            return room is not None and self.bot_id in room.users and (
                not until_joined or self.bot_id not in room.invited_users)

        await self.sync_until(bot_joined, 60)
        return str(room_id)

    async def send(self, room_id: str, text: str, txn_id: str, attempts: int = 60) -> str:
        """Send with a fixed transaction ID, retrying (same ID) until the homeserver takes it."""
        content = {"msgtype": "m.text", "body": text}
        last: Any = None
        for _ in range(attempts):
            try:
                last = await self.client.room_send(room_id, "m.room.message", content, tx_id=txn_id,
                                                   ignore_unverified_devices=True)
                if isinstance(last, RoomSendResponse):
                    return str(last.event_id)
            except Exception as exc:  # noqa: BLE001 - homeserver down: retry the same transaction
                last = exc
            await asyncio.sleep(1)
        raise AssertionError(f"could not send: {last!r}")

    def from_bot(self, room_id: str | None = None) -> list[Received]:
        return [r for r in self.received if r.sender == self.bot_id and (room_id is None or r.room_id == room_id)]

    async def close(self) -> None:
        await self.client.close()

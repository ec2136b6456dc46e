"""The first encrypted send to many new rooms at once: one device-key query and one one-time-key
claim for all of them, instead of nio's chain of round trips per room (issue #15).

For a room whose member list it has not fetched itself (``members_synced``), nio's ``room_send``
asks ``/joined_members``, then queries device keys, then (``share_group_session``) claims one-time
keys for that room's devices, sends the room key to them, and only then sends the message: five
round trips before the first answer in every new DM, the outbox running several at once and each
key query repeating every user still waiting to be queried.

:meth:`KeyWork.prepare` does the two key round trips once for every room about to be sent to,
and tells nio a room's members are synced when nothing is missing: the bot's sync does not
lazy-load members, so the synced list is complete, and every member's devices are known by then.
That second condition matters: skipping only the members request (nio then skips its key query
too) shared the room key with no device of the new member and lost 26 of 100 answers
(``bot/runtime/burst.py``). A room whose members' devices are still unknown (the query failed) is left
to nio's own path, which asks again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from nio import AsyncClient, KeysQueryError, LocalProtocolError, MatrixRoom

log = logging.getLogger("organizer_bot")


@dataclass(eq=False)
class KeyWork:
    client: AsyncClient
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)  # one key round trip chain at a time
    _tasks: set[asyncio.Task[None]] = field(default_factory=set, init=False)

    async def query(self) -> None:
        """Query the device keys nio is waiting for (all users at once), unless a query under way
        already covers them."""
        async with self._lock:
            await self._query()

    async def _query(self) -> None:
        if not self.client.should_query_keys:
            return
        response = await self.client.keys_query()
        if isinstance(response, KeysQueryError):
            log.warning("device key query failed: %s", response.status_code)

    def start(self, room_ids: Iterable[str]) -> None:
        """Begin :meth:`prepare` in the background (right after a sync brings new rooms, while their
        commands are handled); the outbox's own call then finds the work done."""
        rooms = list(room_ids)
        if not self._needing(rooms):
            return
        task = asyncio.create_task(self.prepare(rooms), name="keywork")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def prepare(self, room_ids: Iterable[str]) -> None:
        """Before the first encrypted send to these rooms: one key query and one key claim for
        all of them. Never raises (it ended the outbox): nio's per-room path remains."""
        rooms = self._needing(list(room_ids))
        if not rooms:
            return
        try:
            async with self._lock:  # a second caller waits, then finds little or nothing left
                rooms = self._needing([room.room_id for room in rooms])
                if any(self._unqueried(room) for room in rooms):
                    await self._query()
                for room in rooms:
                    if not room.members_synced and not self._unqueried(room):
                        room.members_synced = True  # the sync's list is complete (no lazy loading)
                await self._claim(rooms)
        except (TimeoutError, aiohttp.ClientError, LocalProtocolError) as exc:
            log.warning("key preparation failed: %s", type(exc).__name__)
        except Exception as exc:  # noqa: BLE001 - a peer's keys (bot/e2ee/peer_keys.py) or a bug: never the outbox's end
            log.error("key preparation failed unexpectedly: %s", type(exc).__name__)

    async def _claim(self, rooms: list[MatrixRoom]) -> None:
        client = self.client
        assert client.olm is not None
        missing: dict[str, set[str]] = {}
        for room in rooms:
            if room.members_synced and client.olm.should_share_group_session(room.room_id):
                for user_id, devices in client.get_missing_sessions(room.room_id).items():
                    missing.setdefault(user_id, set()).update(devices)
        if missing:
            await client.keys_claim({user_id: sorted(devices) for user_id, devices in missing.items()})

    def _needing(self, room_ids: list[str]) -> list[MatrixRoom]:
        """The encrypted rooms among these whose next send would start nio's chain."""
        client = self.client
        if getattr(client, "olm", None) is None:  # no encryption (a test's stand-in)
            return []
        found: list[MatrixRoom] = []
        for room_id in dict.fromkeys(room_ids):
            room = client.rooms.get(room_id)
            if room is not None and room.encrypted and (
                not room.members_synced or client.olm.should_share_group_session(room_id)
            ):
                found.append(room)
        return found

    def _unqueried(self, room: MatrixRoom) -> bool:
        """Some member's devices are not known yet."""
        olm: Any = self.client.olm
        waiting = self.client.users_for_key_query
        return any(user_id in waiting or user_id not in olm.tracked_users for user_id in room.users)

"""The sync loop: long-poll the homeserver, hand each batch to the room knowledge and the
intake, fetch the gaps a limited sync leaves, then save our own sync token (after the batch
is handled: see ``bot/runtime/shell.py``), the health file and the online state.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from nio import (
    AsyncClient,
    RoomMessagesResponse,
    SyncError,
    SyncResponse,
)
from nio.api import MessageDirection

from bot.config import Settings
from bot.e2ee import crosssign
from bot.runtime import burst, health
from bot.runtime.intake import Intake
from bot.runtime.rooms import Rooms
from bot.runtime.sending.outbox import Outbox, Stopping
from bot.runtime.session import Session
from storage import rebuild
from storage.db import Database

log = logging.getLogger("organizer_bot")

BACKFILL_PAGES = 10  # up to 1000 missed events per room after a gap (restart, outage)
SENT_BEFORE_SYNC = 1.0  # seconds the next sync waits for this batch's answers to go out (Outbox.until_sent)
# While a fan-out goes out, each sync returns at once with the bot's own new events, and the
# homeserver computes a sync per handful of sends: the syncs are spaced by this much then (a
# command typed meanwhile waits up to this long more; measured in bench/RESULTS.md, fan-out)
BULK_SYNC_SPACING = 1.0
# Synapse returns at most 10 timeline events per room in an incremental sync without a filter and
# marks the rest as a gap ("limited"); a larger limit makes gaps rare, and _backfill fetches the rest.
SYNC_TIMELINE_LIMIT = 500
# Nothing the bot reads is in presence, typing or read receipts; a filter that blocks them all
# lets Synapse skip computing them for every room on every sync (``blocks_all_presence``,
# ``blocks_all_room_ephemeral`` in synapse/handlers/sync.py), which a crowd's hundreds of new DMs
# make costly.
SYNC_FILTER = {"room": {"timeline": {"limit": SYNC_TIMELINE_LIMIT}, "ephemeral": {"not_types": ["*"]}},
               "presence": {"not_types": ["*"]}}


def spacing(bulk_under_way: bool, since_asked: float) -> float:
    """Seconds to wait before the next sync: none, except while a fan-out goes out, when a sync
    follows the one before by at least :data:`BULK_SYNC_SPACING` (``since_asked``: since it was asked)."""
    return max(0.0, BULK_SYNC_SPACING - since_asked) if bulk_under_way else 0.0


@dataclass(eq=False)
class Syncer:
    client: AsyncClient
    settings: Settings
    db: Database
    session: Session
    rooms: Rooms
    intake: Intake
    outbox: Outbox
    stopping: Stopping
    ready: asyncio.Event  # set here, after the first successful sync
    more_health: Callable[[], dict[str, Any]] = dict  # the shell's: supervised tasks, the outbox
    last_sync: float | None = field(default=None, init=False)  # unix time
    _online: bool | None = field(default=None, init=False)

    async def run(self) -> None:
        client = self.client
        token = await self.intake.book.sync_token()
        unsaved: deque[tuple[str, list[asyncio.Task[None]]]] = deque()  # batches whose invites are being answered
        first = True
        backoff = 1.0
        while not self.stopping.is_set():
            asked = time.monotonic()
            sync = asyncio.create_task(
                client.sync(timeout=5000 if first else 25000, since=token, full_state=first,
                            sync_filter=SYNC_FILTER)
            )
            stopper = asyncio.create_task(self.stopping.wait())
            await asyncio.wait({sync, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if not sync.done():
                sync.cancel()
                await asyncio.gather(sync, return_exceptions=True)
                break
            try:
                response = sync.result()
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                response = SyncError(type(exc).__name__)
            if isinstance(response, SyncResponse) and (response.rooms.join or response.rooms.invite):
                self.rooms.stages.record("sync", time.monotonic() - asked)  # rooms in it: hardly a long poll
            if not isinstance(response, SyncResponse):
                self._set_online(False, getattr(response, "message", "sync failed"))
                await self.stopping.sleep(backoff)
                backoff = min(backoff * 2, 15.0)
                continue
            backoff = 1.0
            self._set_online(True)
            await self.session.after_sync()  # one-time keys topped up before a long batch (a crowd)
            started = time.monotonic()
            joins = await self.handle(response, token)
            self.rooms.stages.record("batch", time.monotonic() - started)
            if first:  # kept events whose keys came while the bot was down
                await self.intake.undecrypted.retry_all(client)
                # how long a start takes with this many rooms (counts only): the bot answers from here on
                log.info("first sync handled: %d rooms, %.1f s", len(client.rooms), time.monotonic() - asked)
            await asyncio.sleep(0)  # the outbox starts sending this batch's answers before the housekeeping
            token = response.next_batch
            unsaved.append((token, joins))
            await self._save_token(unsaved)
            self.last_sync = time.time()
            self.write_health()
            await self.session.maintain_keys(self.outbox.keys)
            first = False
            self.ready.set()
            await self.outbox.until_sent(SENT_BEFORE_SYNC)
            if pause := spacing(self.outbox.bulk_under_way, time.monotonic() - asked):
                await self.stopping.sleep(pause)
        pending = [task for _, tasks in unsaved for task in tasks if not task.done()]
        if pending:  # stopping: a few seconds for the joins under way, then what is done is saved
            await asyncio.wait(pending, timeout=3)
        await self._save_token(unsaved)

    async def _save_token(self, unsaved: deque[tuple[str, list[asyncio.Task[None]]]]) -> None:
        """Save the newest sync token whose batch, and every batch before it, is handled, invites
        included (see ``bot/runtime/shell.py``): while a batch's invites are still being joined, its token
        stays unsaved, so a crash re-delivers them instead of losing them (an incremental sync
        lists an invite once)."""
        newest = None
        while unsaved and all(task.done() for task in unsaved[0][1]):
            newest, tasks = unsaved.popleft()
            for task in tasks:
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]  # as when the loop joined them itself
        if newest is not None:
            async with self.db.transaction():  # never inside another task's open transaction
                await self.intake.book.save_sync_token(newest)

    async def handle(self, response: SyncResponse, since: str | None = None) -> list[asyncio.Task[None]]:
        """One sync batch: device changes, invites, kept events whose keys came, then the timeline.
        Returns the tasks answering its invites, which run on: a crowd's 64 invites in one sync took
        5 s of /join round trips (8 at a time), and the commands of the DMs joined before waited
        behind them, first in the same batch, then for the next sync (bench/launch.py, N = 100)."""
        if response.device_list.changed:
            crosssign.invalidate(response.device_list.changed)
        joins = self.rooms.start_joins({room_id: info.invite_state for room_id, info in response.rooms.invite.items()})
        for task in joins:
            task.add_done_callback(lambda _task: self.outbox.kick())  # a new home room is told so
        await self._timelines(response, since)
        self.outbox.kick()
        # the batch's member rows lose the order they were written in, and the WAL its commits
        # of single commands (storage/rebuild.py, issue #23)
        await rebuild.settle(self.db)
        return joins

    async def _timelines(self, response: SyncResponse, since: str | None) -> None:
        await self.intake.undecrypted.on_to_device(self.client, response.to_device_events)
        for room_id, info in response.rooms.join.items():
            room = self.client.rooms.get(room_id)
            if room is None:
                continue
            await self.rooms.settled(room_id)  # joined a moment ago: its flags are written first
            self.rooms.note_creators(room_id, [*info.state, *info.timeline.events])
            events = list(info.timeline.events)
            await self.rooms.start_at_invite(room_id, [*info.state, *events])
            # a new room's timeline is marked "limited" though it starts at the room's creation
            if info.timeline.limited and since is not None and not burst.reaches_room_start(events):
                # more happened since our last sync than one sync returns (after a restart or an
                # outage): fetch the gap, or those commands would never be answered
                events = await self._backfill(room_id, info.timeline.prev_batch, since) + events
            for event in events:
                await self.intake.handle_event(room, event)

    async def _backfill(self, room_id: str, start: str, since: str) -> list[Any]:
        """The events a limited sync left out, between ``since`` and ``start``, oldest first
        (decrypted by nio). Already-handled commands are skipped later by the dedup table."""
        missed: list[Any] = []
        token = start
        for _ in range(BACKFILL_PAGES):
            try:
                page = await self.client.room_messages(room_id, start=token, end=since,
                                                       direction=MessageDirection.back, limit=100)
            except (TimeoutError, aiohttp.ClientError) as exc:
                log.warning("could not fetch missed messages: %s", type(exc).__name__)
                break
            if not isinstance(page, RoomMessagesResponse):
                log.warning("could not fetch missed messages: %s", getattr(page, "status_code", "error"))
                break
            missed.extend(page.chunk)
            if not page.chunk or not page.end or page.end == token:
                break
            token = page.end
        missed.reverse()
        return missed

    def _set_online(self, online: bool, why: str = "") -> None:
        if online != self._online:
            if online:
                log.info("connected to the homeserver")
            else:
                log.warning("homeserver unreachable (%s); retrying with backoff", why[:80])
            self._online = online

    def write_health(self) -> None:
        """health.json (``bot/runtime/health.py``), from the first successful sync on."""
        if self.last_sync is None:
            return
        gate = self.session.rate_gate
        gate.flush()  # the last minute's count of 429s, if any went unlogged
        client = self.session.client
        peer_keys = getattr(client, "peer_keys", None)
        health.write(self.settings.BOT_DATA_DIR, {
            "last_sync": self.last_sync,
            "undecryptable_waiting": self.intake.undecrypted.waiting,  # for doctor and operators
            # Olm (to-device) messages that could not be decrypted since start (bot/runtime/session.py BotClient)
            "olm_undecryptable": getattr(client, "undecryptable_to_device", 0),
            # devices whose published keys were unusable, skipped (bot/e2ee/peer_keys.py)
            "peer_key_failures": getattr(peer_keys, "failures", 0),
            **gate.health(),  # 429s counted, for doctor
            **self.more_health(),
        })

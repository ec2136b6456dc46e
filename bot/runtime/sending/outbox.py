"""Sending: the outbox drained by one task, each row performed by the type of its record
(``bot/runtime/sending/outputs.py``), with the row's fixed transaction ID; DMs opened on demand; strict
trust applied per send. A row is deleted only after the homeserver accepted it (or refused it
for good); why that makes replies exactly-once is written down in ``bot/runtime/shell.py``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from nio import (
    AsyncClient,
    ErrorResponse,
    LocalProtocolError,
    OlmUnverifiedDeviceError,
    RoomCreateError,
    RoomSendError,
)
from nio.api import RoomPreset

from bot.config import Settings
from bot.e2ee import crosssign
from bot.e2ee.keywork import KeyWork
from bot.runtime.rooms import Rooms
from bot.runtime.sending import images, outputs
from bot.runtime.sending.outputs import BroadcastTo, Delivery, Leave, Origin, Redact, Send, SendDM, SendImage
from bot.runtime.sending.progress import Progress
from bot.runtime.sending.ratelimit import RateGate
from bot.runtime.sending.window import Row, Window
from bot.runtime.stages import StageTimes
from commands.base import Output
from commands.common.i18n import N_, translations
from storage.core import ANSWER, BULK, EventBook, Outgoing

log = logging.getLogger("organizer_bot")

PARALLEL = 8  # destinations sent to at once; each keeps its own order
SAYING_AT_ONCE = 64  # one-line answers without a row (to outsiders) under way at most; more are not sent
WAVE_DEPTH = 4  # rows one destination's send takes at once: an answer to it queued meanwhile waits for those


class Stopping(asyncio.Event):
    """Set when the shell stops; its :meth:`sleep` ends early then."""

    async def sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.wait(), timeout=seconds)
        except TimeoutError:
            pass


def _destination(item: Outgoing, record: Delivery | None) -> str:
    """What a row's order is kept within: its room, or the member whose DM it goes to. A
    broadcast is its own destination (it reports back after all its rooms)."""
    match record:
        case Send(room_id=room_id) | Redact(room_id=room_id) | Leave(room_id=room_id) | SendImage(room_id=room_id):
            return "room:" + room_id
        case SendDM(user=user):
            return "dm:" + user
    return "row:" + item.txn_id


BROADCAST_REPORT = N_("Broadcast delivered to {sent} of {total} rooms.")
BROADCAST_FAILED = N_("Failed: {rooms}.")
BROADCAST_LEFT = N_("a room I left")


@dataclass(eq=False)
class Outbox:
    client: AsyncClient
    settings: Settings
    book: EventBook
    rooms: Rooms
    stopping: Stopping
    ready: asyncio.Event  # set after the first sync: only then are the rooms known
    gate: RateGate = field(default_factory=RateGate)
    stages: StageTimes = field(default_factory=StageTimes)  # durations only (bot/runtime/stages.py)
    keys: KeyWork = field(init=False)  # first sends' key round trips, shared by many rooms
    progress: Progress = field(init=False)  # broadcasts to DMs under way: counts, the home room's lines
    _kick: asyncio.Event = field(default_factory=asyncio.Event, init=False)  # rows committed that no wave read yet
    _answered: asyncio.Event = field(default_factory=asyncio.Event, init=False)  # no answer row left unsent
    _waiting_since: float | None = field(default=None, init=False)  # kicked, and not yet found empty
    _sent_at: float = field(default=0.0, init=False)  # the last row done
    bulk_under_way: bool = field(default=False, init=False)  # the last rows read included bulk sends (a fan-out)

    def __post_init__(self) -> None:
        self.keys = KeyWork(self.client)
        self.sayer = Sayer(self.gate, self.stopping)
        self.progress = Progress(self.book, self.rooms, self.settings.BOT_MIN_CELL, self.settings.BOT_COMMAND_PREFIX)

    # ------------------------------------------------------------ queueing

    async def enqueue(self, items: list[Output], origin: Origin) -> None:
        """Queue outputs inside the caller's transaction; :meth:`kick` after it commits."""
        await outputs.enqueue(self.book, self.rooms, items, origin, self.settings.announce_delay)

    def kick(self) -> None:
        """Call after the transaction that queued messages has committed."""
        if self._waiting_since is None:
            self._waiting_since = time.time()
        self._kick.set()

    @property
    def undrained_since(self) -> float | None:
        """Since when (unix time) messages have waited with nothing sent, ``None`` when the outbox
        was last found empty or sends on (``health.json``: a stopped or stuck sender shows here)."""
        if self._waiting_since is None:
            return None
        return max(self._waiting_since, self._sent_at)

    async def until_sent(self, limit: float) -> None:
        """Wait, at most ``limit`` seconds, until the answers queued so far are sent. Like a bot that
        answers inline, the next sync then starts after the answers: under load, the commands that
        arrive meanwhile come in one sync instead of one sync each. Bulk sends are not waited for:
        an announcement to every DM keeps the outbox busy for minutes, and every sync waiting its
        full ``limit`` behind it delayed the next commands by as much."""
        if self._kick.is_set():
            self._answered.clear()  # queued, and no wave has read it yet
        if self._answered.is_set() or self.stopping.is_set():
            return
        waits = {asyncio.create_task(self._answered.wait()), asyncio.create_task(self.stopping.wait())}
        await asyncio.wait(waits, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
        for task in waits:
            task.cancel()

    def say(self, message: Send, txn_id: str) -> None:
        """One line that leaves no row (to someone outside the campaign): see :class:`Sayer`."""
        self.sayer.say(message, txn_id, self.send)

    async def stop_saying(self) -> None:
        await self.sayer.stop()

    # ------------------------------------------------------------ draining

    async def run(self) -> None:
        # the rooms are known only after the first sync (our own token: nio keeps none); sending
        # earlier would drop what a killed run left queued as "for a room the bot is not in"
        await self.ready.wait()
        while True:
            await self._work()
            await self.drain()
            if not self._kick.is_set():
                self._answered.set()

    async def _work(self) -> None:
        """Wait for new rows, or for the next announcement round's rows to become due."""
        async with self.book.db.transaction():
            due = await self.book.next_round()
        timeout = None if due is None else max(0.0, due - time.time())
        try:
            await asyncio.wait_for(self._kick.wait(), timeout)
        except TimeoutError:
            self._kick.set()

    async def drain(self, timeout: float | None = None) -> None:
        """Send everything queued: up to :data:`PARALLEL` destinations at once, each destination's
        rows in the order queued. Whenever a destination is done, the next rows are read (answers
        first), so an answer queued meanwhile waits for one send to finish, not for a whole wave
        of them (a new DM's first send costs several round trips). A row is deleted once delivered;
        after a failed send the sends under way still finish, then the unsent rows are retried
        shortly."""
        deadline = None if timeout is None else time.monotonic() + timeout
        running: dict[str, tuple[asyncio.Task[bool], set[int]]] = {}  # destination → its send, its row IDs
        window = Window(self.book, PARALLEL * WAVE_DEPTH)  # the rows read: each is unsealed once
        failed = False
        kicked: asyncio.Task[Any] | None = None
        try:
            while True:
                starting = not failed and (deadline is None or time.monotonic() <= deadline)
                if starting:
                    await self._start_groups(running, window, deadline)
                if not running:
                    break
                if starting and (kicked is None or kicked.done()):
                    kicked = asyncio.create_task(self._kick.wait())  # new rows: a free slot can take them
                waits = [task for task, _ in running.values()] + ([kicked] if starting and kicked else [])
                done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                for destination, (task, ids) in list(running.items()):
                    if task in done:
                        del running[destination]
                        window.finish(ids)
                        failed = failed or not task.result()
        finally:
            for task, _ids in running.values():
                task.cancel()
            if kicked is not None:
                kicked.cancel()
            await asyncio.gather(*(task for task, _ in running.values()), *([kicked] if kicked else []),
                                 return_exceptions=True)
        if failed:
            await self.stopping.sleep(2)  # homeserver trouble: keep the rows, retry later
            if not self.stopping.is_set():
                self._kick.set()

    async def _start_groups(self, running: dict[str, tuple[asyncio.Task[bool], set[int]]], window: Window,
                            deadline: float | None) -> None:
        """Read the rows not read yet, if any may be due (see :mod:`bot.runtime.sending.window`), and
        start a send for each free destination, up to :data:`PARALLEL`."""
        now = time.time()
        everything = window.stale(self._kick.is_set(), now)
        if window.wants(everything):
            if everything:
                self._kick.clear()  # what is committed from here on is read now or kicks again
            async with self.book.db.transaction():  # never read another task's uncommitted rows
                if everything and await self.progress.refresh():
                    self._kick.set()  # the home room's line, read by the next wave
                await window.read(everything, now)
        lanes = window.lanes()
        if ANSWER not in lanes:  # answers come first: none is left
            self._answered.set()
        self.bulk_under_way = BULK in lanes
        if not lanes:  # nothing due, nothing under way
            self._waiting_since = None
        groups: dict[str, list[Row]] = {}
        for item, record in window.waiting():
            destination = _destination(item, record)
            if destination not in running:  # its earlier rows are still being sent: order kept
                groups.setdefault(destination, []).append((item, record))
        # new rooms among these: one key query and one key claim for all, not a chain per room
        await self.keys.prepare(room for rows in groups.values() if (room := self._room_of(rows[0][1])))
        for destination, rows in groups.items():
            if len(running) >= PARALLEL:
                break
            rows = rows[:WAVE_DEPTH]
            ids = {item.id for item, _ in rows}
            window.start(ids)
            running[destination] = (asyncio.create_task(self._send_group(rows, deadline)), ids)

    def _room_of(self, record: Delivery | None) -> str | None:
        """The room a row's message goes to, if it is known now."""
        match record:
            case Send(room_id=room_id) | SendImage(room_id=room_id):
                return room_id
            case SendDM(user=user):
                return self.rooms.dm_with(user)
        return None

    async def _send_group(self, rows: list[Row], deadline: float | None) -> bool:
        """One destination's rows, in order; stops at the first that must be retried."""
        for item, record in rows:
            if deadline is not None and time.monotonic() > deadline:
                return True
            await self.gate.wait()
            if not await self._deliver(item, record):
                if await self.progress.failed(item.txn_id):
                    self._kick.set()  # the home room's line
                return False
            async with self.book.db.transaction():
                await self.book.done(item.id)
                told = await self.progress.done(item.txn_id)
            if told:
                self._kick.set()
            self._sent_at = time.time()
        return True

    async def _deliver(self, item: Outgoing, record: Delivery | None) -> bool:
        """Perform one outbox row. ``False`` means retry later; permanent failures are
        logged and dropped."""
        try:
            match record:
                case Send(room_id=room_id) | SendImage(room_id=room_id):
                    if item.lane != ANSWER and not self.rooms.may_post(room_id):
                        log.info("dropped news for the DM of someone no longer in the campaign")
                        self.progress.dropped(item.txn_id)
                        return True  # membership is read when sending too: news waits for its round
                    if isinstance(record, SendImage):  # drawn, encrypted and uploaded there
                        return await images.deliver(self.client, self.rooms.joining, self.send, record, item.txn_id)
                    sent = await self.send(room_id, record.content, item.txn_id)
                    if sent == "":
                        self.progress.dropped(item.txn_id)
                    return sent is not None
                case SendDM(user=user, content=content, any_device=any_device):
                    dm_room = await open_dm(self.client, self.rooms, user)
                    if dm_room is None:
                        return True
                    return await self.send(dm_room, content, item.txn_id, any_device=any_device) is not None
                case Redact(room_id=room_id, event_id=event_id):
                    result = await self.client.room_redact(room_id, event_id, tx_id=item.txn_id)
                    if isinstance(result, ErrorResponse):
                        log.warning("redaction refused: %s", result.status_code)
                    return True
                case BroadcastTo():
                    return await self._broadcast(record, item.txn_id)
                case Leave(room_id=room_id):
                    await self.client.room_leave(room_id)
                    return True
        except (TimeoutError, aiohttp.ClientError, OSError):
            return False
        log.error("unknown outbox item kind dropped")
        return True

    # ------------------------------------------------------------ sending

    async def send(self, room_id: str, content: dict[str, Any], txn_id: str, any_device: bool = False) -> str | None:
        """Send one message; returns the event ID, ``""`` for a permanent failure (logged),
        or raises for transport trouble so the caller retries.

        ``any_device`` (strict trust mode only): share this one message's room key with every device in
        the room, then rotate the key; used for the notice that tells an unverified session to verify."""
        client = self.client
        if room_id not in client.rooms:
            if room_id in self.rooms.joining:  # just joined (a new home room's notice): after the next sync
                raise aiohttp.ClientError("room not synced yet")
            log.warning("dropped a message for a room the bot is not in")
            return ""
        self.rooms.joining.discard(room_id)
        strict = self.settings.BOT_TRUST == "cross-signed"
        if strict and any_device:
            self._trust_everyone_once(room_id)
            strict = False
        try:
            for attempt in range(3):
                if strict:
                    await crosssign.apply_trust(client, "cross-signed", client.rooms[room_id].users)
                try:
                    result = await client.room_send(  # padded: its size tells no language or answer
                        room_id, "m.room.message", outputs.pad(content), tx_id=txn_id,
                        ignore_unverified_devices=not strict,
                    )
                    break
                except OlmUnverifiedDeviceError:
                    if attempt == 2:
                        raise
                    crosssign.invalidate()  # a device appeared since the last check
        except LocalProtocolError as exc:
            log.warning("send failed: %s", type(exc).__name__)
            return ""
        if any_device and self.settings.BOT_TRUST == "cross-signed":
            client.invalidate_outbound_session(room_id)
            crosssign.invalidate()  # the next send re-applies strict trust to these devices
        if isinstance(result, RoomSendError):
            if result.status_code in ("M_FORBIDDEN", "M_NOT_FOUND", "M_TOO_LARGE", "M_BAD_JSON"):
                log.warning("send refused: %s", result.status_code)
                return ""
            raise aiohttp.ClientError(result.status_code or "send error")
        self.stages.sent(room_id)
        return str(result.event_id)

    def _trust_everyone_once(self, room_id: str) -> None:
        client = self.client
        assert client.olm is not None
        client.invalidate_outbound_session(room_id)
        for user_id in client.rooms[room_id].users:
            for device in client.device_store.active_user_devices(user_id):
                if client.olm.is_device_blacklisted(device):
                    client.unblacklist_device(device)

    async def _broadcast(self, record: BroadcastTo, txn_id: str) -> bool:
        failed: list[str | None] = []  # a room's name, None for a room the bot has left
        for index, room_id in enumerate(record.rooms):
            event_id = await self.send(room_id, record.content, f"{txn_id}.{index}")
            if not event_id:
                room = self.client.rooms.get(room_id)
                failed.append(room.display_name if room else None)
        if record.report_room:
            _ = translations(await self.rooms.language_of(record.report_room)).gettext  # the report room's
            total = len(record.rooms)
            text = _(BROADCAST_REPORT).format(sent=total - len(failed), total=total)
            if failed:
                text += " " + _(BROADCAST_FAILED).format(rooms=", ".join(_(BROADCAST_LEFT) if name is None else name
                                                                         for name in failed[:20]))
            await self.send(record.report_room, outputs.content(text), f"{txn_id}.report")
        return True


async def open_dm(client: AsyncClient, rooms: Rooms, user_id: str) -> str | None:
    """The encrypted DM with ``user_id``, created (and the member invited) if none exists."""
    existing = rooms.dm_with(user_id, invited=True)
    if existing is not None:
        return existing
    result = await client.room_create(
        is_direct=True, invite=[user_id], preset=RoomPreset.trusted_private_chat,
        initial_state=[{"type": "m.room.encryption", "state_key": "",
                        "content": {"algorithm": "m.megolm.v1.aes-sha2"}}],
    )
    if isinstance(result, RoomCreateError):
        log.warning("could not open a DM: %s", result.status_code)
        return None
    await rooms.mark_dm(result.room_id)
    # wait for the room to sync and the member to join: room keys are shared with joined members
    for _ in range(200):
        room = client.rooms.get(result.room_id)
        if room is not None and room.encrypted and user_id in room.users:
            return str(result.room_id)
        await asyncio.sleep(0.1)
    room = client.rooms.get(result.room_id)
    return str(result.room_id) if room is not None and room.encrypted else None


@dataclass
class Sayer:
    """One-line answers that leave no row: to someone outside the campaign, of whom nothing is
    stored. Each waits out the homeserver's pause (429) like every send and is tried again after
    transport trouble, but lives in memory only: at most :data:`SAYING_AT_ONCE` are under way,
    and a flood beyond that is not answered (nothing grows without bound). The transaction ID is
    derived from the event, so a resend is de-duplicated by the homeserver."""

    gate: RateGate
    stopping: Stopping
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def say(self, message: Send, txn_id: str, send: Callable[..., Awaitable[str | None]]) -> None:
        if len(self.tasks) >= SAYING_AT_ONCE:
            log.info("too many answers to people outside the campaign under way; one was not sent")
            return
        task = asyncio.create_task(self._say(message, txn_id, send), name="say")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _say(self, message: Send, txn_id: str, send: Callable[..., Awaitable[str | None]]) -> None:
        for attempt in range(3):
            await self.gate.wait()
            try:
                await send(message.room_id, message.content, txn_id)
                return
            except (TimeoutError, aiohttp.ClientError, OSError):
                await self.stopping.sleep(2.0 * (attempt + 1))
        log.warning("could not answer someone outside the campaign")

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

"""Nothing lost silently: messages the bot cannot decrypt yet are kept, retried, and explained.

A member's client shares the Megolm room key of its messages with the bot's device in a
to-device message; when that share is late, lost or withheld, the message arrives as an
undecryptable ``MegolmEvent``. Such events are kept sealed in the database (``storage.undecrypted``)
so a restart does not lose them, retried when a room key for their session arrives (and once at
start), and handed to the normal event path when they decrypt, so they are answered once (the
handled-event mark de-duplicates). A member whose DM message stays unreadable past the grace
period (``BOT_UNDECRYPTABLE_GRACE``) is told, once a day at most, that it could not be read and
what to do: the notice is an outbox record of ``bot/runtime/sending/outputs.py``, and "told" is a member flag of
the :class:`storage.core.EventBook` holding the day number. Logs carry counts only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from nio import AsyncClient, ForwardedRoomKeyEvent, MatrixRoom, MegolmEvent, RoomKeyEvent

from bot.e2ee.crosssign import Check
from bot.runtime.sending import outputs
from commands.common.i18n import DEFAULT, N_, translations
from commands.language import reader_language
from storage import undecrypted as store
from storage.core import EventBook
from storage.hashing import Member

log = logging.getLogger("organizer_bot.undecrypted")

NOTICE_PERIOD_DAYS = 1  # a member hears about unreadable messages at most once a day
TOLD_FLAG = store.TOLD_FLAG  # member flag: the day the member was last told
NOTICE_TEXT = N_(
    "I could not read your last message: your app did not give me the key to decrypt it, so I did "
    "nothing with it. Please send it again. If this keeps happening, verify this session of yours "
    "(in Element: Settings → Sessions → Verify) or sign out and back in, then send it again."
)
Handler = Callable[[MatrixRoom, Any], Awaitable[None]]


class Undecrypted:
    """The service (``run``/``wake``) and the calls the shell makes on events and room keys."""

    def __init__(self, book: EventBook, grace: float, handle: Handler,
                 kick: Callable[[], None], clock: Callable[[], float] = time.time, language: str = DEFAULT) -> None:
        self.book = book
        self.language = language  # BOT_DEFAULT_LANGUAGE: for a member who chose none
        self.db = book.db
        self.keyring = book.keyring
        self.grace = grace
        self.handle = handle  # the normal event path, for events that decrypt late
        self.kick = kick  # wakes the outbox after a notice was queued
        self.clock = clock
        self.waiting = 0  # events kept, for the health file
        self._logged = 0
        self._expired_day = -1

    async def keep(self, room_id: str, event: MegolmEvent, dm: bool) -> None:
        """Keep a campaign member's event that did not decrypt (the caller checks membership; not
        one sent before the bot joined: it would not be answered anyway). Capped per sender
        (``storage.undecrypted.PER_SENDER``)."""
        joined_at = await self.book.room_flag(room_id, "joined_at")
        if joined_at is not None and event.server_timestamp < joined_at:
            return
        async with self.db.transaction():  # bounded work: at most one sender's capped rows are read
            self.waiting += await store.keep(self.db, self.keyring, room_id, event.source, event.session_id, dm,
                                             self.clock())

    async def on_to_device(self, client: AsyncClient, events: list[Any]) -> None:
        """Retry the kept events of every session a room key just arrived for."""
        sessions = [e.session_id for e in events if isinstance(e, RoomKeyEvent | ForwardedRoomKeyEvent)]
        if sessions and self.waiting:
            await self._retry(client, await store.for_sessions(self.db, self.keyring, sessions))

    async def retry_all(self, client: AsyncClient) -> None:
        """At start: keys may have arrived before a crash or a stop, and rows must be counted."""
        async with self.db.transaction():
            await self._expire()
            self.waiting = await store.count(self.db)
        await self._retry(client, await store.every(self.db, self.keyring))

    async def _retry(self, client: AsyncClient, kept: list[store.Waiting]) -> None:
        answered = 0
        for waiting in kept:
            room = client.rooms.get(waiting.room_id)
            event = MegolmEvent.from_dict(waiting.source)
            if room is None or not isinstance(event, MegolmEvent):
                await self._forget(waiting)  # left the room, or nothing nio can read
                continue
            event.room_id = waiting.room_id
            try:
                decrypted = client.decrypt_event(event)
            except Exception:  # noqa: BLE001 - nio raises EncryptionError and more: still no key
                continue
            await self.handle(room, decrypted)  # marks the event handled: answered once
            await self._forget(waiting)
            answered += 1
        if answered:
            log.info("%d waiting messages decrypted after their room key arrived (%d still waiting)",
                     answered, self.waiting)

    async def _forget(self, waiting: store.Waiting) -> None:
        async with self.db.transaction():
            await store.forget(self.db, waiting.id)
            self.waiting = await store.count(self.db)

    # ------------------------------------------------------------ the service

    async def run(self) -> None:
        while True:
            await asyncio.sleep(min(5.0, max(0.5, self.grace / 4)))
            await self.check()

    def wake(self) -> None:
        pass

    async def check(self) -> int:
        """Tell the members whose DM message stayed unreadable past the grace period; expire old
        rows; log the count when it changed. Returns the number of notices queued."""
        now = self.clock()
        queued = 0
        async with self.db.transaction():
            await self._expire()
            for waiting in await store.ungraced(self.db, self.keyring):
                if now - waiting.seen < self.grace:
                    continue
                await store.mark_graced(self.db, waiting.id)
                day = store.today(now)
                if waiting.dm and waiting.sender and await self.book.renew_member_flag(
                        waiting.sender, TOLD_FLAG, day, below=day - NOTICE_PERIOD_DAYS):
                    await self._queue_notice(waiting)
                    queued += 1
            self.waiting = await store.count(self.db)
        if queued:
            self.kick()
            log.info("told %d members that a message of theirs could not be read", queued)
        if self.waiting != self._logged:
            log.info("%d messages waiting for room keys", self.waiting)
            self._logged = self.waiting
        return queued

    async def _queue_notice(self, waiting: store.Waiting) -> None:
        # a fixed transaction ID: the outbox sends it once, even across a crash
        txn = "ud" + self.book.txn_prefix("undecrypted:" + waiting.event_id)
        lang = await reader_language(self.db, self.keyring, self.language, waiting.room_id, True,
                                     Member(self.keyring, waiting.sender))  # the member's DM: their language
        text = translations(lang).gettext(NOTICE_TEXT)
        await outputs.put(self.book, txn, outputs.Send(waiting.room_id, outputs.content(text)))

    async def _expire(self) -> None:
        day = store.today(self.clock())
        if day != self._expired_day:
            await store.expire(self.db, self.clock())
            await self.book.expire_member_flag(TOLD_FLAG, below=day - NOTICE_PERIOD_DAYS)
            self._expired_day = day


def doctor_check(data_dir: Path) -> Check:
    """``organizer-bot doctor``: the count the running bot last wrote into its health file."""
    name = "undecryptable messages"
    try:
        health = json.loads((data_dir / "health.json").read_text())
        waiting, olm = health.get("undecryptable_waiting"), health.get("olm_undecryptable")
    except (OSError, ValueError, AttributeError):
        waiting = olm = None
    if not isinstance(waiting, int):
        return Check(name, True, "no count yet (the bot has not synced with this version)")
    detail = "none waiting for room keys" if waiting == 0 else (
        f"{waiting} messages waiting for room keys (kept {store.KEEP_DAYS} days; "
        "their senders are told to resend after BOT_UNDECRYPTABLE_GRACE seconds)")
    if isinstance(olm, int) and olm:
        detail += (f"; {olm} encrypted to-device messages could not be decrypted since the bot started "
                   "(their senders' devices were asked for a new session)")
    return Check(name, True, detail)

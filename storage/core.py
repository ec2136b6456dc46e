"""The bot's own bookkeeping: handled events, the outbox, per-room and per-member flags.

Event, room and member IDs are stored as keyed references; what the outbox must later send
(the room and the message) is sealed with AES-GCM, so the tables reveal neither. The shell
reaches all of it through one :class:`EventBook`, which holds the keyring once. Why these
rows make command handling exactly-once is written down in ``bot/runtime/shell.py``.
"""

from __future__ import annotations

import contextlib
import json
import math
import secrets
import time
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from typing import Any

from storage.db import Database
from storage.hashing import Keyring, Member

EVENT_TTL_SECONDS = 14 * 24 * 3600
DAY_SECONDS = 86_400
SYNC_TOKEN_KEY = "sync_token"  # meta row: the bot's own sync token, sealed (see EventBook.save_sync_token)
ANSWER, BULK = 0, 1  # outbox lanes: answers to commands are sent before bulk sends


@dataclass(frozen=True)
class Outgoing:
    """One queued outbox row, unsealed: ``payload`` is the JSON the shell's codec wrote."""

    id: int
    txn_id: str
    room_id: str
    payload: dict[str, Any]
    lane: int = ANSWER


class EventBook:
    """Per-event bookkeeping: the dedup mark, say-once flags and the outbox rows."""

    def __init__(self, db: Database, keyring: Keyring) -> None:
        self.db = db
        self.keyring = keyring

    # ------------------------------------------------------------ handled events

    @contextlib.asynccontextmanager
    async def claim(self, event_id: str, now: float | None = None) -> AsyncIterator[bool]:
        """One transaction for one event. Yields ``False`` if the event was handled before (do
        nothing); otherwise ``True``, and the event is marked handled in the same transaction
        when the block ends without an exception. An exception rolls everything back, mark
        included."""
        async with self.db.transaction():
            if await self.handled(event_id):
                yield False
                return
            yield True
            await self.mark_handled(event_id, now)

    async def handled(self, event_id: str) -> bool:
        row = await self.db.fetchone(
            "SELECT 1 FROM processed_events WHERE event_ref=?", (self.keyring.ref("event", event_id),)
        )
        return row is not None

    async def mark_handled(self, event_id: str, now: float | None = None) -> None:
        """The mark keeps the day it expires (the first midnight UTC at least
        :data:`EVENT_TTL_SECONDS` after handling), never the second it was handled: it is
        written in the same commit as the command's member rows (issue #23)."""
        expires = (int((now or time.time()) + EVENT_TTL_SECONDS) // DAY_SECONDS + 1) * DAY_SECONDS
        await self.db.execute(
            "INSERT OR IGNORE INTO processed_events (event_ref, expires_at) VALUES (?, ?)",
            (self.keyring.ref("event", event_id), expires),
        )

    # ------------------------------------------------------------ flags

    async def room_flag(self, room_id: str, flag: str) -> int | None:
        row = await self.db.fetchone(
            "SELECT value FROM room_flags WHERE room_ref=? AND flag=?", (self.keyring.ref("room", room_id), flag)
        )
        return row[0] if row else None

    async def set_room_flag(self, room_id: str, flag: str, value: int = 1) -> bool:
        """Set a flag; returns ``True`` if it was not set before (for say-it-once notices)."""
        changed = await self.db.execute(
            "INSERT OR IGNORE INTO room_flags (room_ref, flag, value) VALUES (?, ?, ?)",
            (self.keyring.ref("room", room_id), flag, value),
        )
        return bool(changed)

    async def lower_room_flag(self, room_id: str, flag: str, value: int) -> bool:
        """Lower a set flag's value to ``value`` (never raise it); ``True`` if it changed. (A
        room's "joined at" cut-off moves back to the bot's invite, see ``bot/runtime/burst.py``.)"""
        changed = await self.db.execute(
            "UPDATE room_flags SET value=? WHERE room_ref=? AND flag=? AND value>?",
            (value, self.keyring.ref("room", room_id), flag, value),
        )
        return bool(changed)

    async def rooms_with_flag(self, flag: str) -> set[bytes]:
        """The keyed references of every room with ``flag`` set."""
        rows = await self.db.fetchall("SELECT room_ref FROM room_flags WHERE flag=?", (flag,))
        return {bytes(row[0]) for row in rows}

    async def set_member_flag(self, user_id: str, flag: str) -> bool:
        """Like :meth:`set_room_flag`, for a member (keyed reference under its own purpose)."""
        changed = await self.db.execute(
            "INSERT OR IGNORE INTO member_flags (member_ref, flag, value) VALUES (?, ?, 1)",
            (self.keyring.ref("member:flags", user_id), flag),
        )
        return bool(changed)

    async def renew_member_flag(self, user_id: str, flag: str, value: int, below: int) -> bool:
        """Set a member's flag to ``value`` unless it is set to ``below`` or more; returns whether
        it changed (say-once-per-period notices keep a day number as the value)."""
        changed = await self.db.execute(
            "INSERT INTO member_flags (member_ref, flag, value) VALUES (?, ?, ?) "
            "ON CONFLICT(member_ref, flag) DO UPDATE SET value=excluded.value WHERE member_flags.value < ?",
            (self.keyring.ref("member:flags", user_id), flag, value, below),
        )
        return bool(changed)

    async def expire_member_flag(self, flag: str, below: int) -> int:
        """Delete every member's ``flag`` whose value is below ``below``; returns how many."""
        return await self.db.execute("DELETE FROM member_flags WHERE flag=? AND value < ?", (flag, below))

    # ------------------------------------------------------------ outbox

    def txn_prefix(self, base: str) -> str:
        """A transaction-ID stem derived from ``base`` (an event ID): the same on every retry,
        and revealing nothing of ``base``."""
        return self.keyring.ref("txn", base).hex()[:24]

    def outbox_group(self, stem: str) -> str:
        """The keyed reference the outbox keys the rows of transaction-ID stem ``stem`` by (a
        range of the ``txn_id`` column: a broadcast counts its rows left without the IDs in clear)."""
        return self.keyring.ref("outbox-txn", stem).hex()

    async def enqueue(self, txn_id: str, room_id: str, payload: dict[str, Any], lane: int = ANSWER,
                      not_before: int = 0) -> None:
        """Queue a message; the same ``txn_id`` is reused on every retry, so the homeserver
        de-duplicates a resend after a crash. ``lane``: :data:`ANSWER` or :data:`BULK`;
        ``not_before``: unix seconds before which it is held (an announcement round)."""
        # the transaction ID goes to the homeserver, which logs it with the room: in clear here it
        # would tie this commit (and the member rows in it) to a DM; so the column holds a keyed
        # reference (unique, as the ID is) and the ID is sealed. No queue time is kept (issue #23).
        seal = self.keyring.seal
        group, dot, _ = txn_id.rpartition(".")
        column = f"{self.outbox_group(group)}.{self.keyring.ref('outbox-txn', txn_id).hex()}" if dot else \
            self.keyring.ref("outbox-txn", txn_id).hex()
        await self.db.execute(
            "INSERT OR IGNORE INTO outbox (txn_id, txn_sealed, room_sealed, payload_sealed, created_at, lane, "
            "not_before) VALUES (?, ?, ?, ?, 0, ?, ?)",
            (column, seal("outbox", txn_id), seal("outbox", room_id),
             seal("outbox", json.dumps(payload)), lane, not_before),
        )

    async def announce_round(self, delay: tuple[int, int], now: float | None = None) -> int:
        """The time (unix seconds) of the announcement round news queued now goes out in (see
        :func:`round_at`)."""
        return await round_at(self.db, delay, now)

    async def pending(self, limit: int = 100, now: float | None = None, skip: Collection[int] = ()) -> list[Outgoing]:
        """The next rows to send: every queued answer before any bulk row, each lane in the
        order queued; rows held for a later announcement round are left, and so are the rows
        ``skip`` names (read before and not yet done: the sender unseals each row once)."""
        others = f"AND id NOT IN ({', '.join('?' * len(skip))}) " if skip else ""
        rows = await self.db.fetchall(
            "SELECT id, txn_id, room_sealed, payload_sealed, lane, txn_sealed FROM outbox WHERE not_before <= ? "
            f"{others}ORDER BY lane, id LIMIT ?", (int(now if now is not None else time.time()), *skip, limit),
        )
        unseal = self.keyring.unseal
        return [Outgoing(row[0], row[1] if row[5] is None else unseal("outbox", row[5]),  # None: queued before #23
                         unseal("outbox", row[2]), json.loads(unseal("outbox", row[3])), row[4])
                for row in rows]

    async def next_round(self, now: float | None = None) -> int | None:
        """When the next held row is due (unix seconds), if any row is held."""
        row = await self.db.fetchone("SELECT min(not_before) FROM outbox WHERE not_before > ?",
                                     (int(now if now is not None else time.time()),))
        return row[0] if row and row[0] is not None else None

    async def done(self, outgoing_id: int) -> None:
        await self.db.execute("DELETE FROM outbox WHERE id=?", (outgoing_id,))

    # ------------------------------------------------------------ sync token

    async def sync_token(self) -> str | None:
        """The bot's saved sync token. It is sealed: a homeserver's token is a position in its
        event stream, so in clear its successive values in the WAL would date the commits
        between them (issue #23). A token saved by an earlier release is read as it is."""
        value = await self.db.get_meta(SYNC_TOKEN_KEY)
        if value is None or not value.startswith("sealed:"):
            return value
        return self.keyring.unseal("sync-token", bytes.fromhex(value.removeprefix("sealed:")))

    async def save_sync_token(self, token: str) -> None:
        await self.db.set_meta(SYNC_TOKEN_KEY, "sealed:" + self.keyring.seal("sync-token", token).hex())


TOLD_UNTRUSTED_FLAG = "told_untrusted"  # member flag: told once that their device is not cross-signed


async def member_flag(db: Database, member: Member, flag: str) -> int | None:
    """A member's flag, found from the member (``!mydata``); ``None`` if not set."""
    row = await db.fetchone("SELECT value FROM member_flags WHERE member_ref=? AND flag=?",
                            (member.ref("flags"), flag))
    return row[0] if row else None


async def forget_member_flag(db: Database, member: Member, flag: str) -> int:
    """Delete a member's flag (``!forget``): ``member.ref("flags")`` is the reference
    :class:`EventBook` keys member flags by."""
    return await db.execute("DELETE FROM member_flags WHERE member_ref=? AND flag=?", (member.ref("flags"), flag))


async def expire_handled(db: Database, now: float | None = None) -> int:
    """Forget dedup marks older than :data:`EVENT_TTL_SECONDS` (no keyring needed)."""
    return await db.execute("DELETE FROM processed_events WHERE expires_at < ?", (int(now or time.time()),),
                            slow=True)


async def round_at(db: Database, delay: tuple[int, int], now: float | None = None) -> int:
    """The time (unix seconds) of the announcement round news now goes out in: the round already
    planned if it is at least ``delay[0]`` seconds away (news is batched), else a new one drawn
    uniformly from ``now + delay``; 0 with no delay configured (at once). Inside the caller's
    transaction, so the round and what waits for it commit together."""
    low, high = delay
    if high == 0:
        return 0
    now = math.ceil(now if now is not None else time.time())  # never a second early
    planned = await db.get_meta("announce_round")
    if planned is not None and int(planned) >= now + low:
        return int(planned)
    chosen = now + low + secrets.randbelow(high - low + 1)
    await db.set_meta("announce_round", str(chosen))
    return chosen

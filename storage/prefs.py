"""Preferences of members and rooms: the language a member reads and their time zone, the
language and time zone of a room.

A member's row is keyed by their keyed reference under its own purpose (``member:prefs``), the
value sealed with AES-GCM: a language or a time zone can say something about a person (which
members write Spanish, where they live), so it is as private as their other data (``!mydata`` lists it, ``!forget`` deletes it).
A room's row is keyed by the room's keyed reference, its value sealed too. No times, no order:
the tables are ``WITHOUT ROWID`` and keyed by hashes.

Storage seals and unseals: callers pass and get plain values.
"""

from __future__ import annotations

from storage.db import Database, Schema
from storage.hashing import Keyring, Member

MEMBER_PURPOSE = "prefs"  # Member.ref(MEMBER_PURPOSE) == keyring.ref("member:prefs", user ID)
ROOM_PURPOSE = "room-prefs"
LANGUAGE = "lang"
ZONE = "tz"  # an IANA zone name, as zoneinfo spells it

SCHEMA = Schema(
    "prefs",
    [
        """
        CREATE TABLE member_prefs (
            member_ref BLOB NOT NULL,
            name TEXT NOT NULL,
            value_sealed BLOB NOT NULL,
            PRIMARY KEY (member_ref, name)
        ) WITHOUT ROWID;
        CREATE TABLE room_prefs (
            room_ref BLOB NOT NULL,
            name TEXT NOT NULL,
            value_sealed BLOB NOT NULL,
            PRIMARY KEY (room_ref, name)
        ) WITHOUT ROWID;
        """
    ],
)


async def member_pref(db: Database, keyring: Keyring, member: Member, name: str) -> str | None:
    row = await db.fetchone("SELECT value_sealed FROM member_prefs WHERE member_ref=? AND name=?",
                            (member.ref(MEMBER_PURPOSE), name))
    return keyring.unseal("member-prefs", row[0]) if row else None


async def set_member_pref(db: Database, keyring: Keyring, member: Member, name: str, value: str) -> None:
    await db.execute(
        "INSERT INTO member_prefs (member_ref, name, value_sealed) VALUES (?, ?, ?) "
        "ON CONFLICT (member_ref, name) DO UPDATE SET value_sealed=excluded.value_sealed",
        (member.ref(MEMBER_PURPOSE), name, keyring.seal("member-prefs", value)),
    )


async def member_prefs(db: Database, keyring: Keyring, member: Member) -> dict[str, str]:
    rows = await db.fetchall("SELECT name, value_sealed FROM member_prefs WHERE member_ref=?",
                             (member.ref(MEMBER_PURPOSE),))
    return {row[0]: keyring.unseal("member-prefs", row[1]) for row in rows}


async def forget_member(db: Database, member: Member) -> int:
    return await db.execute("DELETE FROM member_prefs WHERE member_ref=?", (member.ref(MEMBER_PURPOSE),))


async def room_pref(db: Database, keyring: Keyring, room_id: str, name: str) -> str | None:
    row = await db.fetchone("SELECT value_sealed FROM room_prefs WHERE room_ref=? AND name=?",
                            (keyring.ref(ROOM_PURPOSE, room_id), name))
    return keyring.unseal(ROOM_PURPOSE, row[0]) if row else None


async def set_room_pref(db: Database, keyring: Keyring, room_id: str, name: str, value: str) -> None:
    await db.execute(
        "INSERT INTO room_prefs (room_ref, name, value_sealed) VALUES (?, ?, ?) "
        "ON CONFLICT (room_ref, name) DO UPDATE SET value_sealed=excluded.value_sealed",
        (keyring.ref(ROOM_PURPOSE, room_id), name, keyring.seal(ROOM_PURPOSE, value)),
    )

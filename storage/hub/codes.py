"""Invite codes (issue 26): a campaign coordinator makes them, a member vouching gets one, anyone
joins with one in a DM.

A code is 16 characters of Crockford base32 (80 random bits), shown as ``XXXX-XXXX-XXXX-XXXX``.
The row keeps only its keyed hash, a short label (from another keyed hash, so the label says
nothing about the code), the uses left and the expiry. A code's row is deleted when its last use
is taken, when it is revoked, and once it expired: nothing records who made or used a code, or
when it was used.

Storage hashes: callers pass and get plain codes.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from storage.db import Database, Schema
from storage.hashing import Keyring

PURPOSE = "hub-code"
LABEL_PURPOSE = "hub-code-label"
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
LENGTH = 16  # 80 bits
LABEL_LENGTH = 4
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})

SCHEMA = Schema(
    "hub_codes",
    [
        """
        CREATE TABLE hub_codes (
            code_ref BLOB PRIMARY KEY,            -- keyring.ref("hub-code", code)
            label TEXT NOT NULL,                  -- from keyring.ref("hub-code-label", code)
            uses_left INTEGER NOT NULL CHECK (uses_left > 0),
            expires_at INTEGER NOT NULL,          -- unix seconds
            vouched INTEGER NOT NULL DEFAULT 0    -- made by a member's !vouch (no link to the member)
        ) WITHOUT ROWID;
        """
    ],
)


@dataclass(frozen=True)
class CodeInfo:
    label: str
    uses_left: int
    expires_at: datetime
    vouched: bool


def normalize(typed: str) -> str:
    """What a member typed, as a code: case, dashes and spaces ignored, O read as 0, I and L as 1."""
    return "".join(typed.upper().split()).replace("-", "").translate(_READ_AS)


def shown(code: str) -> str:
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def looks_like_code(typed: str) -> bool:
    value = normalize(typed)
    return len(value) == LENGTH and all(c in ALPHABET for c in value)


def _label(keyring: Keyring, code: str) -> str:
    digest = keyring.ref(LABEL_PURPOSE, code)
    return "".join(ALPHABET[b % 32] for b in digest[:LABEL_LENGTH])


async def create(db: Database, keyring: Keyring, count: int, uses: int, expires_at: datetime,
                 vouched: bool = False) -> list[str]:
    """``count`` new codes, each good for ``uses`` joins until ``expires_at``; returned as shown."""
    made = []
    for _ in range(count):
        code = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
        await db.execute(
            "INSERT INTO hub_codes (code_ref, label, uses_left, expires_at, vouched) VALUES (?, ?, ?, ?, ?)",
            (keyring.ref(PURPOSE, code), _label(keyring, code), uses, int(expires_at.timestamp()), int(vouched)),
        )
        made.append(shown(code))
    return made


async def redeem(db: Database, keyring: Keyring, typed: str, now: datetime) -> bool:
    """Take one use of the code ``typed``; ``False`` if it is wrong, used up, revoked or expired."""
    if not looks_like_code(typed):
        return False
    ref = keyring.ref(PURPOSE, normalize(typed))
    row = await db.fetchone("SELECT uses_left, expires_at FROM hub_codes WHERE code_ref=?", (ref,))
    if row is None:
        return False
    if int(row[1]) <= now.timestamp():
        await db.execute("DELETE FROM hub_codes WHERE code_ref=?", (ref,))
        return False
    if int(row[0]) <= 1:
        await db.execute("DELETE FROM hub_codes WHERE code_ref=?", (ref,))
    else:
        await db.execute("UPDATE hub_codes SET uses_left = uses_left - 1 WHERE code_ref=?", (ref,))
    return True


async def listing(db: Database, now: datetime) -> list[CodeInfo]:
    """Codes still good, soonest expiry first."""
    await purge(db, now)
    rows = await db.fetchall("SELECT label, uses_left, expires_at, vouched FROM hub_codes ORDER BY expires_at, label")
    return [CodeInfo(r[0], int(r[1]), datetime.fromtimestamp(int(r[2]), UTC), bool(r[3])) for r in rows]


async def revoke(db: Database, keyring: Keyring, typed: str) -> int:
    """Revoke a code, typed in full or by its label (every code with that label); codes revoked."""
    if looks_like_code(typed):
        return await db.execute("DELETE FROM hub_codes WHERE code_ref=?", (keyring.ref(PURPOSE, normalize(typed)),))
    return await db.execute("DELETE FROM hub_codes WHERE label=?", (normalize(typed),))


async def purge(db: Database, now: datetime) -> int:
    """Delete expired codes."""
    return await db.execute("DELETE FROM hub_codes WHERE expires_at <= ?", (int(now.timestamp()),))

"""Keyed references to members, rooms and events, and sealed (encrypted) blobs.

Every identifier the bot must remember is turned into an HMAC-SHA256 under a key derived
from ``BOT_HASH_KEY`` with HKDF, one key per *purpose* (RFC 5869 ``info``). Rows written for
different purposes (two pledges, the dedup table, roll-calls) therefore cannot be joined
without the master key, and a seized database names nobody.

Where the bot must later *reach* something (a DM room for a personal reminder, a room for an
action), the identifier is sealed with AES-256-GCM under a derived key instead.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO_PREFIX = b"organizer-bot/v1/"
MIN_KEY_BYTES = 32


def random_id() -> int:
    """A random positive 62-bit row ID: IDs of member-linked rows follow no order (issue #17)."""
    return int.from_bytes(os.urandom(8), "big") >> 2 or 1


class Keyring:
    """Derives per-purpose keys from the master hash key."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) < MIN_KEY_BYTES:
            raise ValueError(f"hash key must be at least {MIN_KEY_BYTES} bytes")
        self._master = master_key
        self._derive = lru_cache(maxsize=4096)(self._derive_uncached)

    def _derive_uncached(self, purpose: str) -> bytes:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO_PREFIX + purpose.encode())
        return hkdf.derive(self._master)

    def key(self, purpose: str) -> bytes:
        return self._derive(purpose)

    def ref(self, purpose: str, value: str) -> bytes:
        """The keyed reference of ``value`` for ``purpose`` (32 bytes)."""
        return hmac.new(self._derive(purpose), value.encode(), hashlib.sha256).digest()

    def seal(self, purpose: str, plaintext: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + AESGCM(self._derive("seal:" + purpose)).encrypt(nonce, plaintext.encode(), None)

    def unseal(self, purpose: str, blob: bytes) -> str:
        return AESGCM(self._derive("seal:" + purpose)).decrypt(blob[:12], blob[12:], None).decode()

    def fingerprint(self) -> str:
        """A value stored in the database to detect a changed key; reveals nothing about the key."""
        return self.ref("fingerprint", "organizer-bot").hex()[:32]

    def log_tag(self, value: str) -> str:
        """A short keyed tag that tells members apart in memory; not for log lines (stable per
        member, it would link one member's lines across the log)."""
        return self.ref("log", value).hex()[:10]


class Member:
    """The asking member, as the command layer sees them: able to produce keyed references,
    never printed. The raw ID stays inside this object and the bot shell."""

    __slots__ = ("_keyring", "_user_id")

    def __init__(self, keyring: Keyring, user_id: str) -> None:
        self._keyring = keyring
        self._user_id = user_id

    def ref(self, purpose: str) -> bytes:
        return self._keyring.ref("member:" + purpose, self._user_id)

    def reveal(self) -> str:
        """The Matrix ID, for the bot shell only (to address a DM); never stored or logged."""
        return self._user_id

    @property
    def tag(self) -> str:
        """A keyed tag that tells members apart in memory (the throttle); never logged: the same
        member's lines would be linked across a log."""
        return self._keyring.log_tag(self._user_id)

    def __repr__(self) -> str:
        return "<Member>"  # no tag: a log line or traceback that prints a member names no one, stably or not

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Member) and hmac.compare_digest(self.ref("eq"), other.ref("eq"))

    def __hash__(self) -> int:
        return hash(self.ref("eq"))

"""The bot's saved login (user ID, device ID, access token), sealed under ``BOT_STORE_KEY``.

The access token is the bot: whoever holds it can ask the homeserver for the bot's rooms and
their members, which names every member. So a seized disk without the key must not give it:
``session.enc`` is AES-256-GCM under a key derived from ``BOT_STORE_KEY`` (purpose
``session``), written 0600 and atomically. A plaintext ``session.json`` left by an earlier
release is sealed on the first start and then overwritten and deleted.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage import atrest

log = logging.getLogger("organizer_bot")

SESSION_FILE = "session.enc"
LEGACY_FILE = "session.json"  # plaintext, written by releases before this one
_AAD = b"organizer-bot/v1/session"


class SessionUnreadable(Exception):
    """``session.enc`` does not open with this ``BOT_STORE_KEY`` (or was changed). Nothing was changed."""


def exists(data_dir: Path) -> bool:
    return (data_dir / SESSION_FILE).exists() or (data_dir / LEGACY_FILE).exists()


def load(data_dir: Path, store_key: str, *, migrate: bool = True) -> dict[str, str] | None:
    """The saved session, ``None`` if there is none. A plaintext one is sealed first (unless
    ``migrate`` is false: ``doctor`` only reads)."""
    sealed, legacy = data_dir / SESSION_FILE, data_dir / LEGACY_FILE
    if sealed.exists():
        try:
            blob = json.loads(sealed.read_text())
            plain = AESGCM(_key(store_key)).decrypt(base64.b64decode(blob["nonce"]),
                                                    base64.b64decode(blob["ciphertext"]), _AAD)
            session: dict[str, str] = json.loads(plain)
        except InvalidTag:
            raise SessionUnreadable(f"{sealed} does not decrypt with this BOT_STORE_KEY (wrong key, or the file "
                                    "was changed); start with the key it was written with") from None
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise SessionUnreadable(f"{sealed} is damaged ({type(exc).__name__}); delete it and the e2ee/ "
                                    "store, then start with MATRIX_PASSWORD") from None
        if migrate:
            atrest.shred(legacy)  # sealed by a start that stopped before removing it
        return session
    if not legacy.exists():
        return None
    session = json.loads(legacy.read_text())
    if migrate:
        save(data_dir, store_key, session)
        atrest.shred(legacy)
        log.warning("session.json held the bot's access token in plaintext (an earlier release): sealed it "
                    "into %s and overwrote the old file", SESSION_FILE)
    return session


def save(data_dir: Path, store_key: str, session: dict[str, str]) -> None:
    """Seal and write the session (0600, atomically, flushed to disk)."""
    nonce = os.urandom(12)
    ciphertext = AESGCM(_key(store_key)).encrypt(nonce, json.dumps(session).encode(), _AAD)
    text = json.dumps({"v": 1, "nonce": base64.b64encode(nonce).decode(),
                       "ciphertext": base64.b64encode(ciphertext).decode()})
    atrest.write_private(data_dir / SESSION_FILE, text, durable=True)


def _key(store_key: str) -> bytes:
    return atrest.file_key(store_key, atrest.SESSION_PURPOSE)


def describe(data_dir: Path, store_key: str) -> tuple[bool, str]:
    """For ``doctor``: whether the saved login is sealed at rest, and how it stands."""
    if (data_dir / LEGACY_FILE).exists():
        return False, f"PLAINTEXT {LEGACY_FILE} (an earlier release): it holds the bot's access token"
    if not (data_dir / SESSION_FILE).exists():
        return True, "not created yet"
    try:
        load(data_dir, store_key, migrate=False)
    except SessionUnreadable:
        return False, f"{SESSION_FILE} does not open with BOT_STORE_KEY"
    return True, f"sealed ({SESSION_FILE}, AES-256-GCM)"

"""Strict trust of members' devices (``BOT_TRUST=cross-signed``).

``cross_signed_devices`` asks ``/keys/query`` and checks the chain master -> self-signing ->
device itself (Ed25519 over canonical JSON); ``apply_trust`` maps that onto nio's
verified/blacklisted device flags so room keys go to cross-signed devices only;
``is_device_trusted``/``trusted_sender_device`` let the shell ignore messages from other devices.

Its own module because it is a decision about OTHER people's devices, made on every send and
every message, while :mod:`bot.e2ee.crosssign` sets up the bot's own identity once at start; both
use the keys and endpoints of :mod:`bot.e2ee.crosssign_keys`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import nio

from bot.e2ee.crosssign_keys import KeysHttp, cross_signing_key, verify_signature

TRUST_TTL_SECONDS = 60.0
TRUST_MODES = ("tofu", "cross-signed")


def cross_signed_from_query(data: Mapping[str, Any], user_ids: Iterable[str]) -> dict[str, set[str]]:
    """Per user, devices signed by a self-signing key that is itself signed by the user's master key."""
    result: dict[str, set[str]] = {}
    for uid in user_ids:
        devices: set[str] = set()
        master = cross_signing_key(data.get("master_keys", {}).get(uid), uid, "master")
        ssk_obj = data.get("self_signing_keys", {}).get(uid)
        ssk = cross_signing_key(ssk_obj, uid, "self_signing")
        if master and ssk and verify_signature(ssk_obj, uid, master):
            for device_id, device in (data.get("device_keys", {}).get(uid) or {}).items():
                if (isinstance(device, dict) and device.get("user_id") == uid
                        and device.get("device_id") == device_id and verify_signature(device, uid, ssk)):
                    devices.add(device_id)
        result[uid] = devices
    return result


@dataclass
class _Entry:
    devices: set[str]
    # (device_id -> ed25519, curve25519) as signed, so nio's copy can be compared to it
    keys: dict[str, tuple[str, str]]
    at: float


class TrustCache:
    """Cross-signed devices per user, from ``/keys/query``, kept ``ttl`` seconds."""

    def __init__(self, ttl: float = TRUST_TTL_SECONDS) -> None:
        self.ttl = ttl
        self._entries: dict[str, _Entry] = {}

    def invalidate(self, user_ids: Iterable[str] | None = None) -> None:
        if user_ids is None:
            self._entries.clear()
        for uid in user_ids or ():
            self._entries.pop(uid, None)

    async def cross_signed_devices(self, client: nio.AsyncClient, user_ids: Iterable[str]) -> dict[str, set[str]]:
        wanted = sorted(set(user_ids))
        now = time.monotonic()
        stale = [u for u in wanted if u not in self._entries or now - self._entries[u].at > self.ttl]
        if stale:
            data = await KeysHttp(client).keys_query(stale)
            signed = cross_signed_from_query(data, stale)
            for uid in stale:
                keys = {}
                for device_id in signed[uid]:
                    dev_keys = data["device_keys"][uid][device_id].get("keys", {})
                    keys[device_id] = (dev_keys.get(f"ed25519:{device_id}", ""),
                                       dev_keys.get(f"curve25519:{device_id}", ""))
                self._entries[uid] = _Entry(signed[uid], keys, now)
        return {u: set(self._entries[u].devices) for u in wanted}

    def is_device_trusted(self, user_id: str, device_id: str) -> bool:
        entry = self._entries.get(user_id)
        return entry is not None and device_id in entry.devices

    def signed_keys(self, user_id: str, device_id: str) -> tuple[str, str] | None:
        entry = self._entries.get(user_id)
        return entry.keys.get(device_id) if entry else None


_TRUST = TrustCache()


async def cross_signed_devices(client: nio.AsyncClient, user_ids: Iterable[str]) -> dict[str, set[str]]:
    """Per user, the device IDs that are validly cross-signed by their owner (cached briefly)."""
    return await _TRUST.cross_signed_devices(client, user_ids)


def invalidate(user_ids: Iterable[str] | None = None) -> None:
    """Forget cached trust for these users (``device_lists.changed``), or for everyone."""
    _TRUST.invalidate(user_ids)


def is_device_trusted(user_id: str, device_id: str) -> bool:
    """Whether the last query showed this device cross-signed (``False`` if never queried)."""
    return _TRUST.is_device_trusted(user_id, device_id)


@dataclass
class TrustChange:
    """Devices ``apply_trust`` newly verified and newly blacklisted, as (user ID, device ID)."""

    trusted: set[tuple[str, str]] = field(default_factory=set)
    blocked: set[tuple[str, str]] = field(default_factory=set)


async def apply_trust(client: nio.AsyncClient, mode: str, room_user_ids: Iterable[str]) -> TrustChange:
    """Map cross-signing onto nio's device flags (mode ``cross-signed``); ``tofu`` leaves nio as is.

    (Switching back to ``tofu`` does not lift blacklists; a fresh E2EE store does.)

    Cross-signed devices whose keys nio knows exactly as signed become verified; every other device
    of these users is blacklisted, so ``room_send`` gives room keys to cross-signed devices only.
    nio's verify/blacklist calls drop the outbound room key in every room of that user, so a device
    that loses trust does not read the next message and one that gains it gets a new key.

    Call it before each ``room_send`` in strict mode (cheap while the cache is fresh). Devices nio
    learns between this call and ``room_send`` would be shared with if ``ignore_unverified_devices``
    is ``True``; with ``False`` nio raises ``OlmUnverifiedDeviceError`` instead: call again and retry.
    """
    change = TrustChange()
    if mode not in TRUST_MODES:
        raise ValueError(f"unknown trust mode {mode!r}; use one of {', '.join(TRUST_MODES)}")
    if mode != "cross-signed" or client.olm is None:
        return change
    users = sorted(set(room_user_ids))
    signed = await cross_signed_devices(client, users)
    store = client.device_store
    for uid in users:
        if uid not in store.users:
            continue
        for device in list(store.active_user_devices(uid)):
            if uid == client.user_id and device.id == client.device_id:
                continue
            expected = _TRUST.signed_keys(uid, device.id)
            good = device.id in signed[uid] and expected == (device.ed25519, device.curve25519)
            if good:
                if client.olm.is_device_blacklisted(device):
                    client.unblacklist_device(device)
                if not client.olm.is_device_verified(device):
                    client.verify_device(device)
                    change.trusted.add((uid, device.id))
            elif not client.olm.is_device_blacklisted(device):
                if client.olm.is_device_verified(device):
                    client.unverify_device(device)
                client.blacklist_device(device)
                change.blocked.add((uid, device.id))
    return change


def trusted_sender_device(client: nio.AsyncClient, event: nio.Event) -> str | None:
    """The device ID that sent a decrypted Megolm event, if cross-signed and its keys match; else ``None``.

    A decrypted nio event has ``sender`` and ``sender_key`` (the Curve25519 key of the Olm channel the
    room key came through) and ``session_id``. The device is looked up by that Curve25519 key; the
    inbound session must not be forwarded and must carry the same Ed25519 key as the signed device.
    Call ``cross_signed_devices``/``apply_trust`` for the room's members first (cached briefly).
    """
    sender_key = getattr(event, "sender_key", None)
    session_id = getattr(event, "session_id", None)
    room_id = getattr(event, "room_id", None)
    if client.olm is None or not (getattr(event, "decrypted", False) and sender_key and session_id and room_id):
        return None
    device = client.device_store.device_from_sender_key(event.sender, sender_key)
    if device is None or not is_device_trusted(event.sender, device.id):
        return None
    session = client.olm.inbound_group_store.get(room_id, sender_key, session_id)
    if session is None or session.forwarding_chain:
        return None
    if _TRUST.signed_keys(event.sender, device.id) != (session.ed25519, sender_key):
        return None
    return str(device.id)

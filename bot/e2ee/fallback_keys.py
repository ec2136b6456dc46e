"""One-time keys kept topped up, and a fallback key (MSC2732), around nio's vodozemac account.

A member's client needs one of the bot's one-time keys (OTKs) to open an Olm session, and only
through that session can it share the room key that makes its first message readable. matrix-nio
0.26 uploads at most 50 OTKs and never a fallback key, so a burst of new members empties the
server's stock and every later claim returns nothing: those members' messages are lost.

Two nio defects make that worse, both repaired here:

- nio reads the server's OTK count from sync with ``if count:``, so a count of **0** is ignored and
  its last non-zero count stays: after a burst that claims every key within one sync, nio believes
  the stock is full and never uploads again. :meth:`KeyUpkeep.after_sync` sets the real count.
- nio drops ``device_unused_fallback_key_types`` from the sync body. :meth:`KeyUpkeep.watch` reads
  it (and the count) from the parsed body nio already has, without parsing twice.

A fallback key is handed out by the homeserver when the OTKs are gone; it may be used by many
members. It is signed like an OTK plus ``"fallback": true``, uploaded as ``fallback_keys``, and
rotated when the server reports it used and it is a week old (:data:`ROTATE_MIN_SECONDS`, the
age at which Element's crypto, matrix-sdk-crypto, rotates its own). vodozemac keeps the previous
fallback key after a rotation, but not the one before it: a member's message made with a key two
rotations old cannot be read. Rotating once a minute lost members on launch day (N = 1,000: an
overloaded homeserver's syncs of 40-70 s, 100 to-device messages each, brought pre-key messages
to the bot minutes after their key was claimed, by then rotated twice). The private key lives in
the account pickle, saved into nio's store after every change; the time of the last rotation is
kept beside it (:data:`ROTATED_AT_FILE`, a number), so restarts do not rotate it again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from nio import AsyncClient, LocalProtocolError
from nio.api import Api

from storage.atrest import write_private

log = logging.getLogger("organizer_bot.keys")

ALGORITHM = "signed_curve25519"
UPLOAD_PATH = "/_matrix/client/v3/keys/upload"
ROTATE_MIN_SECONDS = 7 * 24 * 3600.0  # two rotations within this time would forget a key a member claimed
ROTATED_AT_FILE = "fallback_rotated_at"  # in the E2EE store's directory: when the key last rotated
CHECK_SECONDS = 5.0  # between syncs (a long batch of commands), how often the OTK stock is checked
BUSY_SECONDS = 120.0  # ... for this long after a sync last showed keys claimed


def signed_key_object(account: Any, user_id: str, device_id: str, key: str, *, fallback: bool) -> dict[str, Any]:
    """The spec's signed Curve25519 key object: ``{"key", ["fallback": true], "signatures"}``,
    signed over its canonical JSON by the device's Ed25519 key (``account`` is nio's OlmAccount)."""
    body: dict[str, Any] = {"key": key}
    if fallback:
        body["fallback"] = True
    signature = account.sign(Api.to_canonical_json(body))
    return body | {"signatures": {user_id: {f"ed25519:{device_id}": signature}}}


def unpublished_fallback(account: Any) -> dict[str, str]:
    """The fallback key generated but not yet marked published, ``{key_id: base64}`` (at most one)."""
    return {key_id: key.to_base64() for key_id, key in account._account.fallback_key.items()}


def fallback_upload_body(account: Any, user_id: str, device_id: str) -> dict[str, Any]:
    """``/keys/upload`` body carrying the account's unpublished fallback key and any unpublished
    one-time keys (a failed upload of nio's), so marking them all published loses none."""
    body: dict[str, Any] = {}
    fallback = {
        f"{ALGORITHM}:{key_id}": signed_key_object(account, user_id, device_id, key, fallback=True)
        for key_id, key in unpublished_fallback(account).items()
    }
    one_time = {
        f"{ALGORITHM}:{key_id}": signed_key_object(account, user_id, device_id, key, fallback=False)
        for key_id, key in account.one_time_keys["curve25519"].items()
    }
    if fallback:
        body["fallback_keys"] = fallback
    if one_time:
        body["one_time_keys"] = one_time
    return body


class KeyUpkeep:
    """Keeps the bot's device claimable: OTKs topped up after every sync, a fallback key present."""

    def __init__(self, client: AsyncClient, clock: Callable[[], float] = time.time,
                 rotated_at_file: Path | None = None) -> None:
        self.client = client
        self.clock = clock
        self.otk_count: int | None = None  # the server's unclaimed OTKs, from the last sync
        self.unused_fallback: list[str] | None = None  # None: the server does not report it
        self._rotated_at_file = rotated_at_file
        self._rotated_at = _read_time(rotated_at_file)
        self._synced_at = clock()
        self._claimed_at: float | None = None  # when a sync last showed keys claimed (a crowd arriving)
        self._lock = asyncio.Lock()  # one upload at a time: nio generates keys from the last count
        self.uploads = 0  # fallback keys uploaded by this process (for tests and logs)

    @classmethod
    def attach(cls, client: AsyncClient) -> KeyUpkeep:
        upkeep = cls(client, rotated_at_file=Path(client.store_path) / ROTATED_AT_FILE)
        upkeep.watch()
        return upkeep

    def watch(self) -> None:
        """Read the two sync fields nio drops from the body nio parses anyway."""
        parse: Callable[[Any], Awaitable[dict[Any, Any]]] = self.client.parse_body

        async def parse_body(transport_response: Any) -> dict[Any, Any]:
            body = await parse(transport_response)
            if isinstance(body, dict) and "next_batch" in body:
                self.observe_sync(body)
            return body

        self.client.parse_body = parse_body  # type: ignore[method-assign]

    def observe_sync(self, body: dict[str, Any]) -> None:
        self._synced_at = self.clock()
        counts = body.get("device_one_time_keys_count")
        if isinstance(counts, dict):  # an algorithm left out has no keys (spec)
            count = counts.get(ALGORITHM, 0)
            self.otk_count = count if isinstance(count, int) else 0
            olm = self.client.olm
            if olm is not None and self.otk_count < olm.account.max_one_time_keys:
                self._claimed_at = self._synced_at
        unused = body.get("device_unused_fallback_key_types")
        if unused is None:
            unused = body.get("org.matrix.msc2732.device_unused_fallback_key_types")
        if isinstance(unused, list):
            self.unused_fallback = [t for t in unused if isinstance(t, str)]

    async def after_sync(self) -> None:
        """Top up OTKs to the account's maximum and keep a fallback key on the server. Failures
        are logged (no identities) and retried after the next sync."""
        olm = self.client.olm
        if olm is None:
            return
        async with self._lock:
            if self.otk_count is not None and olm.account.shared:
                olm.uploaded_key_count = self.otk_count  # nio ignores a count of 0 (see module doc)
            try:
                if self.client.should_upload_keys:
                    await self.client.keys_upload()
                if self._fallback_due():
                    await self.upload_fallback()
            except (TimeoutError, aiohttp.ClientError, LocalProtocolError) as exc:
                log.warning("one-time/fallback key upload failed: %s", type(exc).__name__)

    # the shell runs this as a background service (``run``/``wake``)
    async def run(self) -> None:
        """While the sync loop is busy with a long batch and keys were claimed lately, check the
        OTK stock every few seconds and top it up when it falls below half the maximum: a burst
        keeps claiming meanwhile. An idle bot (its last syncs showed a full stock) asks nothing."""
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            if not self.busy_with_claims():
                continue
            try:
                await self.top_up_if_low()
            except (TimeoutError, aiohttp.ClientError, LocalProtocolError) as exc:
                log.warning("one-time key check failed: %s", type(exc).__name__)

    def wake(self) -> None:
        pass

    def busy_with_claims(self) -> bool:
        now = self.clock()
        return (self.client.olm is not None and now - self._synced_at >= CHECK_SECONDS
                and self._claimed_at is not None and now - self._claimed_at < BUSY_SECONDS)

    async def top_up_if_low(self) -> None:
        """Ask the server for the OTK count (an empty ``/keys/upload``) and top up below half."""
        olm = self.client.olm
        assert olm is not None
        async with self._lock:
            status, data = await self._upload({})
            count = (data.get("one_time_key_counts") or {}).get(ALGORITHM, 0) if status == 200 else None
            if not isinstance(count, int) or count >= olm.account.max_one_time_keys // 2:
                return
            self.otk_count = olm.uploaded_key_count = count
            if self.client.should_upload_keys:
                await self.client.keys_upload()

    async def _upload(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {self.client.access_token}", "Content-Type": "application/json"}
        response = await self.client.send("POST", UPLOAD_PATH, json.dumps(body), headers)
        try:
            data = await response.json(content_type=None)
        except (ValueError, aiohttp.ContentTypeError):
            data = None
        return response.status, data if isinstance(data, dict) else {}

    def _fallback_due(self) -> bool:
        assert self.client.olm is not None
        if unpublished_fallback(self.client.olm.account):
            return True  # generated but not uploaded (a failed upload, or a stop in between)
        if self.unused_fallback is None or ALGORITHM in self.unused_fallback:
            return False
        if self._rotated_at is None:
            return True
        age = self.clock() - self._rotated_at
        return age >= ROTATE_MIN_SECONDS or age < 0  # a clock set back: rotate, then count again

    async def upload_fallback(self) -> bool:
        """Generate a fallback key unless one waits unpublished, upload it, mark it published and
        save the account. Returns whether the server took it."""
        olm = self.client.olm
        assert olm is not None and self.client.user_id and self.client.device_id
        account = olm.account
        if not unpublished_fallback(account):
            account._account.generate_fallback_key()
            olm.save_account()  # the private key is on disk before anyone can claim its public half
        status, data = await self._upload(fallback_upload_body(account, self.client.user_id, self.client.device_id))
        if status != 200:
            log.warning("fallback key upload refused: HTTP %d %s", status, str(data.get("errcode", ""))[:40])
            return False
        account.mark_keys_as_published()  # the body carried every unpublished key
        olm.save_account()
        self._rotated_at = self.clock()
        _write_time(self._rotated_at_file, self._rotated_at)
        self.unused_fallback = [ALGORITHM]
        self.uploads += 1
        count = (data.get("one_time_key_counts") or {}).get(ALGORITHM)
        if isinstance(count, int):
            self.otk_count = olm.uploaded_key_count = count
        log.info("fallback key uploaded")
        return True


def _read_time(path: Path | None) -> float | None:
    try:
        return float(path.read_text()) if path is not None else None
    except (FileNotFoundError, ValueError):
        return None


def _write_time(path: Path | None, when: float) -> None:
    if path is None:
        return
    write_private(path, f"{when:.0f}")

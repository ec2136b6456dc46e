"""Keys a peer published that the bot cannot use, skipped instead of stopping it (issue #23).

Synapse stores any string as a device's one-time or fallback key (and as its device keys), so
any account can publish keys signed by its own device that no Olm session can be built from.
nio 0.26 builds a session from each claimed key without catching vodozemac's ``KeyException``
(``Olm._handle_key_claiming``; its own comment says "this can fail"), and parses every queried
device's Ed25519 key the same way (``Olm.verify_json``). Raised from ``keys_claim`` or
``keys_query``, the exception ended the sync loop (an outsider's garbage Olm message makes the
bot claim its keys: the process exited, and again at every start) or the outbox (a member's
extra device in a campaign room: nothing was sent any more). A fallback key is never used up,
so the poison was permanent.

:class:`PeerKeys` handles those responses for ``bot.runtime.session.BotClient`` the way
matrix-sdk-crypto does (log and skip): a claim's keys one device at a time, a query's devices
one user at a time, an Ed25519 key that does not parse as a failed signature. A device whose
keys fail gets no Olm session, so the room key goes to everyone else
(``share_group_session_parallel`` skips devices without a session); it is not claimed again for
:data:`SKIP_SECONDS` (a claim per send would only fail again), and it is counted and logged
without identities, at most once a minute.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import vodozemac
from nio import KeysClaimResponse, KeysQueryResponse

log = logging.getLogger("organizer_bot")

SKIP_SECONDS = 3600.0  # a device whose keys failed is not claimed again for an hour
LOG_EVERY = 60.0


@dataclass(eq=False)
class PeerKeys:
    clock: Callable[[], float] = time.monotonic
    failures: int = 0  # since start: claimed keys or device keys that could not be used
    _skipped: dict[tuple[str, str], float] = field(default_factory=dict, init=False)  # (user, device) → until
    _unlogged: int = field(default=0, init=False)
    _logged_at: float | None = field(default=None, init=False)

    # ------------------------------------------------------------ nio's responses, guarded

    def claimed(self, olm: Any, response: KeysClaimResponse) -> None:
        """nio's key-claim handling, one device at a time: a device whose key fails is skipped."""
        for user_id, devices in response.one_time_keys.items():
            if not isinstance(devices, dict):
                continue
            for device_id, keys in devices.items():
                single = KeysClaimResponse({user_id: {device_id: keys}}, {}, response.room_id)
                try:
                    olm.handle_response(single)
                except Exception as exc:  # noqa: BLE001 - vodozemac's exceptions are not nio's, and vary
                    self.failed(olm, user_id, device_id, exc)

    def queried(self, handle: Callable[[KeysQueryResponse], None], response: KeysQueryResponse) -> None:
        """nio's key-query handling (``handle``: the client's), one user at a time: a user whose
        device list cannot be read is skipped, the others are updated."""
        for user_id, devices in response.device_keys.items():
            single = KeysQueryResponse({user_id: devices}, {})
            try:
                handle(single)
            except Exception as exc:  # noqa: BLE001 - as above
                self.failed(None, user_id, "", exc)
            response.changed.update(single.changed)

    def guard_signatures(self, olm: Any) -> None:
        """An Ed25519 key that does not parse fails ``verify_json`` like a bad signature (nio
        catches only ``SignatureException``): nio then skips that device, as it skips a forgery."""
        verify = olm.verify_json

        def verify_json(json: Any, user_key: Any, user_id: str, device_id: str) -> bool:
            try:
                return bool(verify(json, user_key, user_id, device_id))
            except (vodozemac.KeyException, ValueError, TypeError) as exc:
                self.failed(None, user_id, device_id, exc)
                return False

        olm.verify_json = verify_json

    # ------------------------------------------------------------ what is skipped

    def failed(self, olm: Any, user_id: str, device_id: str, exc: BaseException) -> None:
        """Count and skip a device whose keys failed; nio is no longer asked to claim for it."""
        self.failures += 1
        self._unlogged += 1
        if device_id:
            self._skipped[(user_id, device_id)] = self.clock() + SKIP_SECONDS
        if olm is not None:
            for pending in (olm.wedged_devices, olm.key_request_devices_no_session):
                for device in [d for d in pending if (d.user_id, d.device_id) == (user_id, device_id)]:
                    pending.remove(device)
        now = self.clock()
        if self._logged_at is None or now - self._logged_at >= LOG_EVERY:
            log.warning("could not start an Olm session with %d device(s): their published keys are unusable "
                        "(last: %s); they get no room keys for an hour (%d since start)",
                        self._unlogged, type(exc).__name__, self.failures)
            self._unlogged, self._logged_at = 0, now

    def skipped(self, user_id: str, device_id: str) -> bool:
        until = self._skipped.get((user_id, device_id))
        if until is None:
            return False
        if self.clock() >= until:
            del self._skipped[(user_id, device_id)]
            return False
        return True

    def without_skipped(self, wanted: dict[str, list[str]]) -> dict[str, list[str]]:
        """A claim's devices (user → device IDs) without those skipped."""
        kept = {user_id: [d for d in devices if not self.skipped(user_id, d)] for user_id, devices in wanted.items()}
        return {user_id: devices for user_id, devices in kept.items() if devices}

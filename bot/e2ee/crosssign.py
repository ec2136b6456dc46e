"""Cross-signing for the bot's own device; the home of the `crosssign.X` names callers use.

Why: since Element's "exclude insecure devices" (MSC4153), Element withholds room keys from devices
their owner has not cross-signed. matrix-nio has no cross-signing, so this module keeps the bot's
master, self-signing and user-signing Ed25519 keys, uploads them and signs the bot's device.

The private keys (:mod:`bot.e2ee.crosssign_keys`, encrypted under the store key) are reused at a
restart; a new device (lost E2EE store, new login) is signed by the same master key, so members
keep seeing the bot they verified.

If the server holds a different master key than ours (someone reset cross-signing with the bot's
password), our device can only be signed by a key we hold, and Synapse refuses any public key it has
seen before (a unique row per key), so ours cannot be restored: the bot makes a NEW identity, logs
the new fingerprint loudly (members must compare it again) and keeps the old file as
``cross_signing.enc.replaced-<time>``. Replacing needs the password (user-interactive auth); without
it ``ensure_cross_signing`` raises ``CrossSigningError`` before anything changes on the server.

This module is the bot's own identity (set up once at start, and ``organizer-bot doctor``).
Strict trust of members' devices is :mod:`bot.e2ee.device_trust`; the keys, signatures and the
homeserver's keys endpoints are :mod:`bot.e2ee.crosssign_keys`. The names callers use as
``crosssign.X`` stay importable from here (``__all__``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nio

from bot.e2ee.crosssign_keys import (
    KEY_FILE,
    CrossSigningError,
    CrossSigningKeys,
    KeysHttp,
    canonical_json,
    cross_signing_key,
    fingerprint,
    load_keys,
    save_keys,
    sign_object,
    signable,
    verify_signature,
)
from bot.e2ee.device_trust import (
    TRUST_MODES,
    TrustCache,
    TrustChange,
    apply_trust,
    cross_signed_devices,
    cross_signed_from_query,
    invalidate,
    is_device_trusted,
    trusted_sender_device,
)

# The names callers use as ``crosssign.X`` (bot/, tests/), wherever they are defined.
__all__ = [
    "KEY_FILE", "TRUST_MODES", "Check", "CrossSigningError", "CrossSigningKeys", "CrossSigningState", "TrustCache",
    "TrustChange", "apply_trust", "canonical_json", "cross_signed_devices", "cross_signed_from_query",
    "cross_signing_key", "doctor_checks", "ensure_cross_signing", "fingerprint", "invalidate", "is_device_trusted",
    "load_keys", "save_keys", "sign_object", "trusted_sender_device", "verify_signature",
]

log = logging.getLogger(__name__)


# ------------------------------------------------------------------ the bot's own cross-signing


@dataclass
class CrossSigningState:
    master_key: str
    fingerprint: str
    device_signed: bool
    actions: list[str] = field(default_factory=list)

    def summary(self) -> str:
        done = ", ".join(self.actions) if self.actions else "nothing to do"
        return f"cross-signing master key {self.fingerprint}; device signed: {self.device_signed}; {done}"


@dataclass
class _ServerView:
    master: str | None
    self_signing: str | None
    self_signing_signed: bool
    device: dict[str, Any] | None
    device_signed_by: set[str]


def _server_view(data: Mapping[str, Any], user_id: str, device_id: str) -> _ServerView:
    master = cross_signing_key(data.get("master_keys", {}).get(user_id), user_id, "master")
    ssk_obj = data.get("self_signing_keys", {}).get(user_id)
    ssk = cross_signing_key(ssk_obj, user_id, "self_signing")
    ssk_ok = bool(master and ssk and verify_signature(ssk_obj, user_id, master))
    device = data.get("device_keys", {}).get(user_id, {}).get(device_id)
    signed_by = set()
    if isinstance(device, dict) and ssk and verify_signature(device, user_id, ssk):
        signed_by.add(ssk)
    return _ServerView(master, ssk, ssk_ok, device if isinstance(device, dict) else None, signed_by)


def _own_identity_keys(client: nio.AsyncClient) -> dict[str, str]:
    if client.olm is None:
        raise CrossSigningError("E2EE is not loaded: log in with encryption enabled and a store before this")
    return dict(client.olm.account.identity_keys)


def _check_device_object(client: nio.AsyncClient, device: Mapping[str, Any] | None) -> str | None:
    """A reason this server copy is not our device's key, or ``None`` if it is ours."""
    if device is None:
        return "the homeserver has no keys for this device (run keys_upload first)"
    ids = _own_identity_keys(client)
    did = client.device_id
    keys = device.get("keys", {})
    if (device.get("user_id"), device.get("device_id")) != (client.user_id, did):
        return "the homeserver's device key names another user or device"
    if keys.get(f"ed25519:{did}") != ids["ed25519"] or keys.get(f"curve25519:{did}") != ids["curve25519"]:
        return "the homeserver's device keys differ from this E2EE store's (store and device ID do not match)"
    if not verify_signature(device, client.user_id, ids["ed25519"], did):
        return "the homeserver's device key is not self-signed by this device"
    return None


async def _upload_cross_signing(http: KeysHttp, client: nio.AsyncClient, keys: CrossSigningKeys,
                                password: str | None) -> str:
    body = keys.upload_body()
    path = "/_matrix/client/v3/keys/device_signing/upload"
    status, data = await http.post(path, body)
    if status == 200:
        return "uploaded cross-signing keys"
    if status != 401 or "flows" not in data:
        raise CrossSigningError(f"cross-signing upload refused: HTTP {status} {data.get('errcode', '')} "
                                f"{data.get('error', '')}".strip())
    allowed = any(flow.get("stages") == ["m.login.password"] for flow in data.get("flows", []))
    if password is None or not allowed:
        why = "no password is configured" if password is None else "the server offers no password login step"
        raise CrossSigningError(
            "the homeserver wants interactive auth to replace the bot's cross-signing keys and "
            f"{why}; set MATRIX_PASSWORD (or MATRIX_PASSWORD_FILE) for one start, or reset the bot's "
            "cross-signing on the server")
    body["auth"] = {"type": "m.login.password", "session": data.get("session"), "password": password,
                    "identifier": {"type": "m.id.user", "user": client.user_id}}
    status, data = await http.post(path, body)
    if status != 200:
        raise CrossSigningError(f"cross-signing upload with password failed: HTTP {status} "
                                f"{data.get('errcode', '')} {data.get('error', '')}".strip())
    return "uploaded cross-signing keys (password auth)"


async def _sign_device(http: KeysHttp, client: nio.AsyncClient, keys: CrossSigningKeys,
                       device: Mapping[str, Any]) -> None:
    signed = signable(device)
    signed["signatures"] = {client.user_id: {f"ed25519:{keys.self_signing_pub}":
                                             sign_object(signed, keys.self_signing)}}
    status, data = await http.post("/_matrix/client/v3/keys/signatures/upload",
                                   {client.user_id: {client.device_id: signed}})
    failures = data.get("failures") or {}
    if status != 200 or failures:
        raise CrossSigningError(f"signing the bot's device failed: HTTP {status} {failures or data}")


async def ensure_cross_signing(client: nio.AsyncClient, data_dir: Path, store_key: str,
                               password: str | None) -> CrossSigningState:
    """Make sure the bot's device is cross-signed by the bot's (stored) identity.

    Call after login, ``load_store`` and ``keys_upload``; safe to call again (it uploads only what
    is missing). Raises ``CrossSigningError`` with a fix in the message.
    """
    if not (client.user_id and client.device_id and client.access_token):
        raise CrossSigningError("log in before setting up cross-signing")
    http = KeysHttp(client)
    path = Path(data_dir) / KEY_FILE
    actions: list[str] = []
    keys = await asyncio.to_thread(load_keys, path, store_key)
    if keys is not None and keys.user_id != client.user_id:
        raise CrossSigningError(f"{path} belongs to another account; move it away to start a new identity")

    view = _server_view(await http.keys_query([client.user_id]), client.user_id, client.device_id)
    problem = _check_device_object(client, view.device)
    if problem:
        raise CrossSigningError(problem)

    replacing = bool(view.master) and (keys is None or view.master != keys.master_pub)
    if replacing and password is None:
        raise CrossSigningError(
            "the homeserver holds a cross-signing identity the bot has no keys for (reset elsewhere, or "
            f"{KEY_FILE} lost); set MATRIX_PASSWORD (or MATRIX_PASSWORD_FILE) for one start so the bot can "
            "replace it with a new identity (members must verify the new fingerprint)")
    backup: Path | None = None
    if keys is not None and view.master and view.master != keys.master_pub:
        # Someone reset the bot's cross-signing (with its password). Synapse never accepts a public key
        # a second time, so ours cannot come back: a new identity, loudly, and the old file is kept.
        backup = path.with_name(f"{KEY_FILE}.replaced-{int(time.time())}")
        os.replace(path, backup)
        log.warning("the homeserver holds a different cross-signing master key (%s) than the bot's stored one "
                    "(%s): someone reset it. The bot makes a NEW identity; members must verify its new "
                    "fingerprint. Old keys kept in %s", fingerprint(view.master), fingerprint(keys.master_pub),
                    backup.name)
        actions.append("replaced a foreign master key")
        keys = None
    created = keys is None
    if keys is None:
        keys = CrossSigningKeys.generate(client.user_id)
        await asyncio.to_thread(save_keys, path, keys, store_key)
        actions.append("created cross-signing keys")
        if view.master:
            log.warning("new cross-signing identity %s replaces the one on the server; members must verify the "
                        "new fingerprint", fingerprint(keys.master_pub))

    server_ok = (view.master == keys.master_pub and view.self_signing == keys.self_signing_pub
                 and view.self_signing_signed)
    if not server_ok:
        try:
            actions.append(await _upload_cross_signing(http, client, keys, password))
        except CrossSigningError:
            if created:  # keys the server never saw are worth nothing: put things back as they were
                path.unlink(missing_ok=True)
                if backup is not None:
                    os.replace(backup, path)
            raise
        view = _server_view(await http.keys_query([client.user_id]), client.user_id, client.device_id)

    if keys.self_signing_pub not in view.device_signed_by:
        assert view.device is not None
        await _sign_device(http, client, keys, view.device)
        actions.append("signed this device")
        view = _server_view(await http.keys_query([client.user_id]), client.user_id, client.device_id)

    signed = keys.self_signing_pub in view.device_signed_by and view.master == keys.master_pub
    if not signed:
        raise CrossSigningError("the homeserver does not show the bot's device as cross-signed after upload")
    state = CrossSigningState(keys.master_pub, fingerprint(keys.master_pub), signed, actions)
    log.info("%s", state.summary())
    return state


# ------------------------------------------------------------------ doctor


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


async def doctor_checks(client: nio.AsyncClient, data_dir: Path, store_key: str) -> list[Check]:
    """Cross-signing health, for ``organizer-bot doctor``; never raises for a failed check."""
    checks: list[Check] = []
    path = Path(data_dir) / KEY_FILE
    keys: CrossSigningKeys | None = None
    try:
        keys = await asyncio.to_thread(load_keys, path, store_key)
        if keys is None:
            checks.append(Check("stored cross-signing keys", False, f"{path} does not exist",
                                "start the bot once with MATRIX_PASSWORD set; it creates and uploads them"))
        else:
            checks.append(Check("stored cross-signing keys", True,
                                f"{path.name} decrypts; master {fingerprint(keys.master_pub)}"))
    except CrossSigningError as exc:
        checks.append(Check("stored cross-signing keys", False, str(exc),
                            "use the BOT_STORE_KEY the keys were made with; if it is lost, move the file away "
                            "and restart with MATRIX_PASSWORD (members must verify the new fingerprint)"))
    try:
        data = await KeysHttp(client).keys_query([client.user_id])
    except CrossSigningError as exc:
        checks.append(Check("homeserver keys", False, str(exc), "check the homeserver URL and access token"))
        return checks
    view = _server_view(data, client.user_id, client.device_id or "")
    problem = _check_device_object(client, view.device) if client.olm else "E2EE store not loaded"
    checks.append(Check("device keys uploaded", problem is None, problem or f"device {client.device_id}",
                        "" if problem is None else
                        "keep the E2EE store with its device ID; with a lost store log in anew (new device)"))
    present = bool(view.master and view.self_signing and view.self_signing_signed)
    checks.append(Check("cross-signing on server", present,
                        "master and self-signing keys, signed" if present else "missing or not signed by master",
                        "" if present else "restart the bot (it uploads them), with MATRIX_PASSWORD if asked"))
    same = keys is not None and view.master == keys.master_pub
    checks.append(Check("server master key is the bot's", same,
                        f"server {fingerprint(view.master) if view.master else 'none'}",
                        "" if same else "restart the bot with MATRIX_PASSWORD: it uploads its stored identity again"))
    signed = bool(view.self_signing and view.device_signed_by)
    checks.append(Check("device signed by self-signing key", signed,
                        "valid signature" if signed else "no valid self-signing signature on this device",
                        "" if signed else "restart the bot; it signs its device at start"))
    return checks

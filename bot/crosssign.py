"""Cross-signing for the bot's own device, and cross-signing-based trust of members' devices.

Why: since Element's "exclude insecure devices" (MSC4153), Element withholds room keys from devices
their owner has not cross-signed. matrix-nio has no cross-signing, so this module keeps the bot's
master, self-signing and user-signing Ed25519 keys, uploads them and signs the bot's device.

The private keys live in ``DATA_DIR/cross_signing.enc``, AES-256-GCM under a key derived with HKDF
from the store key (file mode 0600). A restart reuses them; a new device (lost E2EE store, new
login) is signed by the same master key, so members keep seeing the bot they verified.

If the server holds a different master key than ours (someone reset cross-signing with the bot's
password), our device can only be signed by a key we hold, and Synapse refuses any public key it has
seen before (a unique row per key), so ours cannot be restored: the bot makes a NEW identity, logs
the new fingerprint loudly (members must compare it again) and keeps the old file as
``cross_signing.enc.replaced-<time>``. Replacing needs the password (user-interactive auth); without
it ``ensure_cross_signing`` raises ``CrossSigningError`` before anything changes on the server.

Strict trust (``BOT_TRUST=cross-signed``): ``cross_signed_devices`` asks ``/keys/query`` and checks
the chain master -> self-signing -> device itself (Ed25519 over canonical JSON); ``apply_trust``
maps that onto nio's verified/blacklisted device flags so room keys go to cross-signed devices only;
``is_device_trusted``/``trusted_sender_device`` let the shell ignore messages from other devices.

This module's ``verify_signature`` trusts no signature nio made; the tests check the server's copy
with their own code.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import nio
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

log = logging.getLogger(__name__)

KEY_FILE = "cross_signing.enc"
FILE_VERSION = 1
HKDF_INFO = b"organizer-bot cross-signing keys v1"
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10)
TRUST_TTL_SECONDS = 60.0
TRUST_MODES = ("tofu", "cross-signed")


class CrossSigningError(RuntimeError):
    """Cross-signing could not be set up; the message says what an admin can do."""


# ------------------------------------------------------------------ canonical JSON and keys


def canonical_json(value: Any) -> bytes:
    """The spec's canonical JSON: sorted keys, no whitespace, UTF-8 (no ASCII escaping)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


def unpadded_b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii").rstrip("=")


def b64decode_unpadded(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _signable(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}


def public_b64(key: Ed25519PrivateKey) -> str:
    return unpadded_b64(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def _seed(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def sign_object(obj: Mapping[str, Any], key: Ed25519PrivateKey) -> str:
    """Signature (unpadded base64) over ``obj`` minus ``signatures``/``unsigned``."""
    return unpadded_b64(key.sign(canonical_json(_signable(obj))))


def verify_signature(obj: Mapping[str, Any], user_id: str, public_key_b64: str, key_name: str | None = None) -> bool:
    """Whether ``obj`` carries a valid signature by ``user_id`` with this key.

    The signature is looked up as ``ed25519:<key_name>``: cross-signing keys are named by their
    public key (the default), device keys by their device ID.
    """
    try:
        signature = obj["signatures"][user_id][f"ed25519:{key_name or public_key_b64}"]
        public = Ed25519PublicKey.from_public_bytes(b64decode_unpadded(public_key_b64))
        public.verify(b64decode_unpadded(signature), canonical_json(_signable(obj)))
    except (KeyError, TypeError, ValueError, binascii.Error, InvalidSignature):
        return False
    return True


def fingerprint(master_pub: str) -> str:
    """The master key for humans: groups of four characters, e.g. ``ABCD efgh 1234 …``."""
    return " ".join(master_pub[i : i + 4] for i in range(0, len(master_pub), 4))


def cross_signing_key(obj: Mapping[str, Any] | None, user_id: str, usage: str) -> str | None:
    """The single Ed25519 public key of a cross-signing key object, if well formed."""
    if not isinstance(obj, Mapping) or obj.get("user_id") != user_id or usage not in obj.get("usage", []):
        return None
    keys = obj.get("keys")
    if not isinstance(keys, Mapping) or len(keys) != 1:
        return None
    ((key_id, value),) = keys.items()
    if not isinstance(value, str) or key_id != f"ed25519:{value}":
        return None
    return value


# ------------------------------------------------------------------ the encrypted key file


@dataclass(frozen=True)
class CrossSigningKeys:
    user_id: str
    master: Ed25519PrivateKey
    self_signing: Ed25519PrivateKey
    user_signing: Ed25519PrivateKey

    @classmethod
    def generate(cls, user_id: str) -> CrossSigningKeys:
        return cls(user_id, Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate(),
                   Ed25519PrivateKey.generate())

    @property
    def master_pub(self) -> str:
        return public_b64(self.master)

    @property
    def self_signing_pub(self) -> str:
        return public_b64(self.self_signing)

    @property
    def user_signing_pub(self) -> str:
        return public_b64(self.user_signing)

    def upload_body(self) -> dict[str, Any]:
        """Body of ``/keys/device_signing/upload``: master, and the two sub-keys signed by it."""
        uid = self.user_id
        master = {"user_id": uid, "usage": ["master"], "keys": {f"ed25519:{self.master_pub}": self.master_pub}}
        body: dict[str, Any] = {"master_key": master}
        for name, usage, key in (("self_signing_key", "self_signing", self.self_signing),
                                 ("user_signing_key", "user_signing", self.user_signing)):
            pub = public_b64(key)
            obj: dict[str, Any] = {"user_id": uid, "usage": [usage], "keys": {f"ed25519:{pub}": pub}}
            obj["signatures"] = {uid: {f"ed25519:{self.master_pub}": sign_object(obj, self.master)}}
            body[name] = obj
        return body


def _file_key(store_key: str, salt: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=HKDF_INFO).derive(store_key.encode())


def save_keys(path: Path, keys: CrossSigningKeys, store_key: str) -> None:
    salt, nonce = os.urandom(16), os.urandom(12)
    plain = json.dumps({k: base64.b64encode(_seed(getattr(keys, k))).decode()
                        for k in ("master", "self_signing", "user_signing")}).encode()
    aad = keys.user_id.encode()
    blob = {"v": FILE_VERSION, "user_id": keys.user_id, "salt": base64.b64encode(salt).decode(),
            "nonce": base64.b64encode(nonce).decode(),
            "ciphertext": base64.b64encode(AESGCM(_file_key(store_key, salt)).encrypt(nonce, plain, aad)).decode()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(blob, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def load_keys(path: Path, store_key: str) -> CrossSigningKeys | None:
    """The stored keys, ``None`` if there is no file; ``CrossSigningError`` if it cannot be read."""
    if not path.exists():
        return None
    try:
        blob = json.loads(path.read_text())
        if blob.get("v") != FILE_VERSION:
            raise CrossSigningError(f"{path} has unknown version {blob.get('v')!r}")
        salt = base64.b64decode(blob["salt"])
        plain = AESGCM(_file_key(store_key, salt)).decrypt(
            base64.b64decode(blob["nonce"]), base64.b64decode(blob["ciphertext"]), blob["user_id"].encode())
        seeds = json.loads(plain)
        return CrossSigningKeys(blob["user_id"], *(Ed25519PrivateKey.from_private_bytes(
            base64.b64decode(seeds[k])) for k in ("master", "self_signing", "user_signing")))
    except InvalidTag:
        raise CrossSigningError(
            f"{path} does not decrypt with this BOT_STORE_KEY (wrong key, or the file was changed)") from None
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise CrossSigningError(f"{path} is damaged ({type(exc).__name__})") from None


# ------------------------------------------------------------------ HTTP


@dataclass
class _Http:
    client: nio.AsyncClient

    def _url(self, path: str) -> str:
        return self.client.homeserver.rstrip("/") + path

    async def post(self, path: str, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {self.client.access_token}"}
        try:
            async with aiohttp.ClientSession(timeout=HTTP_TIMEOUT) as session, \
                    session.post(self._url(path), json=body, headers=headers) as response:
                try:
                    data = await response.json(content_type=None)
                except (json.JSONDecodeError, aiohttp.ContentTypeError):
                    data = {}
                return response.status, data if isinstance(data, dict) else {}
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise CrossSigningError(f"homeserver unreachable for {path}: {type(exc).__name__} {exc}") from None

    async def keys_query(self, user_ids: Iterable[str]) -> dict[str, Any]:
        status, data = await self.post("/_matrix/client/v3/keys/query",
                                       {"device_keys": {uid: [] for uid in user_ids}, "timeout": 10000})
        if status != 200:
            raise CrossSigningError(f"/keys/query failed: HTTP {status} {data.get('errcode', '')}")
        return data


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


async def _upload_cross_signing(http: _Http, client: nio.AsyncClient, keys: CrossSigningKeys,
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


async def _sign_device(http: _Http, client: nio.AsyncClient, keys: CrossSigningKeys,
                       device: Mapping[str, Any]) -> None:
    signed = _signable(device)
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
    http = _Http(client)
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
        data = await _Http(client).keys_query([client.user_id])
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


# ------------------------------------------------------------------ strict trust of members' devices


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
            data = await _Http(client).keys_query(stale)
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

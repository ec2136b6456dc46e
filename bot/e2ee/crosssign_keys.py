"""The bot's cross-signing keys and the homeserver's keys endpoints: the layer below both the
bot's own cross-signing (:mod:`bot.e2ee.crosssign`) and the trust of members' devices
(:mod:`bot.e2ee.device_trust`).

Ed25519 signatures over the spec's canonical JSON, the three private keys and their encrypted
file (``DATA_DIR/cross_signing.enc``, AES-256-GCM under a key derived with HKDF from the store
key, mode 0600), and ``/keys/query`` and key uploads over HTTP (matrix-nio has no
cross-signing). ``verify_signature`` trusts no signature nio made; the tests check the server's
copy with their own code.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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

KEY_FILE = "cross_signing.enc"
FILE_VERSION = 1
HKDF_INFO = b"organizer-bot cross-signing keys v1"
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10)


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


def signable(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}


def public_b64(key: Ed25519PrivateKey) -> str:
    return unpadded_b64(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def _seed(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def sign_object(obj: Mapping[str, Any], key: Ed25519PrivateKey) -> str:
    """Signature (unpadded base64) over ``obj`` minus ``signatures``/``unsigned``."""
    return unpadded_b64(key.sign(canonical_json(signable(obj))))


def verify_signature(obj: Mapping[str, Any], user_id: str, public_key_b64: str, key_name: str | None = None) -> bool:
    """Whether ``obj`` carries a valid signature by ``user_id`` with this key.

    The signature is looked up as ``ed25519:<key_name>``: cross-signing keys are named by their
    public key (the default), device keys by their device ID.
    """
    try:
        signature = obj["signatures"][user_id][f"ed25519:{key_name or public_key_b64}"]
        public = Ed25519PublicKey.from_public_bytes(b64decode_unpadded(public_key_b64))
        public.verify(b64decode_unpadded(signature), canonical_json(signable(obj)))
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
class KeysHttp:
    """The two homeserver endpoints both halves need: ``/keys/query`` and uploads (``post``)."""

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

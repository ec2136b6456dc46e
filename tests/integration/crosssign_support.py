"""Helpers shared by the cross-signing integration tests (homeserver, E2EE clients, signature checks).

The signature checks here are deliberately written apart from ``bot.e2ee.crosssign``: the tests must not
trust the module's own verification.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nio import AsyncClient, AsyncClientConfig, LoginResponse

from bot.ops.localserver import LocalSynapse

PASSWORD = "correct horse battery staple"


async def e2ee_login(server: LocalSynapse, user_id: str, store: Path, password: str = PASSWORD) -> AsyncClient:
    """A nio E2EE client, logged in as a new device with a fresh store, its keys uploaded."""
    os.makedirs(store, exist_ok=True)
    config = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True, pickle_key="test pickle key")
    client = AsyncClient(server.url, user_id, store_path=str(store), config=config)
    response = await client.login(password, device_name="test")
    assert isinstance(response, LoginResponse), response
    if client.should_upload_keys:
        await client.keys_upload()
    return client


async def raw_keys_query(client: AsyncClient, user_ids: list[str]) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.post(
        client.homeserver + "/_matrix/client/v3/keys/query",
        json={"device_keys": {u: [] for u in user_ids}},
        headers={"Authorization": f"Bearer {client.access_token}"},
    ) as response:
        assert response.status == 200
        return dict(await response.json())


def _canonical(obj: dict[str, Any]) -> bytes:
    trimmed = {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}
    return json.dumps(trimmed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _b64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def signed_by(obj: dict[str, Any], user_id: str, public_key: str) -> bool:
    """Independent Ed25519 check of ``obj``'s signature by ``ed25519:public_key``."""
    signature = obj.get("signatures", {}).get(user_id, {}).get(f"ed25519:{public_key}")
    if signature is None:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(_b64(public_key)).verify(_b64(signature), _canonical(obj))
    except InvalidSignature:
        return False
    return True


def only_key(obj: dict[str, Any]) -> str:
    (value,) = obj["keys"].values()
    return str(value)

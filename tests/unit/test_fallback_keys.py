"""The key adapter without a homeserver: a signed fallback key, kept across a restart, rotated
when used, and one-time keys topped up even when the server's count drops to zero."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import vodozemac
from nio import AsyncClient, AsyncClientConfig

from bot.e2ee import crosssign
from bot.e2ee.fallback_keys import (
    ALGORITHM,
    ROTATE_MIN_SECONDS,
    ROTATED_AT_FILE,
    KeyUpkeep,
    fallback_upload_body,
)

USER, DEVICE = "@bot:example.org", "BOTDEVICE"


def make_client(store: Path) -> AsyncClient:
    store.mkdir(exist_ok=True)
    config = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False, pickle_key="store key")
    client = AsyncClient("http://localhost:1", USER, store_path=str(store), config=config)
    client.restore_login(USER, DEVICE, "token")
    return client


class FakeResponse:
    def __init__(self, status: int, data: dict[str, Any]) -> None:
        self.status = status
        self._data = data

    async def json(self, content_type: Any = None) -> dict[str, Any]:
        return self._data


class Server:
    """Records ``/keys/upload`` bodies sent through ``client.send`` and answers with a count."""

    def __init__(self, client: AsyncClient, status: int = 200) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.status = status
        self.nio_uploads = 0

        async def send(method: str, path: str, data: str, headers: dict[str, str]) -> FakeResponse:
            assert (method, path) == ("POST", "/_matrix/client/v3/keys/upload")
            assert headers["Authorization"] == "Bearer token"
            self.bodies.append(json.loads(data))
            return FakeResponse(self.status, {"one_time_key_counts": {ALGORITHM: 50}})

        async def keys_upload() -> None:
            self.nio_uploads += 1
            client.olm.account.generate_one_time_keys(1)  # type: ignore[union-attr]
            client.olm.mark_keys_as_published()  # type: ignore[union-attr]

        client.send = send  # type: ignore[method-assign]
        client.keys_upload = keys_upload  # type: ignore[method-assign]


def test_fallback_key_is_signed_by_the_device_key(tmp_path: Path) -> None:
    client = make_client(tmp_path / "store")
    account = client.olm.account  # type: ignore[union-attr]
    account._account.generate_fallback_key()
    body = fallback_upload_body(account, USER, DEVICE)
    [(key_id, obj)] = body["fallback_keys"].items()
    assert key_id.startswith(ALGORITHM + ":") and obj["fallback"] is True
    ed25519 = account.identity_keys["ed25519"]
    assert crosssign.verify_signature(obj, USER, ed25519, key_name=DEVICE)
    assert not crosssign.verify_signature(obj | {"fallback": False}, USER, ed25519, key_name=DEVICE)
    assert not crosssign.verify_signature(obj | {"key": obj["key"][:-2] + "AA"}, USER, ed25519, key_name=DEVICE)


async def test_fallback_key_survives_a_restart_and_opens_a_members_session(tmp_path: Path) -> None:
    client = make_client(tmp_path / "store")
    server = Server(client)
    upkeep = KeyUpkeep(client)
    upkeep.observe_sync({"next_batch": "s1", "device_one_time_keys_count": {ALGORITHM: 50},
                         "device_unused_fallback_key_types": []})
    await upkeep.after_sync()
    [body] = server.bodies
    [obj] = body["fallback_keys"].values()
    assert "one_time_keys" not in body  # nio's own upload published those
    assert upkeep.unused_fallback == [ALGORITHM]
    await client.close()

    # a member claims the fallback key while the bot is down, and writes
    member = vodozemac.Account()
    bot_curve = vodozemac.Curve25519PublicKey.from_base64(client.olm.account.identity_keys["curve25519"])  # type: ignore[union-attr]
    session = member.create_outbound_session(bot_curve, vodozemac.Curve25519PublicKey.from_base64(obj["key"]))
    message = session.encrypt(b"!pledge letter")

    again = make_client(tmp_path / "store")
    _, plaintext = again.olm.account._account.create_inbound_session(member.curve25519_key, message.to_pre_key())  # type: ignore[union-attr]
    assert plaintext == b"!pledge letter"
    await again.close()


async def test_a_used_fallback_key_is_rotated_but_not_twice_within_a_week(tmp_path: Path) -> None:
    client = make_client(tmp_path / "store")
    server = Server(client)
    now = [1000.0]
    upkeep = KeyUpkeep(client, clock=lambda: now[0])
    sync = {"next_batch": "s", "device_one_time_keys_count": {ALGORITHM: 50}}
    upkeep.observe_sync(sync | {"device_unused_fallback_key_types": [ALGORITHM]})
    await upkeep.after_sync()
    assert server.bodies == []  # the server has an unused one
    upkeep.observe_sync(sync | {"device_unused_fallback_key_types": []})
    await upkeep.after_sync()
    assert len(server.bodies) == 1
    upkeep.observe_sync(sync | {"device_unused_fallback_key_types": []})  # used again at once
    now[0] += ROTATE_MIN_SECONDS / 2
    await upkeep.after_sync()
    assert len(server.bodies) == 1
    now[0] += ROTATE_MIN_SECONDS
    upkeep.observe_sync(sync | {"device_unused_fallback_key_types": []})
    await upkeep.after_sync()
    first, second = (next(iter(b["fallback_keys"].values()))["key"] for b in server.bodies)
    assert first != second
    # a server that does not report fallback keys gets none
    upkeep.unused_fallback = None
    upkeep.observe_sync({"next_batch": "s"})
    now[0] += 2 * ROTATE_MIN_SECONDS
    await upkeep.after_sync()
    assert len(server.bodies) == 2
    await client.close()


async def test_a_restart_does_not_rotate_a_key_rotated_lately(tmp_path: Path) -> None:
    """The rotation time is kept beside the key: a bot restarted during a burst keeps the key
    members are still opening sessions with (two rotations would forget it)."""
    client = make_client(tmp_path / "store")
    server = Server(client)
    now = [1_000_000.0]
    state = tmp_path / "store" / ROTATED_AT_FILE
    used = {"next_batch": "s", "device_one_time_keys_count": {ALGORITHM: 50}, "device_unused_fallback_key_types": []}
    upkeep = KeyUpkeep(client, clock=lambda: now[0], rotated_at_file=state)
    upkeep.observe_sync(used)
    await upkeep.after_sync()
    assert len(server.bodies) == 1 and state.read_text() == "1000000"
    restarted = KeyUpkeep(client, clock=lambda: now[0], rotated_at_file=state)
    now[0] += 3600
    restarted.observe_sync(used)
    await restarted.after_sync()
    assert len(server.bodies) == 1  # used by the crowd, but an hour old: kept
    now[0] += ROTATE_MIN_SECONDS
    restarted.observe_sync(used)
    await restarted.after_sync()
    assert len(server.bodies) == 2
    await client.close()


async def test_a_refused_upload_is_retried_with_the_same_key(tmp_path: Path) -> None:
    client = make_client(tmp_path / "store")
    server = Server(client, status=500)
    client.olm.account.shared = True  # type: ignore[union-attr]
    upkeep = KeyUpkeep(client)
    upkeep.observe_sync({"next_batch": "s", "device_one_time_keys_count": {ALGORITHM: 50},
                         "device_unused_fallback_key_types": []})
    await upkeep.after_sync()
    server.status = 200
    await upkeep.after_sync()
    keys = [next(iter(b["fallback_keys"].values()))["key"] for b in server.bodies]
    assert len(keys) == 2 and keys[0] == keys[1]
    await client.close()


async def test_one_time_keys_are_topped_up_when_the_server_count_is_zero(tmp_path: Path) -> None:
    client = make_client(tmp_path / "store")
    server = Server(client)
    olm = client.olm
    assert olm is not None
    olm.account.shared = True
    olm.uploaded_key_count = 50  # what nio believes after a burst emptied the stock in one sync
    upkeep = KeyUpkeep(client)
    upkeep.observe_sync({"next_batch": "s", "device_one_time_keys_count": {},
                         "device_unused_fallback_key_types": [ALGORITHM]})
    assert upkeep.otk_count == 0
    await upkeep.after_sync()
    assert server.nio_uploads == 1
    await client.close()


async def test_watch_reads_the_fields_nio_drops(tmp_path: Path) -> None:
    client = make_client(tmp_path / "store")
    upkeep = KeyUpkeep.attach(client)
    body = {"next_batch": "s", "device_one_time_keys_count": {ALGORITHM: 7},
            "device_unused_fallback_key_types": ["signed_curve25519"]}

    class Transport:
        async def json(self) -> dict[str, Any]:
            return body

    assert await client.parse_body(Transport()) is body  # type: ignore[arg-type]
    assert (upkeep.otk_count, upkeep.unused_fallback) == (7, [ALGORITHM])
    await client.close()


async def test_between_syncs_the_stock_is_checked_only_while_a_crowd_claims(tmp_path: Path) -> None:
    client = make_client(tmp_path / "store")
    server = Server(client)
    olm = client.olm
    assert olm is not None
    olm.account.shared = True
    now = [1000.0]
    upkeep = KeyUpkeep(client, clock=lambda: now[0])
    upkeep.observe_sync({"next_batch": "s", "device_one_time_keys_count": {ALGORITHM: 50}})
    now[0] += 30
    assert not upkeep.busy_with_claims()  # idle: a full stock at the last sync
    upkeep.observe_sync({"next_batch": "s", "device_one_time_keys_count": {ALGORITHM: 31}})
    assert not upkeep.busy_with_claims()  # the sync loop itself keeps up
    now[0] += 6
    assert upkeep.busy_with_claims()  # a long batch since a sync that showed claims
    await upkeep.top_up_if_low()  # the server says 50 (Server): nothing to do
    assert server.bodies == [{}] and server.nio_uploads == 0
    server_count = [3]

    async def send(method: str, path: str, data: str, headers: dict[str, str]) -> FakeResponse:
        return FakeResponse(200, {"one_time_key_counts": {ALGORITHM: server_count[0]}})

    client.send = send  # type: ignore[method-assign]
    await upkeep.top_up_if_low()
    assert server.nio_uploads == 1 and olm.uploaded_key_count == 3
    now[0] += 200
    assert not upkeep.busy_with_claims()
    await client.close()

"""``organizer-bot demo``: the bot against a throwaway Synapse on loopback, and a prompt as a
demo member in an encrypted room with it."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nio import AsyncClient, AsyncClientConfig, MegolmEvent, RoomCreateResponse, RoomMessage, SyncResponse

from bot.ops.localserver import LocalSynapse

DEMO_PASSWORD = "demo-password"


async def run_demo(directory: Path | None, script: str | None) -> int:
    logging.getLogger("nio").setLevel(logging.CRITICAL)  # its warnings would interleave with the prompt
    keep = directory is not None
    root = Path(directory or tempfile.mkdtemp(prefix="organizer-demo-")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    print("Starting a throwaway Synapse homeserver on 127.0.0.1 …", flush=True)
    hs = LocalSynapse(root / "synapse").start()
    bot_process: subprocess.Popen[bytes] | None = None
    client: AsyncClient | None = None
    try:
        bot_id = _register(hs, "organizer-bot")
        member_id = _register(hs, "demo")
        env_file = root / "bot.env"
        if not env_file.exists():
            env_file.write_text(
                f"MATRIX_HOMESERVER={hs.url}\nMATRIX_USER_ID={bot_id}\nMATRIX_PASSWORD={DEMO_PASSWORD}\n"
                f"BOT_DATA_DIR={root / 'bot-data'}\nBOT_HASH_KEY={base64.b64encode(secrets.token_bytes(32)).decode()}\n"
                f"BOT_STORE_KEY={secrets.token_urlsafe(24)}\nBOT_ADMINS={member_id}\nBOT_MIN_CELL=2\n"
                "BOT_TALLY_INTERVAL=0\n"
            )
        log_path = root / "bot.log"
        bot_process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--env-file", str(env_file)],
            stdout=open(log_path, "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115 - owned by the process
        )
        print("Starting the bot …", flush=True)
        health = root / "bot-data" / "health.json"
        started = time.time()
        while not (health.exists() and health.stat().st_mtime >= started - 1):
            if bot_process.poll() is not None:
                print(f"The bot stopped; see {log_path}", file=sys.stderr)
                return 1
            await asyncio.sleep(0.2)

        client = await _member_client(hs, member_id, root / "member-store")
        room_id = await _encrypted_room(client, bot_id)
        print(f"""
Ready. You are {member_id} in an encrypted room with the bot {bot_id}.
Type commands such as !help, !privacy, !contracts Palantir, !pledges (you are the demo's admin).
To use another Matrix client (e.g. Element): homeserver {hs.url}, user "demo", password "{DEMO_PASSWORD}".
Bot log: {log_path}. Type /quit or press Ctrl-D to stop{'' if keep else ' (everything is deleted)'}.
""", flush=True)
        session = _Session(client, bot_id, room_id)
        if script is not None:
            for line in [part.strip() for part in script.split(";") if part.strip()]:
                print(f"> {line}", flush=True)
                await session.ask(line)
            return 0
        while True:
            line = await asyncio.to_thread(_read_line)  # type: ignore[arg-type]
            if line is None or line.strip() in ("/quit", "/exit"):
                return 0
            if line.strip():
                await session.ask(line.strip())
    finally:
        if client is not None:
            await client.close()
        if bot_process is not None and bot_process.poll() is None:
            bot_process.terminate()
            bot_process.wait(15)
        hs.stop()
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def _read_line() -> str | None:  # None at end of input
    try:
        return input("> ")
    except EOFError:
        return None


def _register(hs: LocalSynapse, localpart: str) -> str:
    try:
        return hs.register(localpart, DEMO_PASSWORD)
    except Exception:  # noqa: BLE001 - kept demo directory: the user exists already
        return f"@{localpart}:{hs.server_name}"


async def _member_client(hs: LocalSynapse, user_id: str, store: Path) -> AsyncClient:
    store.mkdir(parents=True, exist_ok=True)
    config = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True)
    client = AsyncClient(hs.url, user_id, store_path=str(store), config=config)
    await client.login(DEMO_PASSWORD, device_name="demo prompt")
    if client.should_upload_keys:
        await client.keys_upload()
    await client.sync(timeout=1000, full_state=True)
    return client


async def _encrypted_room(client: AsyncClient, bot_id: str) -> str:
    response = await client.room_create(
        name="organizer-bot demo", invite=[bot_id],
        initial_state=[{"type": "m.room.encryption", "state_key": "",
                        "content": {"algorithm": "m.megolm.v1.aes-sha2"}}])
    assert isinstance(response, RoomCreateResponse), response
    for _ in range(300):
        await client.sync(timeout=500)
        room = client.rooms.get(response.room_id)
        if room is not None and bot_id in room.users and bot_id not in room.invited_users:
            return str(response.room_id)
    raise RuntimeError("the bot did not join the demo room")


class _Session:
    def __init__(self, client: AsyncClient, bot_id: str, room_id: str) -> None:
        self.client, self.bot_id, self.room_id = client, bot_id, room_id

    async def ask(self, text: str, timeout: float = 20) -> None:
        await self.client.room_send(self.room_id, "m.room.message", {"msgtype": "m.text", "body": text},
                                    ignore_unverified_devices=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = await self.client.sync(timeout=1000)
            if not isinstance(response, SyncResponse):
                continue
            await self._keys()
            for room_id, info in response.rooms.join.items():
                for event in info.timeline.events:
                    if isinstance(event, RoomMessage) and event.sender == self.bot_id:
                        where = "" if room_id == self.room_id else " (in a DM)"
                        body = event.source.get("content", {}).get("body", "")
                        print(f"bot{where}: " + body.replace("\n", "\n     "), flush=True)
                        if room_id == self.room_id:
                            return
                    elif isinstance(event, MegolmEvent) and event.sender == self.bot_id:
                        print("bot: (a message this prompt could not decrypt)", flush=True)
        print("(no answer yet; the bot may still be working: see its log)", flush=True)

    async def _keys(self) -> None:
        client = self.client
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())
        await client.send_to_device_messages()


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(asyncio.run(run_demo(Path(os.environ["DEMO_DIR"]) if "DEMO_DIR" in os.environ else None, None)))

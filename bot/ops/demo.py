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
                "BOT_TALLY_INTERVAL=0\nBOT_AWARD_ALERTS=off\n"
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
        listener = _Listener(client, bot_id, room_id)
        listening = asyncio.create_task(listener.run())
        try:
            if script is not None:
                for line in [part.strip() for part in script.split(";") if part.strip()]:
                    print(f"> {line}", flush=True)
                    await listener.ask(line, wait=True)
                return 0
            print("> ", end="", flush=True)
            while True:
                line = await asyncio.to_thread(_read_line)  # type: ignore[arg-type]
                if line is None or line.strip() in ("/quit", "/exit"):
                    return 0
                if line.strip():
                    await listener.ask(line.strip())
                print("> ", end="", flush=True)
        finally:
            listening.cancel()
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
    line = sys.stdin.readline()
    return line if line else None


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


class _Listener:
    """The member's side of the prompt: one task syncs all the time and prints every message from
    the bot the moment it arrives, in the demo room and in the DMs the bot opens (joined as they
    come), while the member types. Sends and key work share a lock, as nio's key calls must not
    overlap."""

    def __init__(self, client: AsyncClient, bot_id: str, room_id: str) -> None:
        self.client, self.bot_id, self.room_id = client, bot_id, room_id
        self._lock = asyncio.Lock()
        self._arrived = asyncio.Condition()
        self._count = 0

    async def ask(self, text: str, *, wait: bool = False, timeout: float = 20, quiet: float = 1.5) -> None:
        """Send ``text``; with ``wait`` (scripts), return once the bot's answers have stopped
        coming for ``quiet`` seconds (or after ``timeout`` with a note)."""
        before = self._count
        async with self._lock:
            await self.client.room_send(self.room_id, "m.room.message", {"msgtype": "m.text", "body": text},
                                        ignore_unverified_devices=True)
        if not wait:
            return
        deadline = time.monotonic() + timeout
        async with self._arrived:
            while self._count == before:
                left = deadline - time.monotonic()
                if left <= 0 or not await _wait_for(self._arrived, left):
                    print("(no answer yet; the bot may still be working: see its log)", flush=True)
                    return
            while await _wait_for(self._arrived, quiet):
                pass

    async def run(self) -> None:
        while True:
            response = await self.client.sync(timeout=10_000)
            if not isinstance(response, SyncResponse):
                await asyncio.sleep(1)
                continue
            async with self._lock:
                await self._keys()
                for room_id in response.rooms.invite:  # a DM the bot opened (answers sent privately)
                    await self.client.join(room_id)
            for room_id, info in response.rooms.join.items():
                for event in info.timeline.events:
                    if event.sender == self.bot_id and isinstance(event, RoomMessage | MegolmEvent):
                        await self._show(room_id, event)

    async def _show(self, room_id: str, event: RoomMessage | MegolmEvent) -> None:
        where = "" if room_id == self.room_id else " (in a DM)"
        if isinstance(event, MegolmEvent):
            text = "(a message this prompt could not decrypt)"
        else:
            text = str(event.source.get("content", {}).get("body", "")).replace("\n", "\n     ")
        print(f"\rbot{where}: {text}\n> ", end="", flush=True)
        async with self._arrived:
            self._count += 1
            self._arrived.notify_all()

    async def _keys(self) -> None:
        client = self.client
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())
        await client.send_to_device_messages()


async def _wait_for(condition: asyncio.Condition, seconds: float) -> bool:
    """Wait on ``condition`` (held) for at most ``seconds``; whether it was notified."""
    try:
        await asyncio.wait_for(condition.wait(), seconds)
    except TimeoutError:
        return False
    return True


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(asyncio.run(run_demo(Path(os.environ["DEMO_DIR"]) if "DEMO_DIR" in os.environ else None, None)))

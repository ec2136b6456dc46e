"""An Element-stack member with "exclude insecure devices" reaches the bot only once it is cross-signed.

The member is matrix-js-sdk with matrix-sdk-crypto-wasm (Element's crypto) in Node, in
``OnlySignedDevicesIsolationMode`` (MSC4153). The bot is a plain nio echo loop in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from nio import AsyncClient, InviteMemberEvent, MatrixRoom, MegolmEvent, RoomMessageText, UnknownToDeviceEvent

from bot.e2ee.crosssign import ensure_cross_signing
from bot.ops.localserver import LocalSynapse

from .crosssign_support import PASSWORD, e2ee_login

pytestmark = pytest.mark.integration
JS_DIR = Path(__file__).resolve().parents[1] / "js"
STORE_KEY = "a store key of at least sixteen chars"


@pytest.fixture(scope="session")
def element_client_script() -> Path:
    """The Node client, its npm packages installed on first use (``npm ci``, a few seconds)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed for the Element-stack client (tests/js)")
    with open(JS_DIR / ".npm-ci.lock", "w") as lock:  # parallel test workers: one installs
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (JS_DIR / "node_modules" / "matrix-js-sdk").exists():
            done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(JS_DIR)],
                                  capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, f"npm ci failed:\n{done.stderr[-2000:]}"
    return JS_DIR / "element_client.mjs"


@dataclass
class EchoBot:
    """A plain nio bot: joins on invite, answers each text with an encrypted notice."""

    client: AsyncClient
    plaintexts: list[str] = field(default_factory=list)
    undecryptable: list[MegolmEvent] = field(default_factory=list)
    got_undecryptable: asyncio.Event = field(default_factory=asyncio.Event)
    withheld: list[dict] = field(default_factory=list)

    async def on_invite(self, room: MatrixRoom, event: InviteMemberEvent) -> None:
        if event.state_key == self.client.user_id and event.membership == "invite":
            await self.client.join(room.room_id)

    async def on_text(self, room: MatrixRoom, event: RoomMessageText) -> None:
        if event.sender == self.client.user_id:
            return
        self.plaintexts.append(event.body)
        await self.client.room_send(room.room_id, "m.room.message",
                                    {"msgtype": "m.notice", "body": f"echo: {event.body}"},
                                    ignore_unverified_devices=True)

    async def on_undecryptable(self, room: MatrixRoom, event: MegolmEvent) -> None:
        self.undecryptable.append(event)
        self.got_undecryptable.set()

    async def on_to_device(self, event: UnknownToDeviceEvent) -> None:
        if event.type == "m.room_key.withheld":
            self.withheld.append(event.source["content"])


@pytest.fixture
async def echo_bot(synapse: LocalSynapse, tmp_path: Path) -> AsyncIterator[EchoBot]:
    bot_id = synapse.register("echobot", PASSWORD)
    client = await e2ee_login(synapse, bot_id, tmp_path / "bot-store")
    bot = EchoBot(client)
    client.add_event_callback(bot.on_invite, InviteMemberEvent)  # type: ignore[arg-type]
    client.add_event_callback(bot.on_text, RoomMessageText)  # type: ignore[arg-type]
    client.add_event_callback(bot.on_undecryptable, MegolmEvent)  # type: ignore[arg-type]
    client.add_to_device_callback(bot.on_to_device, UnknownToDeviceEvent)  # type: ignore[arg-type]
    await client.sync(timeout=0, full_state=True)
    task = asyncio.create_task(client.sync_forever(timeout=1000))
    try:
        yield bot
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.close()


class ElementMember:
    """One run of tests/js/element_client.mjs, its JSON lines read as they come."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict] = []

    @classmethod
    async def start(cls, script: Path, server: LocalSynapse, user_id: str, bot_id: str, message: str,
                    mode: str = "only-signed", client_seconds: float = 40) -> ElementMember:
        process = await asyncio.create_subprocess_exec(
            "node", str(script), "--hs", server.url, "--user", user_id, "--password", PASSWORD,
            "--bot", bot_id, "--message", message, "--mode", mode, "--timeout", str(client_seconds),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=script.parent)
        return cls(process)

    async def next_event(self, *names: str) -> dict:
        assert self.process.stdout is not None
        while True:
            raw = await self.process.stdout.readline()
            if not raw:
                stderr = await self.process.stderr.read() if self.process.stderr else b""
                raise AssertionError(f"client ended without {names}: {self.lines} {stderr.decode()[-2000:]}")
            if not raw.startswith(b"{"):
                continue
            line = json.loads(raw)
            self.lines.append(line)
            if line["event"] == "error":
                raise AssertionError(f"Element client failed: {line['message']}")
            if line["event"] in names:
                return line

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
        await self.process.wait()


async def test_element_member_reaches_the_bot_only_after_it_is_cross_signed(
    synapse: LocalSynapse, echo_bot: EchoBot, element_client_script: Path, tmp_path: Path
) -> None:
    member_id = synapse.register("elementmember", PASSWORD)
    bot_id = echo_bot.client.user_id

    # 0. Control: without "exclude insecure devices" the un-cross-signed bot answers fine.
    member = await ElementMember.start(element_client_script, synapse, member_id, bot_id, "hello, legacy mode",
                                       mode="all")
    try:
        reply = await asyncio.wait_for(member.next_event("reply"), 40)
        assert reply["body"] == "echo: hello, legacy mode"
    finally:
        await member.stop()

    # 1. "Exclude insecure devices", bot not cross-signed: the member's client withholds the room key.
    member = await ElementMember.start(element_client_script, synapse, member_id, bot_id, "hello before signing")
    try:
        await asyncio.wait_for(member.next_event("sent"), 40)
        await asyncio.wait_for(echo_bot.got_undecryptable.wait(), 15)  # the message did arrive, encrypted
        await asyncio.sleep(3)  # time for a room key, were one to be sent
        assert "hello before signing" not in echo_bot.plaintexts
        assert echo_bot.undecryptable[0].sender == member_id
        assert {w.get("code") for w in echo_bot.withheld} == {"m.unverified"}
        assert all(line["event"] != "reply" for line in member.lines)
    finally:
        await member.stop()

    # 2. Same bot device, now cross-signed: the member's message decrypts and the reply comes back.
    state = await ensure_cross_signing(echo_bot.client, tmp_path / "bot-data", STORE_KEY, password=PASSWORD)
    assert state.device_signed
    member = await ElementMember.start(element_client_script, synapse, member_id, bot_id, "hello after signing")
    try:
        reply = await asyncio.wait_for(member.next_event("reply"), 40)
        assert reply == {"event": "reply", "sender": bot_id, "body": "echo: hello after signing",
                         "msgtype": "m.notice", "encrypted": True}
        assert "hello after signing" in echo_bot.plaintexts
        assert "hello before signing" not in echo_bot.plaintexts
    finally:
        await member.stop()

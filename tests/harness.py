"""Real parts for integration tests: the bot as a subprocess (``organizer-bot run`` with an
env file, as an admin starts it) and members as matrix-nio E2EE clients with their own devices."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    JoinError,
    MegolmEvent,
    RoomCreateResponse,
    RoomMessage,
    RoomSendResponse,
    SyncResponse,
)

from bot.e2ee import saved_session
from bot.ops.localserver import LocalSynapse

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"
HOME_NOTICE = "This is the campaign's home room."
# what the bot posts on its own, never as an answer: reminders, threshold announcements (a close
# announcement is the answer to `!pledge close`),
# award alerts, a broadcast's reports to the home room
NEWS = ("⏰", "📣", "📄", "Broadcast to the DMs of members by code", "Broadcast: some DMs")


def bot_command() -> list[str]:
    """``organizer-bot`` from this environment; ``python -m bot`` (the same entry point) when the
    console script is not installed."""
    script = Path(sys.executable).parent / "organizer-bot"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "bot"]


@dataclass
class BotProcess:
    hs: LocalSynapse
    directory: Path
    user_id: str
    extra_env: dict[str, str] = field(default_factory=dict)
    hash_key: str = field(default_factory=lambda: base64.b64encode(secrets.token_bytes(32)).decode())
    store_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    starts: int = 0
    code_root: Path | None = None  # run another tree's code (an earlier release), not this one's
    organizer: str | None = None  # an admin who keeps the campaign's home room (see TestCampaign)

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def env_file(self) -> Path:
        return self.directory / "bot.env"

    def saved_login(self) -> dict[str, str]:
        """The bot's saved login (user, device, access token), opened with its store key."""
        session = saved_session.load(self.data_dir, self.store_key, migrate=False)
        assert session is not None, "the bot has not logged in yet"
        return session

    @property
    def device_id(self) -> str:
        return self.saved_login()["device_id"]

    def write_env(self) -> None:
        values = {
            "MATRIX_HOMESERVER": self.hs.url,
            "MATRIX_USER_ID": self.user_id,
            "MATRIX_PASSWORD": PASSWORD,
            "BOT_DATA_DIR": str(self.data_dir),
            "BOT_HASH_KEY": self.hash_key,
            "BOT_STORE_KEY": self.store_key,
            "BOT_LOG_LEVEL": "INFO",
            "BOT_TALLY_INTERVAL": "0",
            "BOT_AWARD_ALERTS": "off",  # no look-ups of the real USAspending from tests (test_alerts turns them on)
            # announcements at once, unless a test sets a window (test_pledges checks the delay)
            "BOT_ANNOUNCE_DELAY_MIN": "0",
            "BOT_ANNOUNCE_DELAY_MAX": "0",
        }
        values.update(self.extra_env)
        if self.organizer is not None:
            admins = [a for a in values.get("BOT_ADMINS", "").split(",") if a.strip()]
            values["BOT_ADMINS"] = ",".join([self.organizer, *admins])
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))

    def start(self, wait: bool = True, timeout: float = 60) -> BotProcess:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.write_env()
        self.starts += 1
        self.log_path = self.directory / f"bot-{self.starts}.log"
        health = self.data_dir / "health.json"
        before = health.stat().st_mtime if health.exists() else 0.0
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MATRIX_", "BOT_"))}
        env["PYTHONPATH"] = str(self.code_root or ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        command = [sys.executable, "-m", "bot"] if self.code_root else bot_command()
        self.process = subprocess.Popen(
            [*command, "run", "--env-file", str(self.env_file)],
            stdout=open(self.log_path, "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
            cwd=self.directory, env=env, start_new_session=True,
        )
        if wait:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"bot exited with {self.process.returncode}:\n{self.log()}")
                if health.exists() and health.stat().st_mtime > before:
                    return self
                time.sleep(0.05)
            raise RuntimeError("bot did not complete its first sync:\n" + self.log())
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def log(self) -> str:
        logs = sorted(self.directory.glob("bot-*.log"))
        return "".join(p.read_text(errors="replace") for p in logs)

    def open_db(self, path: Path | None = None, **kwargs: Any) -> Any:
        """A connection to bot.db (or a backup of it), keyed as the bot keys it (SQLCipher)."""
        from storage import atrest

        key = atrest.file_key(self.store_key, atrest.DB_PURPOSE)
        return atrest.connect(path or self.data_dir / "bot.db", key, **kwargs)

    def run_cli(self, *args: str, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run another ``organizer-bot`` subcommand with this bot's env file."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MATRIX_", "BOT_"))}
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        self.write_env()
        return subprocess.run([*bot_command(), *args], cwd=self.directory, env=env, capture_output=True,
                              text=True, input=input_text, timeout=120)


@dataclass
class Received:
    room_id: str
    event_id: str
    sender: str
    content: dict[str, Any]
    ts: int = 0  # the homeserver's origin_server_ts (ms)

    @property
    def body(self) -> str:
        return str(self.content.get("body", ""))

    @property
    def html(self) -> str:
        return str(self.content.get("formatted_body", ""))

    @property
    def relates_to(self) -> dict[str, Any]:
        return dict(self.content.get("m.relates_to") or {})


class Member:
    """A test member: a real matrix-nio E2EE client with its own device and store."""

    def __init__(self, client: AsyncClient, bot_id: str) -> None:
        self.campaign: TestCampaign | None = None  # set when enrolled in the bot's campaign
        self.client = client
        self.bot_id = bot_id
        self.received: list[Received] = []
        self.undecryptable = 0
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._first_sync = asyncio.Event()

    @property
    def user_id(self) -> str:
        return str(self.client.user_id)

    @classmethod
    async def create(cls, hs: LocalSynapse, localpart: str, directory: Path, bot_id: str) -> Member:
        user_id = f"@{localpart}:{hs.server_name}"
        try:
            hs.register(localpart, PASSWORD)
        except Exception:  # noqa: BLE001 - already registered in this homeserver
            pass
        store = directory / f"member-{localpart}-{secrets.token_hex(3)}"
        store.mkdir(parents=True)
        config = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True, max_limit_exceeded=None)
        client = AsyncClient(hs.url, user_id, store_path=str(store), config=config)
        response = await client.login(PASSWORD, device_name=f"test-{localpart}")
        assert client.access_token, response
        if client.should_upload_keys:
            await client.keys_upload()
        member = cls(client, bot_id)
        member._task = asyncio.create_task(member._sync_loop())
        await asyncio.wait_for(member._first_sync.wait(), 30)
        return member

    async def _sync_loop(self) -> None:
        client = self.client
        while True:
            try:
                response = await client.sync(timeout=1000, full_state=not self._first_sync.is_set())
            except Exception:  # noqa: BLE001 - the homeserver may be stopped by a test
                await asyncio.sleep(0.5)
                continue
            if isinstance(response, SyncResponse):
                for room_id, info in response.rooms.join.items():
                    for event in info.timeline.events:
                        if isinstance(event, MegolmEvent):
                            self.undecryptable += 1
                        elif isinstance(event, RoomMessage) and event.sender != client.user_id:
                            self.received.append(Received(room_id, event.event_id, event.sender,
                                                          event.source.get("content", {}),
                                                          int(event.server_timestamp)))
                for room_id in response.rooms.invite:
                    await self._accept(room_id)
                try:
                    if client.should_upload_keys:
                        await client.keys_upload()
                    if client.should_query_keys:
                        await client.keys_query()
                    if client.should_claim_keys:
                        await client.keys_claim(client.get_users_for_key_claiming())
                    await client.send_to_device_messages()
                except Exception:  # noqa: BLE001
                    pass
                self._first_sync.set()
                async with self._changed:
                    self._changed.notify_all()
            else:
                await asyncio.sleep(0.2)

    async def _accept(self, room_id: str) -> None:
        """Join a room we are invited to. Over federation our server may show the invite before
        the inviting server has stored it, which then refuses the join for a moment: try again."""
        for _ in range(20):
            if not isinstance(await self.client.join(room_id), JoinError):
                return
            await asyncio.sleep(0.25)

    async def wait_for(self, predicate: Any, timeout: float = 45.0) -> Any:
        """Wait until ``predicate()`` returns something truthy; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            found = predicate()
            if found:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("condition not met in time")
            async with self._changed:
                try:
                    await asyncio.wait_for(self._changed.wait(), min(remaining, 1.0))
                except TimeoutError:
                    pass

    async def create_room(self, *, encrypted: bool = True, invite_bot: bool = True, name: str = "test room",
                          invite: tuple[str, ...] = (), power: dict[str, int] | None = None,
                          room_version: str | None = None) -> str:
        """``power`` sets users' power levels. In room version 12 (Synapse's default, MSC4289) the
        creator's power is implicit and must not be listed; in older versions it is listed at 100."""
        initial_state = []
        if encrypted:
            initial_state.append({"type": "m.room.encryption", "state_key": "",
                                  "content": {"algorithm": "m.megolm.v1.aes-sha2"}})
        invitees = ([self.bot_id] if invite_bot else []) + list(invite)
        if invite_bot and self.campaign is not None:
            await self.campaign.promote(self)  # only a campaign coordinator's invite is joined
        power_override = None
        if power:
            users = {u: level for u, level in power.items() if u != self.user_id}
            if room_version is not None and room_version in {str(v) for v in range(1, 12)}:
                users[self.user_id] = 100
            power_override = {"users": users}
        response = await self.client.room_create(name=name, invite=invitees, initial_state=initial_state,
                                                 power_level_override=power_override, room_version=room_version)
        assert isinstance(response, RoomCreateResponse), response
        room_id = response.room_id
        for user in invitees:
            await self.wait_joined(room_id, user)
        return room_id

    async def create_dm(self) -> str:
        if self.campaign is not None:
            await self.campaign.ready()  # the bot answers members of campaign rooms only
        response = await self.client.room_create(
            is_direct=True, invite=[self.bot_id],
            initial_state=[{"type": "m.room.encryption", "state_key": "",
                            "content": {"algorithm": "m.megolm.v1.aes-sha2"}}])
        assert isinstance(response, RoomCreateResponse), response
        await self.wait_joined(response.room_id, self.bot_id)
        return response.room_id

    async def wait_joined(self, room_id: str, user_id: str, timeout: float = 30) -> None:
        def joined() -> bool:
            room = self.client.rooms.get(room_id)
            return room is not None and user_id in room.users and user_id not in room.invited_users

        await self.wait_for(joined, timeout)

    async def join(self, room_id: str) -> None:
        await self.client.join(room_id)
        await self.wait_joined(room_id, self.user_id)

    async def send(self, room_id: str, text: str, *, content: dict[str, Any] | None = None) -> str:
        body = content if content is not None else {"msgtype": "m.text", "body": text}
        response = await self.client.room_send(room_id, "m.room.message", body, ignore_unverified_devices=True)
        assert isinstance(response, RoomSendResponse), response
        return str(response.event_id)

    def from_bot(self, room_id: str | None = None) -> list[Received]:
        return [r for r in self.received if r.sender == self.bot_id and (room_id is None or r.room_id == room_id)]

    async def ask(self, room_id: str, text: str, timeout: float = 45, **kwargs: Any) -> Received:
        """Send a command and return the bot's next message in that room that answers it: a reply
        to this event, or a message without a reply relation (private acknowledgements). Replies
        to other members' commands that arrive meanwhile are skipped, and so is news (:data:`NEWS`:
        reminders, announcements, award alerts, a broadcast's reports), which carries no reply
        relation either and may land in between."""
        seen = len(self.from_bot(room_id))
        sent = await self.send(room_id, text, **kwargs)

        def answer() -> Received | None:
            for message in self.from_bot(room_id)[seen:]:
                target = (message.relates_to.get("m.in_reply_to") or {}).get("event_id")
                if message.body.startswith(HOME_NOTICE):
                    continue  # said when the room became the campaign's home room: answers no command
                if message.body.startswith(NEWS):
                    continue  # a reminder, announcement, alert or broadcast report that came meanwhile
                if message.content.get("msgtype") == "m.image" and target is None:
                    continue  # a chart that came with an announcement
                if target is None or target == sent:
                    return message
            return None

        found: Received = await self.wait_for(answer, timeout)
        return found

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.client.close()


def scan_for_secrets(paths: list[Path], needles: list[str]) -> list[str]:
    """Files (or texts) under ``paths`` that contain any needle, bytewise, case-insensitive."""
    hits = []
    lowered = [n.lower().encode() for n in needles if n]
    for path in paths:
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        for file in files:
            data = file.read_bytes().lower()
            for needle in lowered:
                if needle in data:
                    hits.append(f"{file}: {needle.decode()}")
    return hits


def peek(bot: BotProcess, sql: str) -> int:
    """One count from the bot's (encrypted) database, read-only while the bot may be writing; -1
    if unreadable at the moment."""
    from storage import atrest

    try:
        conn = bot.open_db(Path(f"file:{bot.data_dir / 'bot.db'}?mode=ro"), uri=True, timeout=5)
        try:
            return int(conn.execute(sql).fetchone()[0])
        finally:
            conn.close()
    except (sqlite3.Error, atrest.sqlcipher.Error, atrest.WrongKeyError):
        return -1


def handled_so_far(bot: BotProcess) -> int:
    """Commands the bot has committed."""
    return peek(bot, "SELECT count(*) FROM processed_events")


def outbox_waiting(bot: BotProcess) -> int:
    """Messages the bot has queued and not yet sent."""
    return peek(bot, "SELECT count(*) FROM outbox")


async def gather_limited(coros: list[Any], limit: int = 10) -> list[Any]:
    """``asyncio.gather`` with at most ``limit`` running at once."""
    gate = asyncio.Semaphore(limit)

    async def run(coro: Any) -> Any:
        async with gate:
            return await coro

    return await asyncio.gather(*(run(c) for c in coros))


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, default=str)


class TestCampaign:
    """The campaign the existing tests assume (issue #16): an admin ("organizer", in BOT_ADMINS)
    keeps a home room the bot joined; every enrolled member joins it with power 0, so they are
    members of the campaign; a member who invites the bot into a room of theirs is first given
    coordinator power in the home room, as a real campaign's coordinator would hold it. Tests of
    outsiders create members with ``enroll=False``."""

    __test__ = False  # not a pytest class

    def __init__(self, organizer: Member, home: str, bot_id: str) -> None:
        self.organizer = organizer
        self.home = home
        self.bot_id = bot_id
        self.promoted: set[str] = set()

    @classmethod
    async def create(cls, organizer: Member, bot_id: str) -> TestCampaign:
        response = await organizer.client.room_create(
            name="campaign home", invite=[bot_id],
            initial_state=[{"type": "m.room.encryption", "state_key": "",
                            "content": {"algorithm": "m.megolm.v1.aes-sha2"}}])
        assert isinstance(response, RoomCreateResponse), response
        return cls(organizer, response.room_id, bot_id)

    async def enroll(self, member: Member) -> None:
        await self.organizer.client.room_invite(self.home, member.user_id)
        await self.organizer.wait_joined(self.home, member.user_id)
        member.campaign = self

    async def ready(self, timeout: float = 60) -> None:
        await self.organizer.wait_joined(self.home, self.bot_id, timeout)

    async def set_power(self, user_id: str, level: int) -> None:
        state = await self.organizer.client.room_get_state_event(self.home, "m.room.power_levels")
        content = dict(getattr(state, "content", {}) or {})
        content["users"] = {**(content.get("users") or {}), user_id: level}
        response = await self.organizer.client.room_put_state(self.home, "m.room.power_levels", content)
        assert not hasattr(response, "status_code") or response.status_code is None, response

    async def promote(self, member: Member) -> None:
        if member.user_id not in self.promoted:
            await self.set_power(member.user_id, 100)
            self.promoted.add(member.user_id)
        await self.ready()

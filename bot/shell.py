"""The Matrix shell: the only code that talks to the homeserver.

It logs in (once; the session is reused), keeps the E2EE store, syncs, turns each decrypted
command into a :class:`commands.base.Context`, runs the handler inside one database
transaction together with the dedup mark and the queued replies, and sends the outbox.

Exactly-once, across crashes: our own sync token is saved only after a batch is handled;
an event is handled at most once (keyed hash of its ID in ``processed_events``, written in
the same transaction as the command's effects and replies); replies are sent from a
persistent outbox with a fixed transaction ID, so a resend after a crash is de-duplicated by
the homeserver.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    ForwardedRoomKeyEvent,
    JoinError,
    LocalProtocolError,
    LoginError,
    MatrixRoom,
    MegolmEvent,
    OlmUnverifiedDeviceError,
    RoomCreateError,
    RoomCreateEvent,
    RoomKeyEvent,
    RoomMessage,
    RoomMessagesResponse,
    RoomSendError,
    SyncError,
    SyncResponse,
)
from nio.api import MessageDirection, RoomPreset

from bot import burst, crosssign
from bot.config import Settings
from bot.ratelimit import RateLimits
from commands import base
from commands.base import (
    Announce,
    Args,
    Broadcast,
    CommandError,
    Context,
    DirectMessage,
    Env,
    Output,
    Post,
    RedactCommand,
    Reply,
    Role,
    RoomFacts,
    RoomView,
    UsageError,
    Wake,
)
from storage import core
from storage.db import Database
from storage.hashing import Keyring, Member

log = logging.getLogger("organizer_bot")

FAILED_TEXT = "Something went wrong; nothing was changed."
ENCRYPTION_ONLY_TEXT = (
    "I only work in end-to-end-encrypted rooms, so I won't run commands here. "
    "Enable encryption in the room settings (it cannot be turned off again) or message me in an encrypted DM."
)
EDIT_TEXT = "I don't run edited commands. Send the corrected command as a new message."
THROTTLE_TEXT = "You're sending commands faster than I take them; I'll ignore yours for a minute."
UNTRUSTED_TEXT = (
    "I ignored a command from one of your sessions because it is not verified (cross-signed) by you, and this "
    "bot only talks to verified sessions. In Element: Settings → Sessions → select the session → Verify, "
    "then send the command again."
)
PENDING_UNDECRYPTED_MAX = 500
CREATOR_POWER = 1_000_000  # above any configurable coordinator level
BACKFILL_PAGES = 10  # up to 1000 missed events per room after a gap (restart, outage)
SENT_BEFORE_SYNC = 1.0  # seconds the next sync waits for this batch's replies to go out (see _until_sent)
# Synapse returns at most 10 timeline events per room in an incremental sync without a filter and
# marks the rest as a gap ("limited"); a larger limit makes gaps rare, and _backfill fetches the rest.
SYNC_TIMELINE_LIMIT = 500
SYNC_FILTER = {"room": {"timeline": {"limit": SYNC_TIMELINE_LIMIT}}}


class LoginFailed(Exception):
    pass


class StoreUnreadable(Exception):
    pass


def write_private(path: Path, text: str) -> None:
    """Write a file only the bot's user can read (0600), atomically."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


class MatrixShell:
    def __init__(self, settings: Settings, db: Database, keyring: Keyring) -> None:
        self.settings = settings
        self.db = db
        self.keyring = keyring
        self.client: AsyncClient | None = None
        self._outbox_kick = asyncio.Event()
        self._outbox_idle = asyncio.Event()  # set while the outbox is sent and nothing new was queued
        self._stopping = asyncio.Event()
        self._undecrypted: deque[tuple[str, MegolmEvent, float]] = deque(maxlen=PENDING_UNDECRYPTED_MAX)
        self._services: dict[str, Any] = {}
        self._throttle: dict[str, deque[float]] = {}
        self._throttle_noticed: dict[str, float] = {}
        self._online: bool | None = None
        self._in_flight = 0
        self._dm_refs: set[bytes] = set()
        self._creators: dict[str, set[str]] = {}  # room ID → creators (implicit top power from v12)
        self.rate_limited = 0  # 429 answers seen (nio waits and retries each)
        self.limits = RateLimits()  # hook(#15-launch): 429s counted, one log line a minute, in the health file
        self.master_fingerprint: str | None = None
        self.ready = asyncio.Event()  # set after the first successful sync

    # ------------------------------------------------------------ Shell protocol for handlers

    def rooms(self) -> list[RoomView]:
        assert self.client is not None
        return [self._view(room) for room in self.client.rooms.values()]

    def can_redact(self, room_id: str) -> bool:
        assert self.client is not None
        room = self.client.rooms.get(room_id)
        if room is None:
            return False
        levels = room.power_levels
        return bool(levels.can_user_redact(self.client.user_id))

    def master_key_fingerprint(self) -> str | None:
        return self.master_fingerprint

    def dm_room_of(self, member: Member) -> str | None:
        assert self.client is not None
        user_id = member.reveal()
        for room in self.client.rooms.values():
            if room.encrypted and self._is_dm(room) and user_id in room.users:
                return str(room.room_id)
        return None

    def room_facts(self, room_id: str) -> RoomFacts | None:
        assert self.client is not None
        room = self.client.rooms.get(room_id)
        if room is None:
            return None
        servers: dict[str, int] = {}
        for user_id in room.users:
            server = user_id.split(":", 1)[1]
            servers[server] = servers.get(server, 0) + 1
        powers = {
            room.user_name(user_id) or user_id: min(level, 100)  # v12 creators shown as 100
            for user_id in room.users
            if (level := self._power_level(room, user_id)) >= 50 and user_id != self.client.user_id
        }
        return RoomFacts(room.room_id, room.display_name, bool(room.encrypted), room.join_rule,
                         room.history_visibility, room.guest_access, servers, powers,
                         self.can_redact(room_id))

    def _view(self, room: MatrixRoom) -> RoomView:
        return RoomView(room.room_id, room.display_name, self._is_dm(room), bool(room.encrypted))

    def _is_dm(self, room: MatrixRoom) -> bool:
        """A direct chat: invited with ``is_direct`` (or opened by us as one), with one member besides us."""
        if len(room.users) + len(room.invited_users) > 2:
            return False
        return self.keyring.ref("room", room.room_id) in self._dm_refs

    async def _mark_dm(self, room_id: str) -> None:
        async with self.db.transaction():
            await core.set_flag(self.db, self.keyring, room_id, "dm")
        self._dm_refs.add(self.keyring.ref("room", room_id))

    # ------------------------------------------------------------ login and session

    @property
    def session_path(self) -> Path:
        return self.settings.BOT_DATA_DIR / "session.json"

    async def login(self) -> AsyncClient:
        """Restore the saved session or log in once and save it (mode 0600)."""
        s = self.settings
        s.BOT_DATA_DIR.mkdir(parents=True, exist_ok=True)
        s.store_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(s.BOT_DATA_DIR, 0o700)
        config = AsyncClientConfig(
            encryption_enabled=True,
            store_sync_tokens=False,  # our own token, saved after handling (see module doc)
            pickle_key=s.store_key,
            max_limit_exceeded=None,
            max_timeouts=2,
        )
        client = AsyncClient(s.MATRIX_HOMESERVER, s.MATRIX_USER_ID, store_path=str(s.store_dir), config=config)
        session = self._saved_session()
        if session is None and s.MATRIX_ACCESS_TOKEN is not None and s.MATRIX_DEVICE_ID:
            session = {"user_id": s.MATRIX_USER_ID, "device_id": s.MATRIX_DEVICE_ID,
                       "access_token": s.MATRIX_ACCESS_TOKEN.get_secret_value()}
            self._save_session(session)
        if session is not None:
            try:
                client.restore_login(session["user_id"], session["device_id"], session["access_token"])
            except Exception as exc:  # noqa: BLE001 - nio raises pickle/db errors of several types
                await client.close()
                raise StoreUnreadable(
                    f"BOT_STORE_KEY does not open the E2EE store in {s.store_dir} ({type(exc).__name__}); "
                    "start with the key it was created with. Nothing was changed."
                ) from None
        else:
            if s.MATRIX_PASSWORD is None:
                raise LoginFailed("no saved session and no MATRIX_PASSWORD to log in with")
            response = await client.login(s.MATRIX_PASSWORD.get_secret_value(), device_name="organizer-bot")
            if isinstance(response, LoginError):
                await client.close()
                raise LoginFailed(f"login refused by the homeserver: {response.message}")
            self._save_session({"user_id": response.user_id, "device_id": response.device_id,
                                "access_token": response.access_token})
        self.client = client
        self._dm_refs = await core.rooms_with_flag(self.db, "dm")
        client.add_response_callback(self._on_error_response, ErrorResponse)  # type: ignore[arg-type]
        if client.should_upload_keys:
            await client.keys_upload()
        return client

    async def ensure_cross_signing(self) -> None:
        """Cross-sign our device (Element's "exclude insecure devices" ignores unsigned ones)."""
        assert self.client is not None
        password = self.settings.MATRIX_PASSWORD.get_secret_value() if self.settings.MATRIX_PASSWORD else None
        try:
            state = await crosssign.ensure_cross_signing(
                self.client, self.settings.BOT_DATA_DIR, self.settings.store_key, password)
        except crosssign.CrossSigningError as exc:
            log.error("cross-signing not set up: %s (run `organizer-bot doctor`)", exc)
            return
        self.master_fingerprint = state.fingerprint
        log.info("cross-signing master key fingerprint: %s", state.fingerprint)

    async def _on_error_response(self, response: ErrorResponse) -> None:
        """nio retries a 429 after ``retry_after_ms`` (``max_limit_exceeded=None``); say so in the
        log (no content), so an operator sees why a broadcast takes a while."""
        if response.status_code == "M_LIMIT_EXCEEDED":
            self.rate_limited += 1
            self.limits.record(response.retry_after_ms)  # hook(#15-launch): was one log line per 429

    def _saved_session(self) -> dict[str, str] | None:
        if not self.session_path.exists():
            return None
        data: dict[str, str] = json.loads(self.session_path.read_text())
        return data

    def _save_session(self, session: dict[str, str]) -> None:
        write_private(self.session_path, json.dumps(session))

    # ------------------------------------------------------------ main loop

    def add_service(self, name: str, service: Any) -> None:
        """A background service with ``async run()`` and ``wake()``; ``Wake(name)`` outputs reach it."""
        self._services[name] = service

    async def run(self) -> None:
        client = self.client or await self.login()
        self._outbox_kick.set()  # send what a previous run left queued (e.g. a stop mid-delivery)
        sender = asyncio.create_task(self._send_loop(), name="outbox")
        services = [asyncio.create_task(svc.run(), name=name) for name, svc in self._services.items()]
        try:
            await self._sync_loop(client)
        finally:
            self._outbox_kick.set()
            for task in services:
                task.cancel()
            await asyncio.gather(*services, return_exceptions=True)
            if self.ready.is_set():
                await self._drain_outbox(timeout=3)
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
            await client.close()

    def stop(self) -> None:
        self._stopping.set()

    async def _sync_loop(self, client: AsyncClient) -> None:
        token = await self.db.get_meta("sync_token")
        first = True
        backoff = 1.0
        while not self._stopping.is_set():
            sync = asyncio.create_task(
                client.sync(timeout=5000 if first else 25000, since=token, full_state=first,
                            sync_filter=SYNC_FILTER)
            )
            stopper = asyncio.create_task(self._stopping.wait())
            await asyncio.wait({sync, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if not sync.done():
                sync.cancel()
                await asyncio.gather(sync, return_exceptions=True)
                break
            try:
                response = sync.result()
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                response = SyncError(type(exc).__name__)
            if not isinstance(response, SyncResponse):
                self._set_online(False, getattr(response, "message", "sync failed"))
                await self._sleep(backoff)
                backoff = min(backoff * 2, 15.0)
                continue
            backoff = 1.0
            self._set_online(True)
            await self._handle_sync(client, response, token)
            await asyncio.sleep(0)  # the outbox starts sending this batch's answers before the housekeeping
            token = response.next_batch
            async with self.db.transaction():  # never inside another task's open transaction
                await self.db.set_meta("sync_token", token)
            self._write_health()
            await self._maintain_keys(client)
            first = False
            self.ready.set()
            await self._until_sent(SENT_BEFORE_SYNC)

    async def _until_sent(self, limit: float) -> None:
        """Wait, at most ``limit`` seconds, until the replies queued so far are sent. Like a bot that
        answers inline, the next sync then starts after the answers: under load, the commands that
        arrive meanwhile come in one sync instead of one sync each."""
        if self._outbox_kick.is_set():
            self._outbox_idle.clear()  # queued, and the sender has not woken yet
        if self._outbox_idle.is_set() or self._stopping.is_set():
            return
        waits = {asyncio.create_task(self._outbox_idle.wait()), asyncio.create_task(self._stopping.wait())}
        await asyncio.wait(waits, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
        for task in waits:
            task.cancel()

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass

    def _set_online(self, online: bool, why: str = "") -> None:
        if online != self._online:
            if online:
                log.info("connected to the homeserver")
            else:
                log.warning("homeserver unreachable (%s); retrying with backoff", why[:80])
            self._online = online

    def _write_health(self) -> None:
        self.limits.flush()  # hook(#15-launch): the minute's count of 429s, then its health fields
        write_private(self.settings.BOT_DATA_DIR / "health.json",
                      json.dumps({"last_sync": time.time(), **self.limits.health()}))

    async def _maintain_keys(self, client: AsyncClient) -> None:
        try:
            if client.should_upload_keys:
                await client.keys_upload()
            if client.should_query_keys:
                await client.keys_query()
            if client.should_claim_keys:
                await client.keys_claim(client.get_users_for_key_claiming())
            await client.send_to_device_messages()
        except (TimeoutError, aiohttp.ClientError, LocalProtocolError) as exc:
            log.warning("key maintenance failed: %s", type(exc).__name__)

    # ------------------------------------------------------------ incoming

    async def _handle_sync(self, client: AsyncClient, response: SyncResponse, since: str | None = None) -> None:
        if response.device_list.changed:
            crosssign.invalidate(response.device_list.changed)
        # hook(#15-launch): a crowd's invites are joined a few at a time, not one after another
        await burst.each_bounded(self._handle_invite(client, room_id, info.invite_state)
                                 for room_id, info in response.rooms.invite.items())
        keys_arrived = any(isinstance(e, RoomKeyEvent | ForwardedRoomKeyEvent) for e in response.to_device_events)
        if keys_arrived and self._undecrypted:
            await self._retry_undecrypted(client)
        for room_id, info in response.rooms.join.items():
            room = client.rooms.get(room_id)
            if room is None:
                continue
            for event in [*info.state, *info.timeline.events]:
                if isinstance(event, RoomCreateEvent):
                    extra = event.source.get("content", {}).get("additional_creators") or []
                    self._creators[room_id] = {event.sender, *[u for u in extra if isinstance(u, str)]}
            events = list(info.timeline.events)
            # hook(#15-launch): "sent before the bot was in the room" counts from its invite, not its join
            await burst.start_at_invite(self.db, self.keyring, room_id, [*info.state, *events], client.user_id)
            # hook(#15-launch): a new room's timeline is "limited" though it starts at the room's creation
            if info.timeline.limited and since is not None and not burst.reaches_room_start(events):
                # more happened since our last sync than one sync returns (after a restart or an
                # outage): fetch the gap, or those commands would never be answered
                events = await self._backfill(client, room_id, info.timeline.prev_batch, since) + events
            for event in events:
                await self._handle_event(client, room, event)

    async def _backfill(self, client: AsyncClient, room_id: str, start: str, since: str) -> list[Any]:
        """The events a limited sync left out, between ``since`` and ``start``, oldest first
        (decrypted by nio). Already-handled commands are skipped later by the dedup table."""
        missed: list[Any] = []
        token = start
        for _ in range(BACKFILL_PAGES):
            try:
                page = await client.room_messages(room_id, start=token, end=since,
                                                  direction=MessageDirection.back, limit=100)
            except (TimeoutError, aiohttp.ClientError) as exc:
                log.warning("could not fetch missed messages: %s", type(exc).__name__)
                break
            if not isinstance(page, RoomMessagesResponse):
                log.warning("could not fetch missed messages: %s", getattr(page, "status_code", "error"))
                break
            missed.extend(page.chunk)
            if not page.chunk or not page.end or page.end == token:
                break
            token = page.end
        missed.reverse()
        return missed

    async def _handle_invite(self, client: AsyncClient, room_id: str, state: list[Any]) -> None:
        invite = next(
            (e for e in state if getattr(e, "membership", None) == "invite"
             and getattr(e, "state_key", None) == client.user_id),
            None,
        )
        inviter = invite.sender if invite is not None else None
        is_direct = bool(invite is not None and (getattr(invite, "content", None) or {}).get("is_direct"))
        server = inviter.split(":", 1)[1] if inviter and ":" in inviter else ""
        if server not in self.settings.allowed_servers:
            log.info("rejected an invite from a server that is not allowed")
            await client.room_leave(room_id)
            return
        # taken before joining: anything the homeserver stamped earlier was sent before we were in
        joined_at = int(time.time() * 1000) - 1000
        result = await client.join(room_id)
        if isinstance(result, JoinError):
            log.warning("could not join a room: %s", result.message)
            return
        async with self.db.transaction():
            await core.set_flag(self.db, self.keyring, room_id, "joined_at", joined_at)
        if is_direct:
            await self._mark_dm(room_id)
        log.info("joined a room")

    async def _retry_undecrypted(self, client: AsyncClient) -> None:
        pending, self._undecrypted = list(self._undecrypted), deque(maxlen=PENDING_UNDECRYPTED_MAX)
        cutoff = time.time() - 3600
        for room_id, event, seen in pending:
            room = client.rooms.get(room_id)
            if room is None or seen < cutoff:
                continue
            try:
                decrypted = client.decrypt_event(event)
            except Exception:  # noqa: BLE001 - still no key: keep waiting
                self._undecrypted.append((room_id, event, seen))
                continue
            await self._handle_event(client, room, decrypted)

    async def _handle_event(self, client: AsyncClient, room: MatrixRoom, event: Any) -> None:
        if getattr(event, "sender", None) == client.user_id:
            return
        if isinstance(event, MegolmEvent):
            self._undecrypted.append((room.room_id, event, time.time()))
            try:
                await client.request_room_key(event)
            except LocalProtocolError:
                pass  # already requested
            except (TimeoutError, aiohttp.ClientError):
                log.warning("room key request failed")
            return
        if not isinstance(event, RoomMessage):
            return
        content = event.source.get("content", {})
        if not isinstance(content, dict) or content.get("msgtype") == "m.notice":
            return
        body = content.get("body")
        if not isinstance(body, str):
            return
        relation = content.get("m.relates_to") or {}
        is_edit = isinstance(relation, dict) and relation.get("rel_type") == "m.replace"
        if is_edit:
            new = content.get("m.new_content") or {}
            body = new.get("body", "") if isinstance(new, dict) else ""
        parsed = base.parse(body, self.settings.BOT_COMMAND_PREFIX)
        if parsed is None:
            return
        joined_at = await core.get_flag(self.db, self.keyring, room.room_id, "joined_at")
        if joined_at is not None and event.server_timestamp < joined_at:
            return  # sent before the bot was in the room
        if self.settings.BOT_TRUST == "cross-signed" and not await self._from_trusted_device(client, event):
            return
        await self._run_command(room, event, parsed, relation if isinstance(relation, dict) else {}, is_edit)

    async def _from_trusted_device(self, client: AsyncClient, event: Any) -> bool:
        """Strict mode: only commands from devices their owner cross-signed run; the member
        is told once, in a DM, why and how to verify."""
        if getattr(event, "decrypted", False):
            await crosssign.cross_signed_devices(client, [event.sender])
            if crosssign.trusted_sender_device(client, event) is not None:
                return True
        async with self.db.transaction():
            if await core.set_flag(self.db, self.keyring, "member:" + event.sender, "told_untrusted"):
                txn = self.keyring.ref("txn", "untrusted:" + event.event_id).hex()[:24]
                await core.enqueue(self.db, self.keyring, f"ut{txn}", "", {
                    "kind": "dm", "user": event.sender, "any_device": True,
                    "content": _content(UNTRUSTED_TEXT, "m.notice", None)})
            await core.mark_handled(self.db, self.keyring, event.event_id)
        self._outbox_kick.set()
        log.info("ignored a command from an unverified device of member %s", Member(self.keyring, event.sender).tag)
        return False

    def _role(self, room: MatrixRoom, user_id: str) -> Role:
        if user_id in self.settings.BOT_ADMINS:
            return Role.ADMIN
        if self._is_dm(room):
            return Role.MEMBER  # a DM's creator holds power 100 there; that makes nobody a coordinator
        if self._power_level(room, user_id) >= self.settings.BOT_COORDINATOR_POWER_LEVEL:
            return Role.COORDINATOR
        return Role.MEMBER

    def _power_level(self, room: MatrixRoom, user_id: str) -> int:
        """Power level, counting room creators as all-powerful in room versions 12+ (MSC4289:
        not listed in the power levels), which nio 0.26 does not know."""
        legacy = room.room_version in {str(v) for v in range(1, 12)}
        if not legacy and user_id in self._creators.get(room.room_id, ()):
            return CREATOR_POWER
        return int(room.power_levels.get_user_level(user_id))

    def _throttled(self, tag: str, now: float) -> tuple[bool, bool]:
        """(drop this command, send the one notice now) for a member over the rate."""
        window = self._throttle.setdefault(tag, deque())
        while window and window[0] < now - 60:
            window.popleft()
        if len(window) < self.settings.BOT_MEMBER_RATE:
            window.append(now)
            return False, False
        first_notice = self._throttle_noticed.get(tag, 0) < now - 60
        if first_notice:
            self._throttle_noticed[tag] = now
        return True, first_notice

    async def _run_command(
        self, room: MatrixRoom, event: Any, parsed: base.Parsed, relation: dict[str, Any], is_edit: bool
    ) -> None:
        assert self.client is not None
        event_id: str = event.event_id
        if await core.already_handled(self.db, self.keyring, event_id):
            return
        member = Member(self.keyring, event.sender)
        view = self._view(room)
        thread_root = relation.get("event_id") if relation.get("rel_type") == "m.thread" else None
        reply_to = _ReplyTarget(event_id, thread_root)
        outputs: list[Output]
        handler_error = False
        now = time.time()
        drop, notice = self._throttled(member.tag, now)
        self._in_flight += 1
        try:
            async with self.db.transaction():
                if await core.already_handled(self.db, self.keyring, event_id):
                    return
                if drop:
                    outputs = [Reply(THROTTLE_TEXT)] if notice else []
                elif is_edit:
                    outputs = [Reply(EDIT_TEXT)]
                elif self.settings.BOT_REQUIRE_ENCRYPTION and not room.encrypted:
                    first = await core.set_flag(self.db, self.keyring, room.room_id, "told_unencrypted")
                    outputs = [Reply(ENCRYPTION_ONLY_TEXT)] if first else []
                elif parsed.error is not None or parsed.command is None:
                    outputs = [Reply(parsed.error or FAILED_TEXT)]
                else:
                    ctx = Context(
                        db=self.db, keyring=self.keyring, settings=self.settings, member=member,
                        role=self._role(room, event.sender), room=view, now=datetime.now(UTC), shell=self,
                        event_id=event_id, prefix=self.settings.BOT_COMMAND_PREFIX,
                    )
                    try:
                        outputs = await self._call(parsed.command, ctx, parsed.args)
                    except _HandlerFailed:
                        handler_error = True
                        raise
                await self._enqueue(outputs, room.room_id, event_id, reply_to, event.sender)
                await core.mark_handled(self.db, self.keyring, event_id)
        except _HandlerFailed:
            pass
        finally:
            self._in_flight -= 1
        if handler_error:
            async with self.db.transaction():
                await self._enqueue([Reply(FAILED_TEXT)], room.room_id, event_id, reply_to, event.sender)
                await core.mark_handled(self.db, self.keyring, event_id)
        self._outbox_kick.set()

    async def _call(self, command: base.Command, ctx: Context, args: Args) -> list[Output]:
        try:
            ctx.require(command.role)
            return await command.handler(ctx, args)
        except UsageError as exc:
            return [Reply(f"{exc}\nUsage: `{ctx.prefix}{command.usage}`")]
        except CommandError as exc:
            return [Reply(str(exc))]
        except Exception as exc:  # noqa: BLE001 - never let a handler kill the bot
            log.error("command %s failed: %s", command.name, type(exc).__name__)
            raise _HandlerFailed from exc

    # ------------------------------------------------------------ outputs → outbox

    async def enqueue_outputs(self, outputs: list[Output], txn_base: str) -> None:
        """For background services: queue outputs that have no command to reply to."""
        await self._enqueue(outputs, None, txn_base, None, None)

    def kick_outbox(self) -> None:
        """Call after the transaction that queued messages has committed."""
        self._outbox_kick.set()

    async def _enqueue(
        self,
        outputs: list[Output],
        room_id: str | None,
        txn_base: str,
        reply_to: _ReplyTarget | None,
        sender: str | None,
    ) -> None:
        txn_prefix = self.keyring.ref("txn", txn_base).hex()[:24]
        for index, output in enumerate(outputs):
            txn = f"ob{txn_prefix}.{index}"
            if isinstance(output, Reply):
                if room_id is None:
                    continue
                relation = None if output.private or reply_to is None else reply_to.relation()
                await core.enqueue(self.db, self.keyring, txn, room_id,
                                   {"kind": "send", "content": _content(output.text, "m.notice", relation)})
            elif isinstance(output, Post):
                await core.enqueue(self.db, self.keyring, txn, output.room_id,
                                   {"kind": "send", "content": _content(output.text, output.msgtype, None)})
            elif isinstance(output, DirectMessage):
                if sender is not None:
                    await core.enqueue(self.db, self.keyring, txn, room_id or "",
                                       {"kind": "dm", "user": sender,
                                        "content": _content(output.text, "m.notice", None)})
            elif isinstance(output, Announce):
                targets = list(dict.fromkeys(
                    [r for r in output.room_ids if self._joined(r)]
                    + ([v.room_id for v in self.rooms() if v.is_dm and v.encrypted] if output.all_dms else [])
                ))
                for offset, target in enumerate(targets):
                    await core.enqueue(self.db, self.keyring, f"{txn}.{offset}", target,
                                       {"kind": "send", "content": _content(output.text, "m.notice", None)})
            elif isinstance(output, Broadcast):
                await core.enqueue(self.db, self.keyring, txn, room_id or "",
                                   {"kind": "broadcast", "rooms": list(output.room_ids),
                                    "content": _content(output.text, output.msgtype, None)})
            elif isinstance(output, RedactCommand):
                if room_id is None or reply_to is None:
                    continue
                if self.can_redact(room_id):
                    await core.enqueue(self.db, self.keyring, txn, room_id,
                                       {"kind": "redact", "event_id": reply_to.event_id})
                elif await core.set_flag(self.db, self.keyring, room_id, "told_no_redact"):
                    await core.enqueue(self.db, self.keyring, txn, room_id, {"kind": "send", "content": _content(
                        "Coordinators: I can't remove members' pledge and roll-call messages here. "
                        "Give me moderator power (power level 50) so I can redact them after recording.",
                        "m.notice", None)})
            elif isinstance(output, Wake):
                service = self._services.get(output.service)
                if service is not None:
                    service.wake()

    def _joined(self, room_id: str) -> bool:
        return self.client is not None and room_id in self.client.rooms

    # ------------------------------------------------------------ sending

    async def _send_loop(self) -> None:
        # the rooms are known only after the first sync (our own token: nio keeps none); sending
        # earlier would drop what a killed run left queued as "for a room the bot is not in"
        await self.ready.wait()
        while True:
            await self._outbox_kick.wait()
            self._outbox_kick.clear()
            self._outbox_idle.clear()
            await self._drain_outbox()
            if not self._outbox_kick.is_set():
                self._outbox_idle.set()

    async def _drain_outbox(self, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            async with self.db.transaction():  # never read another task's uncommitted rows
                batch = await core.pending(self.db, self.keyring)
            if not batch:
                return
            for item in batch:
                if deadline is not None and time.monotonic() > deadline:
                    return
                delivered = await self._deliver(item)
                if not delivered:
                    await self._sleep(2)  # homeserver trouble: keep the row, retry later
                    if self._stopping.is_set():
                        return
                    self._outbox_kick.set()
                    return
                async with self.db.transaction():
                    await core.done(self.db, item.id)

    async def _deliver(self, item: core.Outgoing) -> bool:
        """Perform one outbox item. ``False`` means retry later; permanent failures are
        logged and dropped."""
        assert self.client is not None
        payload = item.payload
        try:
            if payload["kind"] == "send":
                return await self._send(item.room_id, payload["content"], item.txn_id) is not None
            if payload["kind"] == "redact":
                result = await self.client.room_redact(item.room_id, payload["event_id"], tx_id=item.txn_id)
                if isinstance(result, ErrorResponse):
                    log.warning("redaction refused: %s", result.status_code)
                return True
            if payload["kind"] == "dm":
                dm_room = await self.dm_room(payload["user"])
                if dm_room is None:
                    return True
                return await self._send(dm_room, payload["content"], item.txn_id,
                                        any_device=bool(payload.get("any_device"))) is not None
            if payload["kind"] == "broadcast":
                return await self._deliver_broadcast(item)
        except (TimeoutError, aiohttp.ClientError, OSError):
            return False
        log.error("unknown outbox item kind dropped")
        return True

    async def _send(self, room_id: str, content: dict[str, Any], txn_id: str, any_device: bool = False) -> str | None:
        """Send one message; returns the event ID, ``""`` for a permanent failure (logged),
        or raises for transport trouble so the caller retries.

        ``any_device`` (strict trust mode only): share this one message's room key with every device in
        the room, then rotate the key; used for the notice that tells an unverified session to verify."""
        assert self.client is not None
        if room_id not in self.client.rooms:
            log.warning("dropped a message for a room the bot is not in")
            return ""
        strict = self.settings.BOT_TRUST == "cross-signed"
        if strict and any_device:
            self._trust_everyone_once(room_id)
            strict = False
        try:
            for attempt in range(3):
                if strict:
                    await crosssign.apply_trust(self.client, "cross-signed", self.client.rooms[room_id].users)
                try:
                    result = await self.client.room_send(
                        room_id, "m.room.message", content, tx_id=txn_id, ignore_unverified_devices=not strict
                    )
                    break
                except OlmUnverifiedDeviceError:
                    if attempt == 2:
                        raise
                    crosssign.invalidate()  # a device appeared since the last check
        except LocalProtocolError as exc:
            log.warning("send failed: %s", type(exc).__name__)
            return ""
        if any_device and self.settings.BOT_TRUST == "cross-signed":
            self.client.invalidate_outbound_session(room_id)
            crosssign.invalidate()  # the next send re-applies strict trust to these devices
        if isinstance(result, RoomSendError):
            if result.status_code in ("M_FORBIDDEN", "M_NOT_FOUND", "M_TOO_LARGE", "M_BAD_JSON"):
                log.warning("send refused: %s", result.status_code)
                return ""
            raise aiohttp.ClientError(result.status_code or "send error")
        return str(result.event_id)

    def _trust_everyone_once(self, room_id: str) -> None:
        assert self.client is not None and self.client.olm is not None
        self.client.invalidate_outbound_session(room_id)
        for user_id in self.client.rooms[room_id].users:
            for device in self.client.device_store.active_user_devices(user_id):
                if self.client.olm.is_device_blacklisted(device):
                    self.client.unblacklist_device(device)

    async def _deliver_broadcast(self, item: core.Outgoing) -> bool:
        assert self.client is not None
        failed: list[str] = []
        for index, room_id in enumerate(item.payload["rooms"]):
            event_id = await self._send(room_id, item.payload["content"], f"{item.txn_id}.{index}")
            if not event_id:
                room = self.client.rooms.get(room_id)
                failed.append(room.display_name if room else "a room I left")
        total = len(item.payload["rooms"])
        text = f"Broadcast delivered to {total - len(failed)} of {total} rooms."
        if failed:
            text += " Failed: " + ", ".join(failed[:20]) + "."
        if item.room_id:
            await self._send(item.room_id, _content(text, "m.notice", None), f"{item.txn_id}.report")
        return True

    async def dm_room(self, user_id: str) -> str | None:
        """The encrypted DM with ``user_id``, created (and the member invited) if none exists."""
        assert self.client is not None
        for room in self.client.rooms.values():
            if room.encrypted and self._is_dm(room) and (user_id in room.users or user_id in room.invited_users):
                return room.room_id
        result = await self.client.room_create(
            is_direct=True, invite=[user_id], preset=RoomPreset.trusted_private_chat,
            initial_state=[{"type": "m.room.encryption", "state_key": "",
                            "content": {"algorithm": "m.megolm.v1.aes-sha2"}}],
        )
        if isinstance(result, RoomCreateError):
            log.warning("could not open a DM: %s", result.status_code)
            return None
        await self._mark_dm(result.room_id)
        # wait for the room to sync and the member to join: room keys are shared with joined members
        for _ in range(200):
            room = self.client.rooms.get(result.room_id)
            if room is not None and room.encrypted and user_id in room.users:
                return str(result.room_id)
            await asyncio.sleep(0.1)
        room = self.client.rooms.get(result.room_id)
        return str(result.room_id) if room is not None and room.encrypted else None

    # ------------------------------------------------------------ services

    def env(self) -> Env:
        return Env(db=self.db, keyring=self.keyring, settings=self.settings, now=datetime.now(UTC), shell=self)

    @property
    def in_flight(self) -> int:
        return self._in_flight


class _HandlerFailed(Exception):
    pass


class _ReplyTarget:
    def __init__(self, event_id: str, thread_root: str | None) -> None:
        self.event_id = event_id
        self.thread_root = thread_root

    def relation(self) -> dict[str, Any]:
        if self.thread_root:
            return {"rel_type": "m.thread", "event_id": self.thread_root, "is_falling_back": True,
                    "m.in_reply_to": {"event_id": self.event_id}}
        return {"m.in_reply_to": {"event_id": self.event_id}}


def _content(text: str, msgtype: str, relation: dict[str, Any] | None) -> dict[str, Any]:
    plain, formatted = base.render(text)
    content: dict[str, Any] = {"msgtype": msgtype, "body": plain, "format": "org.matrix.custom.html",
                               "formatted_body": formatted}
    if relation:
        content["m.relates_to"] = relation
    return content

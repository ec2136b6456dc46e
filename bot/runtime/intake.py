"""Event intake: from a synced timeline event to a handled command.

Filters (our own messages, notices, non-commands, messages from before the bot joined,
unverified devices in strict trust mode), keeps undecryptable events until their keys arrive
(``bot/runtime/undecrypted.py``: sealed across restarts, retried, the sender told after a grace period),
throttles members who flood, lets only the campaign command the bot (``bot/runtime/campaign.py``: a
non-member's DM gets one line and leaves no row; a room outside the campaign gets one line
instead of the command), and runs the command: the handler's writes, the dedup mark and the
queued replies in ONE transaction (see ``bot/runtime/shell.py`` for why that is exactly-once).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from nio import AsyncClient, LocalProtocolError, MatrixRoom, MegolmEvent, RoomMessage

from bot.config import Settings
from bot.e2ee import crosssign
from bot.runtime import campaign
from bot.runtime.campaign import Gate
from bot.runtime.rooms import Rooms
from bot.runtime.sending import outputs
from bot.runtime.sending.outbox import Outbox
from bot.runtime.sending.outputs import Origin, ReplyTarget, SendDM
from bot.runtime.undecrypted import Undecrypted
from commands import base
from commands.base import Args, CommandError, Context, Output, Reply, UsageError
from commands.common.i18n import N_, translations
from commands.common.tries import TryLimit
from commands.language import first_contact, reader_language, reader_zone
from storage.core import TOLD_UNTRUSTED_FLAG, EventBook
from storage.hashing import Member

log = logging.getLogger("organizer_bot")

FAILED_TEXT = N_("Something went wrong; nothing was changed.")
ENCRYPTION_ONLY_TEXT = N_(
    "I only work in end-to-end-encrypted rooms, so I won't run commands here. "
    "Enable encryption in the room settings (it cannot be turned off again) or message me in an encrypted DM."
)
EDIT_TEXT = N_("I don't run edited commands. Send the corrected command as a new message.")
THROTTLE_TEXT = N_("You're sending commands faster than I take them; I'll ignore yours for a minute.")
UNTRUSTED_TEXT = N_(
    "I ignored a command from one of your sessions because it is not verified (cross-signed) by you, and this "
    "bot only talks to verified sessions. In Element: Settings → Sessions → select the session → Verify, "
    "then send the command again."
)


class _HandlerFailed(Exception):
    pass


@dataclass(eq=False)
class Intake:
    client: AsyncClient
    settings: Settings
    book: EventBook
    rooms: Rooms
    outbox: Outbox
    shell: base.Shell  # what handlers may ask (Context.shell)
    wake: Callable[[Iterable[str]], None]  # wakes background services by name
    undecrypted: Undecrypted = field(init=False)  # events waiting for their room key
    throttle: TryLimit = field(init=False)  # commands a minute per sender, bounded (commands/common/tries.py)
    in_flight: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.throttle = TryLimit("commands", self.settings.BOT_MEMBER_RATE, timedelta(minutes=1))
        # an event that decrypts late takes the normal path (handled once: the dedup mark)
        self.undecrypted = Undecrypted(self.book, self.settings.BOT_UNDECRYPTABLE_GRACE, self.handle_event,
                                       self.outbox.kick, language=self.settings.BOT_DEFAULT_LANGUAGE)

    # ------------------------------------------------------------ events

    async def handle_event(self, room: MatrixRoom, event: Any) -> None:
        client = self.client
        if getattr(event, "sender", None) == client.user_id:
            return
        if isinstance(event, MegolmEvent):
            await self.rooms.campaign.refresh(self.book)
            if not self.rooms.campaign.is_member(str(event.sender)):
                return  # an outsider's: nothing kept, flagged, asked for or answered (issue #23)
            await self.undecrypted.keep(room.room_id, event, self.rooms.is_dm(room))
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
        joined_at = await self.book.room_flag(room.room_id, "joined_at")
        if joined_at is not None and event.server_timestamp < joined_at:
            return  # sent before the bot was in the room
        if self.settings.BOT_TRUST == "cross-signed" and not await self._from_trusted_device(event):
            return
        await self.run_command(room, event, parsed, relation if isinstance(relation, dict) else {}, is_edit)

    async def _from_trusted_device(self, event: Any) -> bool:
        """Strict mode: only commands from devices their owner cross-signed run; the member
        is told once, in a DM, why and how to verify."""
        if getattr(event, "decrypted", False):
            await crosssign.cross_signed_devices(self.client, [event.sender])
            if crosssign.trusted_sender_device(self.client, event) is not None:
                return True
        await self.rooms.campaign.refresh(self.book)
        if not self.rooms.campaign.is_member(event.sender):
            return False  # an outsider is told nothing and leaves no row (no say-once flag either)
        async with self.book.claim(event.event_id) as fresh:
            if fresh and await self.book.set_member_flag(event.sender, TOLD_UNTRUSTED_FLAG):
                txn = f"ut{self.book.txn_prefix('untrusted:' + event.event_id)}"
                lang = await reader_language(self.book.db, self.book.keyring, self.settings.BOT_DEFAULT_LANGUAGE,
                                             "", True, Member(self.book.keyring, event.sender))  # their DM's
                text = translations(lang).gettext(UNTRUSTED_TEXT)
                await outputs.put(self.book, txn, SendDM(event.sender, outputs.content(text), any_device=True))
        self.outbox.kick()
        # no member tag: a stable one would let the log follow one member across lines (issue #23)
        log.info("ignored a command from an unverified device of a member")
        return False

    # ------------------------------------------------------------ commands

    async def run_command(
        self, room: MatrixRoom, event: Any, parsed: base.Parsed, relation: dict[str, Any], is_edit: bool
    ) -> None:
        event_id: str = event.event_id
        if await self.book.handled(event_id):
            return  # a re-delivered event does not count against the member's rate
        gate = await self._gate(room, event, parsed)
        if gate is Gate.NOT_MEMBER:
            return
        member = Member(self.book.keyring, event.sender)
        thread_root = relation.get("event_id") if relation.get("rel_type") == "m.thread" else None
        origin = Origin(event_id, room.room_id, ReplyTarget(event_id, thread_root), event.sender)
        drop, notice = self.throttle.check(member.tag, time.time())
        ctx: Context | None = None
        self.in_flight += 1
        try:
            async with self.book.claim(event_id) as fresh:
                if not fresh:
                    return
                lang = await reader_language(self.book.db, self.book.keyring, self.settings.BOT_DEFAULT_LANGUAGE,
                                             room.room_id, self.rooms.is_dm(room), member)
                _ = translations(lang).gettext
                outcome: list[Output]
                if drop:
                    outcome = [Reply(_(THROTTLE_TEXT))] if notice else []
                elif is_edit:
                    outcome = [Reply(_(EDIT_TEXT))]
                elif self.settings.BOT_REQUIRE_ENCRYPTION and not room.encrypted:
                    first = await self.book.set_room_flag(room.room_id, "told_unencrypted")
                    outcome = [Reply(_(ENCRYPTION_ONLY_TEXT))] if first else []
                elif gate is Gate.OUTSIDE:
                    outcome = [Reply(self.rooms.campaign.outside_text(room.room_id, _))]
                elif parsed.error is not None or parsed.command is None:
                    outcome = [Reply(parsed.error_text(lang, self.rooms.role(room, event.sender),
                                                       self.settings.BOT_COMMAND_PREFIX))]
                else:
                    ctx, outcome = await self._run(room, event, member, parsed, lang)
                await self.outbox.enqueue(outcome, origin)
        except _HandlerFailed:
            async with self.book.claim(event_id) as fresh:  # the handler's writes were rolled back
                if fresh:
                    lang = ctx.lang if ctx is not None else self.settings.BOT_DEFAULT_LANGUAGE
                    await self.outbox.enqueue([Reply(translations(lang).gettext(FAILED_TEXT))], origin)
            ctx = None
        finally:
            self.in_flight -= 1
        if gate is Gate.JOIN:  # an outsider's DM is remembered only once the code made them a member
            await self.rooms.campaign.refresh(self.book)
            if self.rooms.campaign.is_member(event.sender):
                await self.rooms.keep_dm(room.room_id)
        self.rooms.stages.handled(room.room_id, getattr(event, "server_timestamp", None))
        self.outbox.kick()
        if ctx is not None and ctx.wakes:
            self.wake(ctx.wakes)  # after the commit: the service sees the command's writes

    async def _gate(self, room: MatrixRoom, event: Any, parsed: base.Parsed) -> Gate:
        """Whether the campaign lets this command run. A non-member's DM is answered here, at once
        and without any row (see :func:`bot.runtime.campaign.not_member_answer`)."""
        found = self.rooms.campaign
        await found.refresh(self.book)
        is_dm = self.rooms.is_dm(room)
        gate = found.gate(room.room_id, event.sender, is_dm, parsed.command.name if parsed.command else "")
        if gate is Gate.NOT_MEMBER:
            if not self.throttle.check(Member(self.book.keyring, event.sender).tag, time.time())[0]:
                txn, answer = campaign.not_member_answer(self.book, room.room_id, event.event_id,
                                                         self.settings.BOT_DEFAULT_LANGUAGE,
                                                         self.settings.BOT_COMMAND_PREFIX)
                self.outbox.say(answer, txn)  # through the outbox's pause, in memory only
        elif is_dm and gate is Gate.RUN:
            await self.rooms.keep_dm(room.room_id)
        return gate

    def _context(self, room: MatrixRoom, event: Any, member: Member, lang: str) -> Context:
        return Context(
            db=self.book.db, keyring=self.book.keyring, settings=self.settings, member=member,
            role=self.rooms.role(room, event.sender), room=self.rooms.view(room), now=datetime.now(UTC),
            shell=self.shell, event_id=event.event_id, prefix=self.settings.BOT_COMMAND_PREFIX, lang=lang,
        )

    async def _run(self, room: MatrixRoom, event: Any, member: Member, parsed: base.Parsed,
                   lang: str) -> tuple[Context, list[Output]]:
        """Run a parsed command; a member who wrote Spanish before choosing a language is answered
        in Spanish and told once how to switch (:func:`commands.language.first_contact`)."""
        assert parsed.command is not None
        lang, note = await first_contact(self.book.db, self.book.keyring, member, room.room_id,
                                         self.rooms.is_dm(room), parsed, lang)
        ctx = self._context(room, event, member, lang)
        ctx.tz = await reader_zone(self.book.db, self.book.keyring, room.room_id, ctx.room.is_dm, member)
        outcome = await self._call(parsed.command, ctx, parsed.args)
        if note is not None:
            outcome.append(Reply(ctx._(note).format(prefix=ctx.prefix), private=True))
        return ctx, outcome

    async def _call(self, command: base.Command, ctx: Context, args: Args) -> list[Output]:
        try:
            ctx.require(command.role)
            return await command.handler(ctx, args)
        except UsageError as exc:
            return [Reply(f"{exc}\n" + command.usage_line(ctx.lang, ctx.prefix))]
        except CommandError as exc:
            return [Reply(str(exc))]
        except Exception as exc:  # noqa: BLE001 - never let a handler kill the bot
            log.error("command %s failed: %s", command.name, type(exc).__name__)
            raise _HandlerFailed from exc

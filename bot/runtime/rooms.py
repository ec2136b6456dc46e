"""What the bot knows about its rooms, read from nio's synced state (no network calls):
which rooms are DMs, who has which power (room v12 creators included), the views and facts
handlers see, and which invites to accept. Which rooms and people belong to the campaign is
decided by :class:`bot.runtime.campaign.Campaign` from this knowledge; this module asks it for roles
and invites.

DMs are remembered by keyed room reference (room flag ``"dm"``): a room counts as a DM when
it was one at the invite (``is_direct``) or the bot opened it as one, and still has only one
member besides the bot.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nio import AsyncClient, JoinError, MatrixRoom, RoomCreateEvent, RoomResolveAliasResponse

from bot.config import Settings
from bot.runtime import burst, invites
from bot.runtime.campaign import Campaign, Invite
from bot.runtime.stages import StageTimes
from commands.base import CampaignView, Role, RoomFacts, RoomView
from commands.language import reader_language
from storage.core import EventBook
from storage.hashing import Member

log = logging.getLogger("organizer_bot")


def joined_users(room: MatrixRoom) -> set[str]:
    """Who has joined: nio's ``room.users`` also holds the invited, who share nothing yet (an
    invitee is no campaign member, and a message sent before they join is not theirs to read)."""
    return set(room.users) - set(room.invited_users)

CREATOR_POWER = 1_000_000  # above any configurable coordinator level


@dataclass(eq=False)
class Rooms:
    client: AsyncClient
    settings: Settings
    book: EventBook
    stages: StageTimes = field(default_factory=StageTimes)  # durations only (bot/runtime/stages.py)
    _dm_refs: set[bytes] = field(default_factory=set, init=False)
    _recorded: set[bytes] = field(default_factory=set, init=False)  # rooms joined with a stored "joined_at"
    joining: set[str] = field(default_factory=set, init=False)  # joined, not yet in a sync
    _creators: dict[str, set[str]] = field(default_factory=dict, init=False)  # room ID → creators (v12+)
    _joins: dict[str, asyncio.Task[None]] = field(default_factory=dict, init=False)  # invites being answered
    _join_gate: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(burst.INVITE_JOINS), init=False)
    campaign: Campaign = field(init=False)
    # a join that raised: counted by the shell's supervisor (bot/runtime/supervisor.py); the invite
    # comes again at the next full-state sync (a restart of the sync task or of the bot)
    died: Callable[[str, BaseException | None], None] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.campaign = Campaign(self.settings, _Synced(self))

    async def load(self) -> None:
        """Read the remembered DMs and the campaign's rooms, and resolve ``BOT_HOME_ROOM`` (after
        login, before the first sync)."""
        self._dm_refs = await self.book.rooms_with_flag("dm")
        self._recorded = await self.book.rooms_with_flag("joined_at")
        await self.campaign.refresh(self.book)
        configured = self.settings.BOT_HOME_ROOM
        if configured and configured.startswith("#"):
            configured = await self.resolve_alias(configured)
            if configured is None:
                log.warning("BOT_HOME_ROOM: the alias does not resolve; no home room until it does")
        self.campaign.configured_home = configured

    async def resolve_alias(self, alias: str) -> str | None:
        result = await self.client.room_resolve_alias(alias)
        return result.room_id if isinstance(result, RoomResolveAliasResponse) else None

    # ------------------------------------------------------------ what handlers see

    def views(self) -> list[RoomView]:
        """Current members' DMs and campaign rooms: a room outside the campaign, or the DM of
        someone who does not belong to it (now), is never a target of anything."""
        dms = set(self.member_dms(encrypted_only=False))
        return [self.view(room) for room in self.client.rooms.values()
                if room.room_id in dms or self.campaign.is_campaign_room(room.room_id)]

    def is_campaign_room(self, room_id: str) -> bool:
        return self.campaign.is_campaign_room(room_id)

    def campaign_view(self) -> CampaignView:
        rooms = self.client.rooms
        listed = [self.view(rooms[r]) for r in sorted(self.campaign.campaign_rooms())]
        home = next((r for r in listed if r.room_id == self.campaign.home_room_id), None)
        waiting = [self.view(rooms[r]) for r in self.campaign.unapproved_rooms()]
        return CampaignView(home, tuple(listed), tuple(waiting), self.campaign.configured_home is not None)

    def note_unapproved(self) -> None:
        """Log (a count, no names) the group rooms joined before the campaign that await approval."""
        waiting = len(self.campaign.unapproved_rooms())
        if waiting:
            log.info("%d group room(s) the bot is in are not campaign rooms yet; a coordinator approves them "
                     "from the home room (`rooms`)", waiting)

    def view(self, room: MatrixRoom) -> RoomView:
        return RoomView(room.room_id, room.display_name, self.is_dm(room), bool(room.encrypted))

    def joined(self, room_id: str) -> bool:
        return room_id in self.client.rooms

    async def language_of(self, room_id: str) -> str:
        """The language the bot writes in to ``room_id``'s readers: in a DM its member's choice,
        in a room the room's, else ``BOT_DEFAULT_LANGUAGE`` (``commands/language.py``)."""
        room = self.client.rooms.get(room_id)
        dm = room is not None and self.is_dm(room)
        others = sorted(joined_users(room) - {self.client.user_id}) if room is not None else []
        member = Member(self.book.keyring, others[0]) if dm and others else None
        return await reader_language(self.book.db, self.book.keyring, self.settings.BOT_DEFAULT_LANGUAGE, room_id,
                                     member is not None, member)

    def member_dms(self, encrypted_only: bool = True) -> list[str]:
        """The DMs (encrypted ones, with ``encrypted_only``) of current campaign members, asked of
        :meth:`bot.runtime.campaign.Campaign.members_among`: where news for every member goes. An
        outsider's DM, and the DM of someone who left (or was removed from) every campaign room,
        get none."""
        dms = [(room.room_id, other) for room in self.client.rooms.values()
               if (room.encrypted or not encrypted_only) and self.is_dm(room)
               and (other := self.dm_member(room)) is not None]
        members = self.campaign.members_among(other for _, other in dms)
        return [room_id for room_id, other in dms if other in members]

    def dm_member(self, room: MatrixRoom | str) -> str | None:
        """Who a DM (the room, or its ID) is with (``None`` once they left it, or no such room)."""
        found = self.client.rooms.get(room) if isinstance(room, str) else room
        others = sorted(joined_users(found) - {self.client.user_id}) if found is not None else []
        return others[0] if len(others) == 1 else None

    def may_post(self, room_id: str) -> bool:
        """Whether news (announcements, reminders) may go to ``room_id``: a DM only while the
        person it is with belongs to the campaign."""
        room = self.client.rooms.get(room_id)
        if room is None or not self.is_dm(room):
            return True  # a group room (the sender drops rooms the bot is not in)
        other = self.dm_member(room)
        return other is not None and self.campaign.is_member(other)

    async def hub_dms(self) -> list[str]:
        """The encrypted DMs of members who joined by code and are not quiet (issue 26)."""
        await self.campaign.refresh(self.book)
        hub = self.campaign.hub
        return [r for r in self.member_dms() if (user := self.dm_member(r)) and hub.has(user) and not hub.quiet(user)]

    def quiet_dm(self, room_id: str) -> bool:
        """A DM whose member asked for no campaign news there (``!quiet on``, issue 26)."""
        user = self.dm_member(room_id)
        return user is not None and self.campaign.hub.quiet(user)

    def can_redact(self, room_id: str) -> bool:
        room = self.client.rooms.get(room_id)
        if room is None:
            return False
        return bool(room.power_levels.can_user_redact(self.client.user_id))

    def dm_with(self, user_id: str, invited: bool = False) -> str | None:
        """The encrypted DM with ``user_id`` joined (or, with ``invited``, just invited), if any."""
        for room in self.client.rooms.values():
            if room.encrypted and self.is_dm(room) and (
                user_id in joined_users(room) or (invited and user_id in room.invited_users)
            ):
                return str(room.room_id)
        return None

    def facts(self, room_id: str) -> RoomFacts | None:
        room = self.client.rooms.get(room_id)
        if room is None:
            return None
        servers: dict[str, int] = {}
        for user_id in joined_users(room):
            server = user_id.split(":", 1)[1]
            servers[server] = servers.get(server, 0) + 1
        powers = {
            room.user_name(user_id) or user_id: min(level, 100)  # v12 creators shown as 100
            for user_id in joined_users(room)
            if (level := self.power_level(room, user_id)) >= 50 and user_id != self.client.user_id
        }
        return RoomFacts(room.room_id, room.display_name, bool(room.encrypted), room.join_rule,
                         room.history_visibility, room.guest_access, servers, powers,
                         self.can_redact(room_id))

    # ------------------------------------------------------------ DMs

    def is_dm(self, room: MatrixRoom) -> bool:
        """A direct chat: invited with ``is_direct`` (or opened by us as one), with one member besides us."""
        if len(room.users) > 2:  # nio's users include the invited
            return False
        return self.book.keyring.ref("room", room.room_id) in self._dm_refs

    def recorded(self, room_id: str) -> bool:
        """Joined on an invite the bot stored (``joined_at``): never an outsider's DM."""
        return self.book.keyring.ref("room", room_id) in self._recorded

    async def mark_dm(self, room_id: str) -> None:
        async with self.book.db.transaction():
            await self.book.set_room_flag(room_id, "dm")
        self._dm_refs.add(self.book.keyring.ref("room", room_id))

    async def keep_dm(self, room_id: str) -> None:
        """A DM accepted from a non-member is known in memory only; remember it once its member belongs."""
        if await self.book.room_flag(room_id, "dm") is None:
            await self.mark_dm(room_id)

    # ------------------------------------------------------------ power

    def role(self, room: MatrixRoom, user_id: str) -> Role:
        return self.campaign.role(room.room_id, user_id, self.is_dm(room))

    def power_level(self, room: MatrixRoom, user_id: str) -> int:
        """Power level, counting room creators as all-powerful in room versions 12+ (MSC4289:
        not listed in the power levels), which nio 0.26 does not know."""
        legacy = room.room_version in {str(v) for v in range(1, 12)}
        if not legacy and user_id in self._creators.get(room.room_id, ()):
            return CREATOR_POWER
        return int(room.power_levels.get_user_level(user_id))

    def note_creators(self, room_id: str, events: list[Any]) -> None:
        """Remember a room's creators from its create event, if this batch has it."""
        for event in events:
            if isinstance(event, RoomCreateEvent):
                extra = event.source.get("content", {}).get("additional_creators") or []
                self._creators[room_id] = {event.sender, *[u for u in extra if isinstance(u, str)]}

    # ------------------------------------------------------------ invites

    def start_joins(self, invites: dict[str, list[Any]]) -> list[asyncio.Task[None]]:
        """Answer every invite of a sync in the background, a few at a time: a crowd's hundreds of
        invites one after another took minutes, and the sync loop waiting for a sync's joins held
        back the next sync's commands (see ``bot/runtime/burst.py``). The caller keeps its sync token
        unsaved until these tasks are done (a crash re-delivers the invites)."""
        started = []
        for room_id, state in invites.items():
            if room_id in self._joins:
                continue  # already being answered
            task = asyncio.create_task(self._answer_gated(room_id, state), name="join")
            self._joins[room_id] = task
            task.add_done_callback(functools.partial(self._forget_join, room_id))
            started.append(task)
        return started

    def _forget_join(self, room_id: str, _task: asyncio.Task[None]) -> None:
        self._joins.pop(room_id, None)

    async def answer_invites(self, invites: dict[str, list[Any]]) -> None:
        """Every invite, a few at a time, waiting for all."""
        await asyncio.gather(*self.start_joins(invites))

    async def settled(self, room_id: str) -> None:
        """Return once ``room_id``'s invite, if it is being answered, is answered: a room's first
        events are handled after its flags (DM, cut-off, campaign) are written."""
        task = self._joins.get(room_id)
        if task is not None:
            await asyncio.wait([task])

    async def _answer_gated(self, room_id: str, state: list[Any]) -> None:
        async with self._join_gate:
            try:
                await self.answer_invite(room_id, state)
            except Exception as exc:
                if self.died is None:
                    raise
                self.died("joins", exc)

    async def start_at_invite(self, room_id: str, events: list[Any]) -> None:
        """A DM's "sent before the bot was in the room" cut-off counts from the bot's invite, not
        its join, when this batch shows the invite (see ``bot/runtime/burst.py``)."""
        await burst.start_at_invite(self.book, room_id, events, self.client.user_id)

    async def answer_invite(self, room_id: str, state: list[Any]) -> None:
        """Join when the inviter's server is allowed and the campaign takes the room (remembering
        when, and whether it is a DM); otherwise leave, storing nothing. The inviter and
        ``is_direct`` come only from what the homeserver authenticated (``bot/runtime/invites.py``):
        the invite state's last entry, then, once joined, the room's own invite event; a room
        whose verified inviter is not allowed is left and forgotten. A non-member's DM is joined
        but leaves no trace (not even in memory across restarts: ``bot/runtime/campaign.py``)."""
        client = self.client
        claim = invites.claimed(state, client.user_id)
        decision = await self._decide(room_id, claim, state)
        if decision is Invite.DECLINE:
            await client.room_leave(room_id)
            return
        # taken before joining: anything the homeserver stamped earlier was sent before we were in
        joined_at = int(time.time() * 1000) - 1000
        if not await _join(client, room_id):
            return
        found = await invites.verified(client, room_id)
        if not isinstance(found, invites.Unknown) and found != claim:
            log.warning("a room's own invite event differs from its invite state (a forged entry)")
            claim = found
            decision = await self._decide(room_id, claim, state)
            if decision is Invite.DECLINE:
                await client.room_leave(room_id)
                await client.room_forget(room_id)  # left and forgotten: nothing of it is kept
                return
        assert claim is not None
        self.joining.add(room_id)  # nio knows the room only from the next sync on
        self.stages.joined(room_id)
        if decision is Invite.DM and not self.campaign.is_member(claim.inviter):
            self._dm_refs.add(self.book.keyring.ref("room", room_id))  # an outsider's DM: in memory only
            log.info("joined a room")
            return
        alias = await self._checked_alias(room_id, state)
        async with self.book.db.transaction():
            await self.book.set_room_flag(room_id, "joined_at", joined_at)
            await self.campaign.joined(self.book, room_id, decision, alias)
        self._recorded.add(self.book.keyring.ref("room", room_id))
        if claim.is_direct:
            await self.mark_dm(room_id)
        log.info("joined a room")

    async def _decide(self, room_id: str, claim: invites.Invitation | None, state: list[Any]) -> Invite:
        """Whether to take the invite ``claim`` describes (its inviter's server allowed, then the campaign)."""
        inviter = claim.inviter if claim is not None else ""
        server = inviter.split(":", 1)[1] if ":" in inviter else ""
        if claim is None or server not in self.settings.allowed_servers:
            log.info("rejected an invite from a server that is not allowed")
            return Invite.DECLINE
        alias = await self._checked_alias(room_id, state)
        await self.campaign.refresh(self.book)
        decision = self.campaign.may_invite(claim.inviter, room_id, claim.is_direct, (alias,) if alias else ())
        if decision is Invite.DECLINE:
            log.info("declined an invite to a room outside the campaign")
        return decision

    async def _checked_alias(self, room_id: str, state: list[Any]) -> str | None:
        """The canonical alias in the invite, if a coordinator approved it and the server maps it to
        this room (the alias in an invite is only the room's claim)."""
        alias = next((a for e in state if isinstance(a := getattr(e, "canonical_alias", None), str)), None)
        if alias is None or not self.campaign.is_approved(alias):
            return None
        return alias if await self.resolve_alias(alias) == room_id else None


class _Synced:
    """:class:`bot.runtime.campaign.RoomKnowledge` read from the synced rooms."""

    def __init__(self, rooms: Rooms) -> None:
        self.rooms = rooms

    def joined_rooms(self) -> set[str]:
        return set(self.rooms.client.rooms)

    def joined_members(self, room_id: str) -> set[str]:
        room = self.rooms.client.rooms.get(room_id)
        return set() if room is None else joined_users(room)

    def power_of(self, room_id: str, user_id: str) -> int:
        room = self.rooms.client.rooms.get(room_id)
        return 0 if room is None else self.rooms.power_level(room, user_id)

    def is_dm(self, room_id: str) -> bool:
        room = self.rooms.client.rooms.get(room_id)
        return room is not None and self.rooms.is_dm(room)

    def recorded(self, room_id: str) -> bool:
        return self.rooms.recorded(room_id)


JOIN_TRIES = (1.0, 3.0, 9.0)  # seconds before each retry of a refused join


async def _join(client: AsyncClient, room_id: str) -> bool:
    """Join, retrying a refusal a few times: over federation the bot's server can list a remote
    invite before the inviting server has stored it, which then refuses the join for a moment
    ("You are not invited"); without a retry that member's DM was lost without a word."""
    for delay in (*JOIN_TRIES, None):
        result = await client.join(room_id)
        if not isinstance(result, JoinError):
            return True
        if delay is None:
            log.warning("could not join a room after %d tries: %s", len(JOIN_TRIES) + 1, result.message)
            return False
        await asyncio.sleep(delay)
    return False

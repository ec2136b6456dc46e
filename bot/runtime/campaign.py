"""Who belongs to the campaign, and who may command it.

The campaign is its rooms: the **home room** (the coordinators' room: ``BOT_HOME_ROOM``, or the
first group room an admin invited the bot into, or one an admin moved it to with ``!home here``)
and the other **campaign rooms** (rooms an admin or a campaign coordinator invited the bot into,
or that a coordinator approved). Everything here is read from what the shell already synced
(membership, power levels) and from the rows in ``storage.campaign``: no network calls, so it
answers at once and a power change in the home room counts from the next synced event on.

- **Campaign coordinators**: ``BOT_ADMINS``, and members joined to the home room whose power
  there is at least ``BOT_COORDINATOR_POWER_LEVEL`` (room creators count as all-powerful in room
  versions 12+, as the shell computes power).
- **Room coordinators**: power in *this* campaign room only; they manage what belongs to it.
- **Members**: joined to at least one campaign room the bot is in (the home room counts), joined
  with an invite code in a DM (``bot/runtime/hub.py``, issue 26), and admins:
  :meth:`Campaign.members_among` is the one definition that everything asks (commands, the DMs
  that get announcements and reminders, the approval list), read live from the sync.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable
from typing import Protocol

from bot.config import Settings
from bot.runtime import hub
from bot.runtime.sending import outputs
from bot.runtime.sending.outputs import Send
from commands.base import Role
from commands.common.i18n import N_, Gettext, translations
from commands.language import reader_language
from storage import campaign as store
from storage.core import EventBook

log = logging.getLogger("organizer_bot")


class RoomKnowledge(Protocol):
    """What the shell knows from sync, without network calls."""

    def joined_rooms(self) -> set[str]: ...
    def joined_members(self, room_id: str) -> set[str]: ...
    def power_of(self, room_id: str, user_id: str) -> int: ...
    def is_dm(self, room_id: str) -> bool: ...
    def recorded(self, room_id: str) -> bool: ...  # joined on an invite the bot stored ("joined_at")


class Gate(enum.Enum):
    """What happens to a command before it runs."""

    RUN = "run"
    NOT_MEMBER = "not-member"  # someone outside the campaign, outside a campaign room: one line, no row
    JOIN = "join"  # a DM from outside the campaign bringing an invite code: runs; nothing kept unless it joins
    OUTSIDE = "outside"  # a group room that is not a campaign room: one line instead of the command


class Invite(enum.Enum):
    DECLINE = "decline"
    DM = "dm"  # a direct chat, accepted from allowed servers as before
    CAMPAIGN = "campaign"  # a campaign room
    HOME = "home"  # becomes (or is) the home room


class Campaign:
    def __init__(self, settings: Settings, rooms: RoomKnowledge) -> None:
        self.settings = settings
        self.rooms = rooms
        self.configured_home: str | None = None  # BOT_HOME_ROOM, resolved to a room ID
        self._state = store.Snapshot(frozenset(), frozenset(), None)
        self._stamp: str | None = None
        self.hub = hub.HubMembers()  # members by code in a DM (issue 26)

    # ------------------------------------------------------------ state

    async def refresh(self, book: EventBook) -> None:
        """Reload the stored rooms when they changed (one indexed read otherwise)."""
        stamp = await store.stamp(book.db)
        if stamp != self._stamp:
            self._state = await store.load(book.db, book.keyring)
            self._stamp = stamp
        await self.hub.refresh(book)

    @property
    def home_room_id(self) -> str | None:
        return self.configured_home or self._state.home

    def campaign_rooms(self) -> set[str]:
        """Campaign rooms the bot is in now (the home room included)."""
        joined = self.rooms.joined_rooms()
        found = {r for r in self._state.joined if r in joined}
        home = self.home_room_id
        if home is not None and home in joined:
            found.add(home)
        return found

    def is_campaign_room(self, room_id: str) -> bool:
        return room_id in self.campaign_rooms()

    def unapproved_rooms(self) -> list[str]:
        """Group rooms the bot is in that are not campaign rooms and that it joined on an invite
        it stored (before the campaign existed, every join was stored). An outsider's DM is
        never stored, so it never shows here, not after a restart nor as a "DM" of three."""
        campaign = self.campaign_rooms()
        return sorted(r for r in self.rooms.joined_rooms()
                      if r not in campaign and not self.rooms.is_dm(r) and self.rooms.recorded(r))

    def is_approved(self, room_id: str, aliases: tuple[str, ...] = ()) -> bool:
        return any(r in self._state.approved for r in (room_id, *aliases))

    # ------------------------------------------------------------ people

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.settings.BOT_ADMINS

    def is_campaign_coordinator(self, user_id: str) -> bool:
        if self.is_admin(user_id):
            return True
        home = self.home_room_id
        if home is None or home not in self.rooms.joined_rooms():
            return False
        if user_id not in self.rooms.joined_members(home):
            return False  # power kept by someone who left the home room counts for nothing
        return self.rooms.power_of(home, user_id) >= self.settings.BOT_COORDINATOR_POWER_LEVEL

    def members_among(self, candidates: Iterable[str]) -> set[str]:
        """The current campaign members among ``candidates``: THE one definition everything asks
        (commands, DMs, announcements, broadcasts, reminders). A member is an admin, joined by code
        in a DM (until ``!leave``), or shares a campaign room with the bot now (joined, read from the
        last sync): leaving or being removed from every campaign room ends it at once."""
        wanted = set(candidates)
        found = {user_id for user_id in wanted if self.is_admin(user_id) or self.hub.has(user_id)}
        for room_id in self.campaign_rooms():
            if wanted - found:
                found |= wanted & self.rooms.joined_members(room_id)
        return found

    def rooms_of(self, user_id: str) -> set[str]:
        """The campaign rooms ``user_id`` is joined to now (a poll's voters come from its rooms)."""
        return {room_id for room_id in self.campaign_rooms() if user_id in self.rooms.joined_members(room_id)}

    def is_member(self, user_id: str) -> bool:
        return bool(self.members_among((user_id,)))

    def role(self, room_id: str, user_id: str, is_dm: bool) -> Role:
        if self.is_admin(user_id):
            return Role.ADMIN
        if self.is_campaign_coordinator(user_id):
            return Role.COORDINATOR
        if is_dm or not self.is_campaign_room(room_id):
            return Role.MEMBER  # a DM's creator holds power 100 there; that makes nobody anything
        if self.rooms.power_of(room_id, user_id) >= self.settings.BOT_COORDINATOR_POWER_LEVEL:
            return Role.ROOM_COORDINATOR
        return Role.MEMBER

    # ------------------------------------------------------------ invites

    def may_invite(self, inviter: str | None, room_id: str, is_direct: bool,
                   aliases: tuple[str, ...] = ()) -> Invite:
        """Whether to join a room we are invited to (the inviter's server was checked before).

        ``aliases``: the room's canonical alias from the invite, already checked by the shell to
        point to ``room_id``."""
        if inviter is None:
            return Invite.DECLINE
        if is_direct:
            return Invite.DM
        if self.configured_home is not None and room_id == self.configured_home:
            return Invite.HOME
        if self.home_room_id is None:
            return Invite.HOME if self.is_admin(inviter) else Invite.DECLINE
        if self.is_campaign_coordinator(inviter) or self.is_approved(room_id, aliases):
            return Invite.CAMPAIGN
        return Invite.DECLINE

    # ------------------------------------------------------------ commands

    def gate(self, room_id: str, sender: str, is_dm: bool, command: str) -> Gate:
        if self.is_campaign_room(room_id):
            return Gate.RUN
        if not self.is_member(sender):
            if is_dm and command in hub.JOIN_COMMANDS:
                return Gate.JOIN
            return Gate.NOT_MEMBER  # a DM or any room outside the campaign: one line, nothing stored
        if is_dm or command in ALLOWED_OUTSIDE:
            return Gate.RUN
        return Gate.OUTSIDE

    def outside_text(self, room_id: str, _: Gettext) -> str:
        """The one line a room outside the campaign gets, in the room's language (``_``)."""
        return _(NOT_CAMPAIGN_ROOM_TEXT).format(prefix=self.settings.BOT_COMMAND_PREFIX, room_id=room_id)

    # ------------------------------------------------------------ joining

    async def joined(self, book: EventBook, room_id: str, decision: Invite, alias: str | None) -> None:
        """Record a joined campaign room (inside the caller's transaction); a new home room is told
        so. ``alias``: the room's canonical alias from the invite, if any (an approval by alias is
        used up by joining)."""
        if decision is Invite.HOME:
            if self.configured_home is None:
                await store.set_home(book.db, book.keyring, room_id)
            else:
                await store.add_room(book.db, book.keyring, room_id)
            lang = await reader_language(book.db, book.keyring, self.settings.BOT_DEFAULT_LANGUAGE, room_id,
                                         False, None)  # the room's language (a room just joined: the default)
            text = translations(lang).gettext(HOME_TEXT).format(level=self.settings.BOT_COORDINATOR_POWER_LEVEL,
                                                                prefix=self.settings.BOT_COMMAND_PREFIX)
            await outputs.put(book, f"home{book.txn_prefix('home:' + room_id)}", Send(room_id, outputs.content(text)))
        elif decision is Invite.CAMPAIGN:
            await store.add_room(book.db, book.keyring, room_id)
            if alias is not None:
                await store.remove(book.db, book.keyring, alias)


def not_member_answer(book: EventBook, room_id: str, event_id: str, lang: str, prefix: str = "!") -> tuple[str, Send]:
    """The one line a non-member's DM gets, with a transaction ID derived from the event: a resend
    is de-duplicated by the homeserver, and no row is needed (nothing about the sender is stored,
    their language neither: ``lang`` is ``BOT_DEFAULT_LANGUAGE``)."""
    text = translations(lang).gettext(NOT_MEMBER_TEXT).format(prefix=prefix)
    return f"nm{book.txn_prefix('not-member:' + event_id)}", Send(room_id, outputs.content(text))


NOT_MEMBER_TEXT = N_(
    "I only work with members of the campaign. If you have an invite code, send `{prefix}join <code>` here; "
    "otherwise ask a coordinator for one, or to invite you to your room."
)
NOT_CAMPAIGN_ROOM_TEXT = N_(
    "I don't run commands in this room: it is not one of the campaign's rooms. A campaign coordinator can "
    "approve it from the home room with `{prefix}rooms approve {room_id}`."
)
HOME_TEXT = N_(
    "This is the campaign's home room. Members here with power level {level} or more are the campaign's "
    "coordinators; `{prefix}help` lists what they and members can do."
)
ALLOWED_OUTSIDE = frozenset({"home here"})  # commands that run in a room that is not a campaign room

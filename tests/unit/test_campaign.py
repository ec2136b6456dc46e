"""The campaign (issue #16): who is a member, who coordinates what, which invites are joined,
and the commands that manage the campaign's rooms. No homeserver: rooms are a small fake."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from bot.runtime.campaign import Campaign, Invite
from commands import base, load_all
from commands.base import CampaignView, LeaveRoom, Role, RoomView
from storage import campaign as store
from storage.core import EventBook
from tests.fakes import DM, ROOM, settings, texts

ADMIN, COORD, ROOMCOORD, MEMBER, OUTSIDER = (
    "@admin:x", "@coord:x", "@roomcoord:x", "@member:x", "@outsider:x")
HOME, BRANCH, OLD, OWN, DMROOM = "!home:x", "!branch:x", "!old:x", "!own:x", "!dm:x"


@dataclass
class FakeRooms:
    members: dict[str, set[str]] = field(default_factory=dict)
    power: dict[tuple[str, str], int] = field(default_factory=dict)
    dms: set[str] = field(default_factory=set)

    def joined_rooms(self) -> set[str]:
        return set(self.members)

    def joined_members(self, room_id: str) -> set[str]:
        return self.members.get(room_id, set())

    def power_of(self, room_id: str, user_id: str) -> int:
        return self.power.get((room_id, user_id), 0)

    def is_dm(self, room_id: str) -> bool:
        return room_id in self.dms

    def recorded(self, room_id: str) -> bool:
        return True


async def campaign(world, with_home: bool = True) -> tuple[Campaign, FakeRooms]:
    rooms = FakeRooms(
        members={HOME: {COORD, MEMBER}, BRANCH: {ROOMCOORD, MEMBER}, OLD: {OUTSIDER}, DMROOM: {OUTSIDER}},
        power={(HOME, COORD): 100, (BRANCH, ROOMCOORD): 100, (OLD, OUTSIDER): 100, (DMROOM, OUTSIDER): 100},
        dms={DMROOM},
    )
    found = Campaign(settings(world.settings.BOT_DATA_DIR, BOT_ADMINS=ADMIN), rooms)
    async with world.db.transaction():
        if with_home:
            await store.set_home(world.db, world.keyring, HOME)
        await store.add_room(world.db, world.keyring, BRANCH)
    await found.refresh(EventBook(world.db, world.keyring))
    return found, rooms


async def test_coordinators_are_admins_and_home_room_power_holders_read_live(world):
    c, rooms = await campaign(world)
    assert c.home_room_id == HOME
    assert c.is_campaign_coordinator(ADMIN) and c.is_campaign_coordinator(COORD)
    assert not c.is_campaign_coordinator(ROOMCOORD)  # power in another campaign room only
    assert not c.is_campaign_coordinator(OUTSIDER)  # power in their own room only
    rooms.power[(HOME, COORD)] = 0
    assert not c.is_campaign_coordinator(COORD)  # demoted in the home room: at once
    rooms.power[(HOME, MEMBER)] = 50
    assert c.is_campaign_coordinator(MEMBER)
    rooms.members[HOME].discard(MEMBER)
    assert not c.is_campaign_coordinator(MEMBER)  # left the home room: power kept there counts for nothing


async def test_roles_per_room(world):
    c, _ = await campaign(world)
    assert c.role(BRANCH, ADMIN, False) == Role.ADMIN
    assert c.role(BRANCH, COORD, False) == Role.COORDINATOR
    assert c.role(DMROOM, COORD, True) == Role.COORDINATOR  # a campaign role holds in DMs
    assert c.role(BRANCH, ROOMCOORD, False) == Role.ROOM_COORDINATOR
    assert c.role(HOME, ROOMCOORD, False) == Role.MEMBER
    assert c.role(OLD, OUTSIDER, False) == Role.MEMBER  # not a campaign room
    assert c.role(DMROOM, OUTSIDER, True) == Role.MEMBER  # a DM's power levels make nobody anything


async def test_members_share_a_campaign_room(world):
    c, rooms = await campaign(world)
    assert c.is_member(MEMBER) and c.is_member(ROOMCOORD) and c.is_member(COORD) and c.is_member(ADMIN)
    assert not c.is_member(OUTSIDER)  # in an unapproved room and a DM only
    assert c.unapproved_rooms() == [OLD]
    rooms.members[BRANCH].discard(ROOMCOORD)
    assert not c.is_member(ROOMCOORD)


async def test_invites(world):
    c, _ = await campaign(world)
    assert c.may_invite(OUTSIDER, OWN, is_direct=False) is Invite.DECLINE
    assert c.may_invite(ROOMCOORD, OWN, is_direct=False) is Invite.DECLINE
    assert c.may_invite(COORD, OWN, is_direct=False) is Invite.CAMPAIGN
    assert c.may_invite(ADMIN, OWN, is_direct=False) is Invite.CAMPAIGN
    assert c.may_invite(OUTSIDER, OWN, is_direct=True) is Invite.DM
    assert c.may_invite(None, OWN, is_direct=False) is Invite.DECLINE
    async with world.db.transaction():
        assert await store.approve(world.db, world.keyring, OWN)
        assert await store.approve(world.db, world.keyring, "#own:x")
    await c.refresh(EventBook(world.db, world.keyring))
    assert c.may_invite(OUTSIDER, OWN, is_direct=False) is Invite.CAMPAIGN
    assert c.may_invite(OUTSIDER, "!other:x", is_direct=False, aliases=("#own:x",)) is Invite.CAMPAIGN


async def test_without_a_home_room_only_an_admin_invite_is_joined_and_it_becomes_home(world):
    c, _ = await campaign(world, with_home=False)
    assert c.home_room_id is None
    assert c.may_invite(COORD, OWN, is_direct=False) is Invite.DECLINE
    assert c.may_invite(ADMIN, OWN, is_direct=False) is Invite.HOME
    c.configured_home = OWN  # BOT_HOME_ROOM: that room is the home room, whoever invites
    assert c.may_invite(OUTSIDER, OWN, is_direct=False) is Invite.HOME
    assert c.may_invite(OUTSIDER, "!else:x", is_direct=False) is Invite.DECLINE


async def test_campaign_rows_are_sealed(world):
    async with world.db.transaction():
        await store.set_home(world.db, world.keyring, HOME)
        await store.approve(world.db, world.keyring, "#secret-branch:x")
    dump = b"".join(repr(tuple(r)).encode() for r in await world.db.fetchall("SELECT * FROM campaign_rooms"))
    assert b"home:x" not in dump and b"secret-branch" not in dump
    snap = await store.load(world.db, world.keyring)
    assert snap.home == HOME and snap.approved == {"#secret-branch:x"}
    async with world.db.transaction():
        await store.set_home(world.db, world.keyring, BRANCH)
    assert (await store.load(world.db, world.keyring)).home == BRANCH


# ---------------------------------------------------------------- the role audit

EXPECTED_ROLES = {
    "action add": Role.ROOM_COORDINATOR, "action cancel": Role.ROOM_COORDINATOR, "audit": Role.ROOM_COORDINATOR,
    "chart": Role.MEMBER, "digest": Role.COORDINATOR, "broadcast status": Role.COORDINATOR,
    "action rooms": Role.COORDINATOR, "broadcast": Role.COORDINATOR, "confirm": Role.COORDINATOR,
    "company alias": Role.COORDINATOR, "pledge create": Role.COORDINATOR, "pledge close": Role.COORDINATOR,
    "pledge rooms": Role.COORDINATOR, "rollcall start": Role.COORDINATOR, "rollcall end": Role.COORDINATOR,
    "rooms": Role.COORDINATOR, "rooms approve": Role.COORDINATOR, "rooms leave": Role.COORDINATOR,
    "home here": Role.ADMIN, "room lang": Role.COORDINATOR, "lang": Role.MEMBER,
    "poll create": Role.COORDINATOR, "poll close": Role.COORDINATOR, "poll rooms": Role.COORDINATOR,
    "poll": Role.MEMBER, "polls": Role.MEMBER, "vote": Role.MEMBER,
    "room tz": Role.COORDINATOR, "tz": Role.MEMBER,
    "rsvp": Role.MEMBER, "alerts": Role.ROOM_COORDINATOR,
    "actions": Role.MEMBER, "company": Role.MEMBER, "contracts": Role.MEMBER, "contracts search": Role.MEMBER,
    "forget": Role.MEMBER, "help": Role.MEMBER, "here": Role.MEMBER, "mydata": Role.MEMBER,
    "pledge": Role.MEMBER, "pledge info": Role.MEMBER, "pledges": Role.MEMBER, "privacy": Role.MEMBER,
    "remind me": Role.MEMBER, "rollcall": Role.MEMBER, "rollcall list": Role.MEMBER, "unpledge": Role.MEMBER,
    # issue 26: codes and the hotline's answers are the campaign's; joining, asking, vouching anyone's
    "codes": Role.COORDINATOR, "codes new": Role.COORDINATOR, "codes revoke": Role.COORDINATOR,
    "vouch limit": Role.COORDINATOR, "action dms": Role.COORDINATOR, "answer": Role.COORDINATOR,
    "block": Role.COORDINATOR, "join": Role.MEMBER, "quiet": Role.MEMBER, "leave": Role.MEMBER,
    "vouch": Role.MEMBER, "ask": Role.MEMBER,
}


def test_every_command_declares_the_role_the_audit_decided():
    load_all()
    assert {name: c.role for name, c in base.REGISTRY.items()} == EXPECTED_ROLES


@pytest.mark.parametrize("line", [
    "!pledge create letter Sign the letter", "!pledge close letter", "!pledge rooms letter add",
    "!rollcall start walkout Who?", "!rollcall end walkout", "!company alias Foo = Amazon",
    "!broadcast Walkout cancelled", "!confirm 1234", "!action rooms 1 add", "!rooms", "!rooms leave 1",
    "!rooms approve !x:y",
])
async def test_a_room_coordinator_is_refused_every_campaign_wide_command(world, line):
    out = await world.run(line, user=ROOMCOORD, role=Role.ROOM_COORDINATOR)
    assert "Only a coordinator of the campaign can do that" in texts(out)


# ---------------------------------------------------------------- the commands


def _world_with_rooms(world, home: RoomView | None, rooms: tuple[RoomView, ...], waiting=()) -> None:
    world.shell.campaign = lambda: CampaignView(home, rooms, tuple(waiting))


async def test_rooms_names_only_in_the_home_room_or_an_admins_dm(world):
    branch = RoomView("!b:x", "Warehouse 3", is_dm=False, encrypted=True)
    old = RoomView("!o:x", "Old chat", is_dm=False, encrypted=True)
    _world_with_rooms(world, ROOM, (ROOM, branch), (old,))
    home_text = texts(await world.run("!rooms", user=COORD, role=Role.COORDINATOR, room=ROOM))
    assert "Warehouse 3" in home_text and "Waiting for approval" in home_text and "!rooms approve !o:x" in home_text
    elsewhere = texts(await world.run("!rooms", user=COORD, role=Role.COORDINATOR, room=branch))
    assert "Warehouse" not in elsewhere and "Old chat" not in elsewhere and "2 rooms" in elsewhere
    in_dm = texts(await world.run("!rooms", user=COORD, role=Role.COORDINATOR, room=DM))
    assert "Warehouse" not in in_dm
    assert "Warehouse 3" in texts(await world.run("!rooms", user=ADMIN, role=Role.ADMIN, room=DM))


async def test_rooms_approve_and_leave(world):
    branch = RoomView("!b:x", "Warehouse 3", is_dm=False, encrypted=True)
    old = RoomView("!o:x", "Old chat", is_dm=False, encrypted=True)
    _world_with_rooms(world, ROOM, (ROOM, branch), (old,))
    refused = texts(await world.run("!rooms approve !new:x", user=COORD, role=Role.COORDINATOR, room=branch))
    assert "home room" in refused
    assert "invite me" in texts(await world.run("!rooms approve #new:x", user=COORD, role=Role.COORDINATOR))
    assert "campaign room now" in texts(await world.run("!rooms approve !o:x", user=COORD, role=Role.COORDINATOR))
    snap = await store.load(world.db, world.keyring)
    assert snap.approved == {"#new:x"} and snap.joined == {"!o:x"}
    out = await world.run("!rooms leave 2", user=COORD, role=Role.COORDINATOR)
    assert LeaveRoom("!b:x") in out
    assert "home room" in texts(await world.run("!rooms leave 1", user=COORD, role=Role.COORDINATOR))
    assert "no room 9" in texts(await world.run("!rooms leave 9", user=COORD, role=Role.COORDINATOR))


async def test_home_here_is_for_admins_typed_in_the_room(world):
    _world_with_rooms(world, None, ())
    assert "Only an admin" in texts(await world.run("!home here", user=COORD, role=Role.COORDINATOR))
    assert "not in our DM" in texts(await world.run("!home here", user=ADMIN, role=Role.ADMIN, room=DM))
    assert "home room now" in texts(await world.run("!home here", user=ADMIN, role=Role.ADMIN))
    assert (await store.load(world.db, world.keyring)).home == ROOM.room_id


@pytest.mark.parametrize("value", ["!abc:example.org", "#coordinators:example.org",
                                   "!" + "A1b2-_" * 7 + "x"])  # the last: a room v12 ID, no server part
def test_home_room_setting_takes_room_ids_of_every_version_and_aliases(tmp_path, value):
    assert settings(tmp_path, BOT_HOME_ROOM=value).BOT_HOME_ROOM == value


@pytest.mark.parametrize("value", ["coordinators", "!short", "#no server", "!" + "a" * 42 + "!"])
def test_home_room_setting_refuses_what_is_no_room(tmp_path, value):
    with pytest.raises(ValueError, match="must be a room ID"):
        settings(tmp_path, BOT_HOME_ROOM=value)

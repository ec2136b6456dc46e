"""The campaign's rooms: list them, approve one, make the bot leave one, move the home room.

Who belongs is decided in ``bot/runtime/campaign.py`` from the synced rooms; these handlers only read
the shell's :class:`CampaignView`, write ``storage.campaign`` and return outputs (leaving a room
is a :class:`LeaveRoom` output the shell performs). Room names and IDs are shown only in the
home room or an admin's DM: anywhere else a coordinator sees counts, so a message in an
ordinary room never tells its members which other rooms the campaign has.
"""

from __future__ import annotations

from commands.base import (
    Args,
    CampaignView,
    CommandError,
    Context,
    LeaveRoom,
    Output,
    Reply,
    Role,
    RoomView,
    UsageError,
    code,
    command,
)
from commands.common.i18n import N_
from commands.common.smallcell import in_words, suppress_total
from commands.common.words import ROOM_REF
from storage import campaign as store
from storage.hub import members as hub_members

# a room ID or alias with a server part, or a room ID of room version 12 ("!" + 43 base64url characters)


def _names_shown(ctx: Context, view: CampaignView) -> bool:
    """Names only in the home room, or in an admin's DM."""
    if ctx.room.is_dm:
        return ctx.role >= Role.ADMIN
    return view.home is not None and ctx.room.room_id == view.home.room_id


def numbered(view: CampaignView) -> list[RoomView]:
    """Campaign rooms in the order ``!rooms`` numbers them (home first, then by name)."""
    others = sorted((r for r in view.rooms if view.home is None or r.room_id != view.home.room_id),
                    key=lambda r: (r.name.casefold(), r.room_id))
    return ([view.home] if view.home is not None else []) + others


@command("rooms", usage="", summary=N_("The campaign's rooms (names only in the home room)."),
         role=Role.COORDINATOR,
         details=N_("Campaign rooms are the rooms an admin or a campaign coordinator invited me into, or that a "
                    "coordinator approved. I only run commands there and in DMs with their members. Rooms I was in "
                    "before the campaign had a home room are listed as waiting for approval: `rooms approve <room id>`."),
         aliases=("salas",))
async def rooms(ctx: Context, args: Args) -> list[Output]:
    _ = ctx._
    if args.tokens:
        raise UsageError(_("Did you mean `{prefix}rooms approve <room id>` or `{prefix}rooms leave <n>`?").format(
            prefix=ctx.prefix))
    view = ctx.shell.campaign()
    listed = numbered(view)
    if not _names_shown(ctx, view):
        return [Reply(ctx.ngettext(
            "The campaign has {n} room ({waiting} waiting for approval). Names are shown only in the home room.",
            "The campaign has {n} rooms ({waiting} waiting for approval). Names are shown only in the home room.",
            len(listed)).format(n=len(listed), waiting=len(view.waiting)))]
    lines = ["**" + _("Campaign rooms") + "**"]
    for n, room in enumerate(listed, 1):
        if view.home is not None and room.room_id == view.home.room_id:
            lines.append(_("{n}. {room} (home room)").format(n=n, room=code(room.name, 60)))
        else:
            lines.append(f"{n}. {code(room.name, 60)}")
    if not listed:
        lines.append(_("None yet. An admin makes a room the home room with `{prefix}home here`, typed in that "
                       "room.").format(prefix=ctx.prefix))
    if view.waiting:
        lines.append(_("**Waiting for approval** (I am in them but run no commands there):"))
        lines.extend(f"- {code(room.name, 60)}: `{ctx.prefix}rooms approve {room.room_id}`" for room in view.waiting)
    lines.append(_("`{prefix}rooms leave <n>` makes me leave a room.").format(prefix=ctx.prefix))
    lines.append(await _by_code(ctx))
    return [Reply("\n".join(lines))]


async def _by_code(ctx: Context) -> str:
    """How many joined by code in a DM (issue 26), small counts suppressed."""
    n = in_words(suppress_total(await hub_members.count(ctx.db), ctx.settings.BOT_MIN_CELL), ctx._)
    return ctx._("Members who joined by code, in DMs only: {n}.").format(n=n)


@command("rooms approve", usage=N_("<room id or alias>"),
         summary=N_("Let me join (or work in) a room as a campaign room."), role=Role.COORDINATOR,
         example=N_("#warehouse-3:example.org"),
         details=N_("Typed in the home room. For a room I am already in, it becomes a campaign room at once; "
                    "otherwise anyone may invite me there and I join. Find the ID in Element: Room settings → Advanced."),
         aliases=("salas aprobar",))
async def rooms_approve(ctx: Context, args: Args) -> list[Output]:
    _ = ctx._
    view = ctx.shell.campaign()
    if not _names_shown(ctx, view):
        raise CommandError(_("Approve rooms in the campaign's home room, so the other coordinators see it."))
    if len(args.tokens) != 1 or not ROOM_REF.fullmatch(args.tokens[0]):
        raise UsageError(_("Give one room ID or alias, as Element shows it in Room settings → Advanced "
                           "(an alias looks like `#name:example.org`)."))
    room = args.tokens[0]
    if room in {r.room_id for r in view.rooms}:
        return [Reply(_("That room is a campaign room already. Nothing was changed."))]
    waiting = {r.room_id: r for r in view.waiting}
    if room in waiting:
        await store.add_room(ctx.db, ctx.keyring, room)
        return [Reply(_("{room} is a campaign room now; I run commands there.").format(
            room=code(waiting[room].name, 60)))]
    if not await store.approve(ctx.db, ctx.keyring, room):
        return [Reply(_("That room is approved already; invite me there. Nothing was changed."))]
    return [Reply(_("Approved {room}: invite me there and I'll join.").format(room=code(room, 120)))]


@command("rooms leave", usage="<n>", summary=N_("Make me leave a campaign room (numbers from `rooms`)."),
         role=Role.COORDINATOR, example="3",
         details=N_("The number is the room's place in the list `rooms` shows in the home room. I leave the room and "
                    "stop running commands there; the home room cannot be left."),
         aliases=("salas dejar", "salas salir"))
async def rooms_leave(ctx: Context, args: Args) -> list[Output]:
    _ = ctx._
    if len(args.tokens) != 1 or not args.tokens[0].isdigit():
        raise UsageError(_("Give the room's number from the list."))
    view = ctx.shell.campaign()
    listed = numbered(view)
    number = int(args.tokens[0])
    if not 1 <= number <= len(listed):
        raise CommandError(_("There is no room {n}. `{prefix}rooms` in the home room lists them.").format(
            n=number, prefix=ctx.prefix))
    room = listed[number - 1]
    if view.home is not None and room.room_id == view.home.room_id:
        raise CommandError(_("That is the home room; I stay there. An admin can move it with `{prefix}home here`, "
                             "typed in the new home room.").format(prefix=ctx.prefix))
    await store.remove(ctx.db, ctx.keyring, room.room_id)
    if _names_shown(ctx, view):
        text = _("Leaving {room}. Invite me again (as a coordinator) to bring me back.").format(
            room=code(room.name, 60))
    else:
        text = _("Leaving room {n}. Invite me again (as a coordinator) to bring me back.").format(n=number)
    return [Reply(text), LeaveRoom(room.room_id)]


@command("home here", usage="",
         summary=N_("Make this room the campaign's home room (the coordinators' room)."), role=Role.ADMIN,
         details=N_("Campaign coordinators are the admins and the members of the home room with coordinator power "
                    "there. Type it in the room that should be the home room."), aliases=("sala principal",))
async def home_here(ctx: Context, args: Args) -> list[Output]:
    _ = ctx._
    if ctx.room.is_dm:
        raise CommandError(_("Type this in the room that should become the home room, not in our DM."))
    view = ctx.shell.campaign()
    if view.home_configured:
        raise CommandError(_("`BOT_HOME_ROOM` in the bot's configuration names the home room; change it there."))
    if view.home is not None and view.home.room_id == ctx.room.room_id:
        return [Reply(_("This is the home room already. Nothing was changed."))]
    await store.set_home(ctx.db, ctx.keyring, ctx.room.room_id)
    return [Reply(_("This is the campaign's home room now. Members here with coordinator power are the "
                    "campaign's coordinators; `{prefix}rooms` lists the campaign's rooms.").format(prefix=ctx.prefix))]

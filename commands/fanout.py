"""A broadcast's reach and progress, in counts only (issue 27): the preview's estimate, ``!broadcast
status``, and the lines the shell posts in the home room when a broadcast's DMs are done or failing.

A broadcast goes to the campaign's rooms and to the DM of every member by code who is not quiet,
one DM at a time: thousands of DMs take minutes, so a coordinator is told how long to expect
(at the rate the last broadcasts measured, ``storage/hub/broadcasts.py``) and can ask how far it got.
The number of members by code is a small count like any other: below ``exact_from(BOT_MIN_CELL)``
it is shown as "fewer than …", and then so is everything it could be derived from.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from functools import partial

from commands.actions import MAX_TEXT, linked_text, too_long
from commands.base import (
    Args,
    Broadcast,
    CommandError,
    Context,
    Env,
    HubNews,
    Output,
    Post,
    Reply,
    Role,
    UsageError,
    code,
    command,
)
from commands.common.confirm import new_confirmation
from commands.common.i18n import N_, translations
from commands.common.smallcell import exact_from, in_words, suppress_total
from commands.common.timeparse import format_duration
from storage import actions as store
from storage.hub import broadcasts
from storage.hub import members as hub_members

Wording = Callable[[str], str]  # a line in the reader's language

DONE = N_("Broadcast to the DMs of members by code is done: {delivered} of {total} delivered in {duration}.")
DONE_FEW = N_("Broadcast to the DMs of members by code is done ({total} DMs) in {duration}.")
DROPPED = N_("{n} not delivered: the member left the campaign or turned news off, or the homeserver refused it.")
DROPPED_FEW = N_("Some were not delivered: the member left the campaign or turned news off, or the homeserver "
                 "refused it.")
FAILING = N_("Broadcast: some DMs could not be sent just now (the homeserver failed); I keep retrying them. "
             "`{prefix}broadcast status` shows how far it got.")


def _exact(n: int, k: int) -> bool:
    return n >= exact_from(k)


def done_line(progress: broadcasts.Progress, lang: str, k: int) -> str:
    """The home room's line when a broadcast's last DM is done."""
    t = translations(lang)
    duration = format_duration(max(0.0, (progress.finished or time.time()) - progress.started), lang)
    if _exact(progress.total, k):
        text = t.gettext(DONE).format(delivered=progress.delivered, total=progress.total, duration=duration)
        return text + (" " + t.gettext(DROPPED).format(n=progress.dropped) if progress.dropped else "")
    text = t.gettext(DONE_FEW).format(total=in_words(suppress_total(progress.total, k), t.gettext),
                                      duration=duration)
    return text + (" " + t.gettext(DROPPED_FEW) if progress.dropped else "")


def failing_line(lang: str, prefix: str) -> str:
    return translations(lang).gettext(FAILING).format(prefix=prefix)


def _about(seconds: float, lang: str) -> str:
    """``about 3 minutes``, or ``less than a minute``."""
    if seconds < 30:
        return format_duration(seconds, lang) if seconds > 0 else format_duration(1, lang)
    return translations(lang).gettext(N_("about {duration}")).format(duration=format_duration(seconds, lang))


def _rate_words(ctx: Context, rate: float, measured: bool) -> str:
    shown = f"{rate:.0f}" if rate >= 10 else f"{rate:.1f}"
    if measured:
        return ctx._("at about {rate} DMs a second (measured by the last broadcasts)").format(rate=shown)
    return ctx._("at about {rate} DMs a second (a first guess: no broadcast has been timed yet)").format(rate=shown)


async def estimate(ctx: Context, rooms: int) -> str:
    """The preview's reach and expected duration (members by code who are not quiet, roughly)."""
    dms = max(0, await hub_members.count(ctx.db) - await hub_members.quiet_count(ctx.db))
    rate, measured = await broadcasts.rate(ctx.db)
    k = ctx.settings.BOT_MIN_CELL
    shown = in_words(suppress_total(dms, k), ctx._)
    reach = ctx.ngettext("It goes to {n} room and to the DMs of {dms} members by code.",
                         "It goes to {n} rooms and to the DMs of {dms} members by code.", rooms).format(
        n=rooms, dms=shown)
    if dms == 0:
        return reach
    return reach + " " + ctx._("The DMs take {duration}, {rate}.").format(
        duration=_about(dms / rate, ctx.lang), rate=_rate_words(ctx, rate, measured))


@command("broadcast status", usage="", role=Role.COORDINATOR, aliases=("difundir estado",),
         summary=N_("How far the broadcast going out has got: DMs delivered of all, time left."),
         details=N_("Counts only: how many, never who."))
async def broadcast_status(ctx: Context, args: Args) -> list[Output]:
    k = ctx.settings.BOT_MIN_CELL
    now = time.time()
    going = await broadcasts.under_way(ctx.db)
    if not going:
        lines = [ctx._("No broadcast is going out now.")]
        last = await broadcasts.last_finished(ctx.db)
        if last is not None:
            lines.append(done_line(last, ctx.lang, k))
        return [Reply(" ".join(lines))]
    rate, measured = await broadcasts.rate(ctx.db)
    lines = []
    for progress in going:
        own = progress.rate(now)
        speed = own if own is not None else rate
        left = _about(progress.remaining / speed, ctx.lang)
        if _exact(progress.total, k):
            line = ctx._("Broadcast under way: {delivered} of {total} DMs delivered, {left} left").format(
                delivered=progress.delivered, total=progress.total, left=left)
        else:
            line = ctx._("Broadcast under way to {total} DMs, {left} left").format(
                total=in_words(suppress_total(progress.total, k), ctx._), left=left)
        rate_text = (ctx._("at {rate} DMs a second so far").format(rate=f"{own:.1f}") if own is not None
                     else _rate_words(ctx, rate, measured))
        lines.append(f"{line}, {rate_text}.")
    return [Reply("\n".join(lines))]


# ---------------------------------------------------------------- the broadcast and its confirmation


def broadcast_rooms(ctx: Context | Env) -> list[str]:
    """BOT_BROADCAST_ROOMS if set (campaign rooms among them), else every campaign room (only
    encrypted ones while BOT_REQUIRE_ENCRYPTION is on). ``shell.rooms()`` lists only campaign
    rooms and DMs, so a room outside the campaign never receives a broadcast."""
    views = ctx.shell.rooms()
    listed = ctx.settings.BOT_BROADCAST_ROOMS
    if listed:
        joined = {v.room_id for v in views}
        return [r for r in dict.fromkeys(listed) if r in joined]
    return [v.room_id for v in views if not v.is_dm and (v.encrypted or not ctx.settings.BOT_REQUIRE_ENCRYPTION)]


@command("broadcast", usage=N_("<text>"),
         summary=N_("Post a message to every campaign room (asks to confirm)."), role=Role.COORDINATOR,
         example=N_("Walkout at noon today. Meet at the lobby."),
         details=N_("Shows how many rooms and DMs will get it, about how long the DMs take, and a code; `{prefix}confirm "
                    "CODE` from you, in this room, within 5 minutes sends it. `{prefix}broadcast status` shows how far it got."),
         aliases=("difundir",))
async def broadcast(ctx: Context, args: Args) -> list[Output]:
    text = args.rest.strip()
    if not text:
        raise UsageError(ctx._("Give the text to broadcast."))
    if text.lower() == "estado":  # `broadcast status` in Spanish
        return await broadcast_status(ctx, args)
    if len(text) > MAX_TEXT:
        raise CommandError(too_long(ctx))
    rooms = broadcast_rooms(ctx)
    if not rooms:
        raise CommandError(ctx._("There is no room to broadcast to."))
    confirm = await new_confirmation(ctx, ctx.room.room_id, "broadcast", {"text": text})
    return [Reply(await estimate(ctx, len(rooms)) + " " + ctx._(
        "Reply `{prefix}confirm {code}` within 5 minutes to send it.").format(prefix=ctx.prefix, code=confirm))]


@command("confirm", usage=N_("<code>"), summary=N_("Confirm a broadcast or a room link you asked for."),
         role=Role.COORDINATOR, example="4821", aliases=("confirmar",))
async def confirm(ctx: Context, args: Args) -> list[Output]:
    if len(args.tokens) != 1 or not re.fullmatch(r"\d{4}", args.tokens[0]):
        raise UsageError(ctx._("Give the 4-digit code I showed you."))
    found = await store.take_confirmation(ctx.db, ctx.keyring, args.tokens[0], ctx.room.room_id, ctx.now,
                                          ctx.member.ref("confirm"))
    if found == "missing":
        raise CommandError(ctx._("Nothing is waiting for code {code} in this room. Codes work in the room they were "
                                 "meant for and expire after 5 minutes.").format(code=code(args.tokens[0])))
    if found == "other":
        raise CommandError(ctx._("Only the coordinator who asked for this can confirm it."))
    assert isinstance(found, store.Pending)
    if found.kind == "broadcast":
        rooms = broadcast_rooms(ctx)
        if not rooms:
            raise CommandError(ctx._("There is no room to broadcast to any more."))
        text = str(found.payload["text"])  # the coordinator's own words, to the rooms and to members by code
        return [Broadcast(tuple(rooms), text, "m.text"), HubNews(text, "m.text", tracked=True)]
    number = int(found.payload["action"])  # type: ignore[call-overload]
    target = str(found.payload["room"])
    action = await store.action_in_room(ctx.db, ctx.keyring, number, ctx.room.room_id)
    if action is None:
        raise CommandError(ctx._("#{n} is no longer scheduled in this room.").format(n=number))
    await store.link_room(ctx.db, ctx.keyring, number, target)
    name = str(found.payload.get("name") or ctx._("the other room"))
    return [
        Reply(ctx._("Room {room} now also gets reminders for #{n}.").format(room=code(name, 60), n=number)),
        Post(target, partial(linked_text, action), "m.notice"),  # worded for the linked room
    ]

"""Answers that must not point at the member in a room (signing, voting, RSVPs), and answers that
show a member's own data (their vote, their RSVP, their settings), which go to their DM."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

from commands.base import (
    REGISTRY,
    CommandError,
    Context,
    DirectMessage,
    Output,
    RedactCommand,
    Reply,
    UsageError,
)
from commands.common.i18n import LANGUAGES, N_
from storage import prefs

ANSWERED_PRIVATELY = N_("I answered you in our direct chat.")


async def sensitive(ctx: Context, work: Callable[[], Awaitable[list[Output]]], name: str) -> list[Output]:
    """Run a command whose answers must not point at the member in a room (signing, voting, RSVPs):
    there every answer, errors included, is private (no reply relation) and the command is
    redacted when ``BOT_REDACT_SENSITIVE``; in a DM errors take the normal path. ``name``: the
    command's (English) name, for its usage line."""
    in_room = not ctx.room.is_dm
    redact: list[Output] = [RedactCommand()] if in_room and ctx.settings.BOT_REDACT_SENSITIVE else []
    try:
        outputs = await work()
    except CommandError as exc:
        if not in_room:
            raise
        text = str(exc)
        if isinstance(exc, UsageError):
            text += "\n" + REGISTRY[name].usage_line(ctx.lang, ctx.prefix)
        return [Reply(text, private=True), *redact]
    return outputs + redact


async def as_in_dm(ctx: Context) -> Context:
    """``ctx`` as the member's DM reads: in their own language and time zone (in a room, ``ctx``
    has the room's). The room stays the one typed in; wakes are shared."""
    if ctx.room.is_dm:
        return ctx
    lang = await prefs.member_pref(ctx.db, ctx.keyring, ctx.member, prefs.LANGUAGE)
    zone = await prefs.member_pref(ctx.db, ctx.keyring, ctx.member, prefs.ZONE)
    return dataclasses.replace(ctx, lang=lang if lang in LANGUAGES else ctx.settings.BOT_DEFAULT_LANGUAGE, tz=zone)


async def own_answer(ctx: Context, work: Callable[[Context], Awaitable[str]], name: str,
                     redact: bool = False) -> list[Output]:
    """A self-query (issue #23 item 9): the answer shows the member's own data, so in a room it goes
    to their DM, in their language and zone, errors included, and the room gets one neutral line,
    the same whatever the answer (``redact``: the command too, when ``BOT_REDACT_SENSITIVE``). In a
    DM it is an ordinary reply. ``work`` words the answer for the context it is given; ``name``:
    the command's (English) name, for its usage line."""
    if ctx.room.is_dm:
        return [Reply(await work(ctx), private=True)]  # no reply relation, as before
    own = await as_in_dm(ctx)
    try:
        text = await work(own)
    except CommandError as exc:
        text = str(exc)
        if isinstance(exc, UsageError):
            text += "\n" + REGISTRY[name].usage_line(own.lang, ctx.prefix)
    tail: list[Output] = [RedactCommand()] if redact and ctx.settings.BOT_REDACT_SENSITIVE else []
    return [Reply(ctx._(ANSWERED_PRIVATELY), private=True), DirectMessage(text), *tail]

"""Answers that must not point at the member in a room (signing, voting, RSVPs)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from commands.base import REGISTRY, CommandError, Context, Output, RedactCommand, Reply, UsageError


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

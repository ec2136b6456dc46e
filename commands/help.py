"""!help: generated from the command declarations."""

from __future__ import annotations

from commands.base import (
    ALIASES,
    REGISTRY,
    Args,
    Command,
    CommandError,
    Context,
    Output,
    Reply,
    closest,
    code,
    command,
)
from commands.common.i18n import N_

ROLES_TEXT = N_(
    "I work for the campaign's rooms and their members. Coordinators of the campaign (power in the home "
    "room, or admins) run pledges, roll-calls, aliases, broadcasts and the list of rooms; a coordinator of "
    "another room manages that room's actions and `audit`."
)


def _usage(ctx: Context, c: Command) -> str:
    """The usage line, with the command's Spanish name in Spanish (both names work)."""
    if ctx.lang == "es" and c.aliases:
        return c.aliases[0] + c.usage[len(c.name):]
    return c.usage


def _visible(ctx: Context) -> list:
    return sorted((c for c in REGISTRY.values() if c.role <= ctx.role), key=lambda c: c.name)


@command(
    "help",
    usage="help [command]",
    summary=N_("List the commands you can use, or explain one."),
    example="help pledge",
    aliases=("ayuda",),
)
async def help_command(ctx: Context, args: Args) -> list[Output]:
    p = ctx.prefix
    if not args.tokens:
        rows = [f"`{p}{_usage(ctx, c)}` — {ctx._(c.summary)}" for c in _visible(ctx)]
        footer = "\n" + ctx._("Type `{prefix}help <command>` for details and an example. Sensitive commands work "
                              "best in a DM with me.").format(prefix=p) + "\n" + ctx._(ROLES_TEXT)
        return [Reply("**" + ctx._("Commands you can use") + "**\n" + "\n".join(rows) + footer)]
    wanted = " ".join(args.tokens).lower().lstrip(p)
    wanted = ALIASES.get(wanted, wanted)
    found = [c for c in REGISTRY.values() if c.name == wanted or c.name.startswith(wanted + " ")]
    if not found:
        names = sorted({c.name.split()[0] for c in REGISTRY.values()})
        hint = closest(wanted.split()[0], names) if wanted else None
        text = ctx._("No command {command}.").format(command=code(p + wanted))
        if hint:
            text += " " + ctx._("Did you mean `{prefix}help {hint}`?").format(prefix=p, hint=hint)
        raise CommandError(text + " " + ctx._("Type `{prefix}help` for the list.").format(prefix=p))
    parts = []
    for c in sorted(found, key=lambda c: (c.name != wanted, c.name)):
        block = [f"`{p}{_usage(ctx, c)}` — {ctx._(c.summary)}"]
        if c.role > 0:
            block.append(ctx._("Needs: {role}.").format(role=ctx._(c.role.label)))
        if c.details:
            block.append(ctx._(c.details).replace("{prefix}", p))
        if c.example:
            block.append(ctx._("Example: `{example}`").format(example=p + c.example))
        parts.append("\n".join(block))
    return [Reply("\n\n".join(parts))]

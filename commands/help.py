"""!help: generated from the command declarations."""

from __future__ import annotations

from commands.base import (
    REGISTRY,
    Args,
    Command,
    CommandError,
    Context,
    Output,
    Reply,
    code,
    command,
    names,
    shown_heads,
)
from commands.common.i18n import N_
from commands.common.names import fold, suggest

ROLES_TEXT = N_(
    "I work for the campaign's rooms and their members. Coordinators of the campaign (power in the home "
    "room, or admins) run pledges, roll-calls, aliases, broadcasts and the list of rooms; a coordinator of "
    "another room manages that room's actions and `audit`."
)


def _visible(ctx: Context) -> list[Command]:
    """The commands the reader may use, sorted by the names they see."""
    return sorted((c for c in REGISTRY.values() if c.role <= ctx.role), key=lambda c: fold(c.shown_name(ctx.lang)))


def _asked(wanted: list[str]) -> list[Command]:
    """The commands ``!help WORDS`` asks about, by any of their names: one command, or a word's
    command and the group that word heads (``!ayuda encuesta``: the poll and its subcommands)."""
    table = names()
    key, two = table.resolve(wanted[0], wanted[1] if len(wanted) > 1 else "")
    if two and key is not None:
        return [REGISTRY[key]]
    group = table.group(wanted[0])
    return [c for c in REGISTRY.values() if c.name == key or (group is not None and c.name.split()[0] == group)]


@command("help", usage=N_("[command]"), summary=N_("List the commands you can use, or explain one."),
         example=N_("pledge"), aliases=("ayuda",))
async def help_command(ctx: Context, args: Args) -> list[Output]:
    p = ctx.prefix
    if not args.tokens:
        rows = [f"`{p}{c.usage_in(ctx.lang)}` — {ctx._(c.summary)}" for c in _visible(ctx)]
        footer = "\n" + ctx._("Type `{prefix}help <command>` for details and an example. Sensitive commands work "
                              "best in a DM with me.").format(prefix=p) + "\n" + ctx._(ROLES_TEXT)
        return [Reply("**" + ctx._("Commands you can use") + "**\n" + "\n".join(rows) + footer)]
    wanted = [w.lstrip(p) for w in args.tokens[:2] if w.lstrip(p)]
    found = _asked(wanted) if wanted else []
    if not found:
        typed = " ".join(wanted)
        hint = suggest(wanted[0], shown_heads(ctx.lang, ctx.role)) if wanted else None
        text = ctx._("No command {command}.").format(command=code(p + typed))
        if hint:
            text += " " + ctx._("Did you mean `{prefix}help {hint}`?").format(prefix=p, hint=hint)
        raise CommandError(text + " " + ctx._("Type `{prefix}help` for the list.").format(prefix=p))
    parts = []
    first = names().resolve(*wanted[:2])[0]
    for c in sorted(found, key=lambda c: (c.name != first, fold(c.shown_name(ctx.lang)))):
        block = [f"`{p}{c.usage_in(ctx.lang)}` — {ctx._(c.summary)}"]
        if c.role > 0:
            block.append(ctx._("Needs: {role}.").format(role=ctx._(c.role.label)))
        if c.details:
            block.append(ctx._(c.details).replace("{prefix}", p))
        example = c.example_in(ctx.lang)
        if example is not None:
            block.append(ctx._("Example: `{example}`").format(example=p + example))
        parts.append("\n".join(block))
    return [Reply("\n\n".join(parts))]

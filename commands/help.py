"""!help: generated from the command declarations."""

from __future__ import annotations

from commands.base import REGISTRY, Args, CommandError, Context, Output, Reply, closest, code, command

ROLES_TEXT = (
    "I work for the campaign's rooms and their members. Coordinators of the campaign (power in the home "
    "room, or admins) run pledges, roll-calls, aliases, broadcasts and the list of rooms; a coordinator of "
    "another room manages that room's actions and `audit`."
)


def _visible(ctx: Context) -> list:
    return sorted((c for c in REGISTRY.values() if c.role <= ctx.role), key=lambda c: c.name)


@command(
    "help",
    usage="help [command]",
    summary="List the commands you can use, or explain one.",
    example="help pledge",
)
async def help_command(ctx: Context, args: Args) -> list[Output]:
    p = ctx.prefix
    if not args.tokens:
        rows = [f"`{p}{c.usage}` — {c.summary}" for c in _visible(ctx)]
        footer = (f"\nType `{p}help <command>` for details and an example. Sensitive commands work best in a DM "
                  f"with me.\n{ROLES_TEXT}")
        return [Reply("**Commands you can use**\n" + "\n".join(rows) + footer)]
    wanted = " ".join(args.tokens).lower().lstrip(p)
    found = [c for c in REGISTRY.values() if c.name == wanted or c.name.startswith(wanted + " ")]
    if not found:
        names = sorted({c.name.split()[0] for c in REGISTRY.values()})
        hint = closest(wanted.split()[0], names) if wanted else None
        text = f"No command {code(p + wanted)}." + (f" Did you mean `{p}help {hint}`?" if hint else "")
        raise CommandError(text + f" Type `{p}help` for the list.")
    parts = []
    for c in sorted(found, key=lambda c: (c.name != wanted, c.name)):
        block = [f"`{p}{c.usage}` — {c.summary}"]
        if c.role > 0:
            block.append(f"Needs: {c.role.label}.")
        if c.details:
            block.append(c.details.replace("{prefix}", p))
        if c.example:
            block.append(f"Example: `{p}{c.example}`")
        parts.append("\n".join(block))
    return [Reply("\n\n".join(parts))]

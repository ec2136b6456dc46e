"""``!company`` and ``!company alias``: which employer a name stands for, and teaching it new names.

The names themselves live in the one company directory (:mod:`commands.common.directory`).
"""

from __future__ import annotations

from commands.base import Args, CommandError, Context, Output, Reply, Role, UsageError, code, command
from commands.common.directory import Company, CompanyDirectory, directory, normalize
from commands.common.i18n import N_
from commands.options import Flag, Options
from storage import companies as store


def describe(found: CompanyDirectory, company: Company, asked: str) -> str:
    aliases = [a for a in found.aliases_of(company.key) if normalize(a) != company.key]
    text = f"{code(asked)} means **{company.display}**."
    if aliases:
        shown = ", ".join(aliases[:12]) + (f" and {len(aliases) - 12} more" if len(aliases) > 12 else "")
        text += f"\nAlso known as: {shown}."
    if company.note:
        text += f"\nNote: {company.note}"
    return text


@command(
    "company",
    aliases=("empresa",),
    usage="company <name>",
    summary=N_("Show which employer a company name stands for"),
    example="company AWS",
    details="Names, subsidiaries and products are matched to one employer, so `AWS`, `Whole Foods` and "
    "`Amazon.com, Inc.` all mean Amazon. Coordinators can add names with `company alias`.",
)
async def company_cmd(ctx: Context, args: Args) -> list[Output]:
    name = args.rest.strip()
    if not name:
        raise UsageError(f"Name a company, like `{ctx.prefix}company Alphabet`.")
    found = await directory(ctx.db)
    company = found.resolve(name)
    if company is not None:
        return [Reply(describe(found, company, name))]
    close = found.suggest(name)
    text = f"I don't know the company {code(name)}."
    if close:
        text += " Did you mean " + " or ".join(f"**{c}**" for c in close) + "?"
    text += f"\nA coordinator can add it: `{ctx.prefix}company alias <name> = <company>`."
    return [Reply(text)]


# `--new` may stand anywhere; any other `--word` is part of a name.
ALIAS_OPTIONS = Options({"new": Flag()}, free_text=True)


@command(
    "company alias",
    usage="company alias <alias> = <company> [--new]",
    summary=N_("Teach the bot another name for a company"),
    role=Role.COORDINATOR,
    example="company alias Amazon Fresh = Amazon",
    details="The alias then works everywhere a company is named (pledges, roll-calls, contracts). "
    "With `--new`, a company the bot does not know yet is created under that name.",
)
async def company_alias_cmd(ctx: Context, args: Args) -> list[Output]:
    ctx.require(Role.COORDINATOR)
    given = ALIAS_OPTIONS.parse(args.rest, ctx.prefix)
    text, new = given.text, "new" in given
    alias, sep, target = text.partition("=")
    alias, target = alias.strip().strip("\"'"), target.strip().strip("\"'")
    if not sep or not alias or not target:
        raise UsageError(
            f"Write the alias, `=`, then the company, like `{ctx.prefix}company alias Amazon Fresh = Amazon`."
        )
    alias_key = normalize(alias)
    if not alias_key or not normalize(target):
        raise CommandError("A company name needs letters or digits.")
    found = await directory(ctx.db)
    company = found.resolve(target)
    if company is None:
        if not new:
            close = found.suggest(target)
            hint = (" Did you mean " + " or ".join(f"**{c}**" for c in close) + "?") if close else ""
            raise CommandError(
                f"I don't know the company {code(target)}.{hint} To create it, add `--new`: "
                + code(f"{ctx.prefix}company alias {alias} = {target} --new", limit=200)
                + "."
            )
        company = Company(normalize(target), target)
    if alias_key in found.companies and alias_key != company.key:
        raise CommandError(
            f"{code(alias)} is the name of **{found.companies[alias_key].display}** itself, so it cannot mean "
            f"another company."
        )
    before = found.resolve(alias)
    if before is not None and before.key == company.key:
        return [Reply(f"{code(alias)} already means **{company.display}**. Nothing was changed.")]
    async with ctx.db.transaction():
        await store.add_alias(ctx.db, alias_key, company.key, company.display)
    reply = f"Done: {code(alias)} now means **{company.display}**."
    if before is not None:
        reply += f" (It meant {before.display} before.)"
    return [Reply(reply)]

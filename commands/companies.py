"""``!company`` and ``!company alias``: which employer a name stands for, and teaching it new names.

The names themselves live in the one company directory (:mod:`storage.directory`).
"""

from __future__ import annotations

from commands.base import Args, CommandError, Context, Output, Reply, Role, UsageError, code, command
from commands.common.i18n import N_
from commands.options import Flag, Options
from storage import companies as store
from storage.directory import Company, CompanyDirectory, directory, normalize


def describe(ctx: Context, found: CompanyDirectory, company: Company, asked: str) -> str:
    _ = ctx._
    aliases = [a for a in found.aliases_of(company.key) if normalize(a) != company.key]
    text = _("{asked} means **{company}**.").format(asked=code(asked), company=company.display)
    if len(aliases) > 12:
        text += "\n" + _("Also known as: {names} and {n} more.").format(names=", ".join(aliases[:12]),
                                                                      n=len(aliases) - 12)
    elif aliases:
        text += "\n" + _("Also known as: {names}.").format(names=", ".join(aliases))
    if company.note:
        text += "\n" + _("Note: {note}").format(note=company.note)
    return text


def _did_you_mean(ctx: Context, close: list[str]) -> str:
    """" Did you mean **A** or **B**?", or nothing."""
    if not close:
        return ""
    if len(close) == 1:
        return " " + ctx._("Did you mean **{name}**?").format(name=close[0])
    return " " + ctx._("Did you mean {names} or **{last}**?").format(
        names=", ".join(f"**{c}**" for c in close[:-1]), last=close[-1])


@command("company", usage=N_("<name>"), summary=N_("Show which employer a company name stands for"),
         example="AWS",
         details=N_("Names, subsidiaries and products are matched to one employer, so `AWS`, `Whole Foods` and "
                    "`Amazon.com, Inc.` all mean Amazon. Coordinators can add names with `company alias`."),
         aliases=("empresa",))
async def company_cmd(ctx: Context, args: Args) -> list[Output]:
    _ = ctx._
    name = args.rest.strip()
    if not name:
        raise UsageError(_("Name a company, like `{prefix}company Alphabet`.").format(prefix=ctx.prefix))
    found = await directory(ctx.db)
    company = found.resolve(name)
    if company is not None:
        return [Reply(describe(ctx, found, company, name))]
    text = _("I don't know the company {name}.").format(name=code(name)) + _did_you_mean(ctx, found.suggest(name))
    text += "\n" + _("A coordinator can add it: `{prefix}company alias <name> = <company>`.").format(prefix=ctx.prefix)
    return [Reply(text)]


# `--new` may stand anywhere; any other `--word` is part of a name.
ALIAS_OPTIONS = Options({"new": Flag()}, free_text=True)


@command("company alias", usage=N_("<alias> = <company> [--new]"),
         summary=N_("Teach the bot another name for a company"), role=Role.COORDINATOR,
         example="Amazon Fresh = Amazon",
         details=N_("The alias then works everywhere a company is named (pledges, roll-calls, contracts). "
                    "With `--new`, a company the bot does not know yet is created under that name."),
         aliases=("empresa alias",))
async def company_alias_cmd(ctx: Context, args: Args) -> list[Output]:
    _ = ctx._
    ctx.require(Role.COORDINATOR)
    given = ALIAS_OPTIONS.parse(args.rest, ctx.prefix, _, ctx.lang)
    text, new = given.text, "new" in given
    alias, sep, target = text.partition("=")
    alias, target = alias.strip().strip("\"'"), target.strip().strip("\"'")
    if not sep or not alias or not target:
        raise UsageError(_("Write the alias, `=`, then the company, like `{prefix}company alias Amazon Fresh = "
                           "Amazon`.").format(prefix=ctx.prefix))
    alias_key = normalize(alias)
    if not alias_key or not normalize(target):
        raise CommandError(_("A company name needs letters or digits."))
    found = await directory(ctx.db)
    company = found.resolve(target)
    if company is None:
        if not new:
            raise CommandError(
                _("I don't know the company {name}.").format(name=code(target))
                + _did_you_mean(ctx, found.suggest(target)) + " "
                + _("To create it, add `--new`: {command}.").format(
                    command=code(f"{ctx.prefix}company alias {alias} = {target} --new", limit=200))
            )
        company = Company(normalize(target), target)
    if alias_key in found.companies and alias_key != company.key:
        raise CommandError(_("{alias} is the name of **{company}** itself, so it cannot mean another company.").format(
            alias=code(alias), company=found.companies[alias_key].display))
    before = found.resolve(alias)
    if before is not None and before.key == company.key:
        return [Reply(_("{alias} already means **{company}**. Nothing was changed.").format(
            alias=code(alias), company=company.display))]
    async with ctx.db.transaction():
        await store.add_alias(ctx.db, alias_key, company.key, company.display)
    reply = _("Done: {alias} now means **{company}**.").format(alias=code(alias), company=company.display)
    if before is not None:
        reply += " " + _("(It meant {company} before.)").format(company=before.display)
    return [Reply(reply)]

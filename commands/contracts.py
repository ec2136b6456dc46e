"""``!contracts``: what the public record says about a company's ICE contracts.

Figures come from ``storage.contracts`` where each award is counted once (obligated from the
newest source preferred) and totals are per kind of figure, never added across kinds.
"""

from __future__ import annotations

import re

from commands.base import Args, Context, Output, Reply, UsageError, code, command
from commands.common.i18n import N_, Gettext, number
from commands.options import Flag, Options
from storage import contracts as store
from storage.contracts import Shown
from storage.directory import Company, CompanyDirectory, directory, legal_name_match, normalize

SHOWN = 8  # awards listed before "…and N more"
TOP = 10  # companies in the overview
_KIND_WORDS = {"obligated": N_("obligated"), "ceiling": N_("ceiling (potential value)"), "reported": N_("reported")}
_KIND_SHORT = {"obligated": N_("obligated"), "ceiling": N_("ceiling"), "reported": N_("reported")}
AGENCY_SHORT = {
    "U.S. Immigration and Customs Enforcement": "ICE",
    "U.S. Customs and Border Protection": "CBP",
    "U.S. Citizenship and Immigration Services": "USCIS",
}
_IGF = re.compile(r"^\s*IGF::[A-Z,]+::IGF\s*")
SUGGEST_SOURCE = N_(
    "Know a public record of one (a USAspending.gov award page or a news report)? "
    "Tell a coordinator of this room so it can be added."
)


def money(cents: int) -> str:
    dollars = round(cents / 100)
    return f"-${-dollars:,}" if dollars < 0 else f"${dollars:,}"


def plain(text: str, limit: int = 160) -> str:
    """Data text placed in a reply: no mini-markup of its own, one line, trimmed."""
    text = " ".join(text.replace("`", "'").replace("**", "*").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def kind_totals(cents: dict[str, int], _: Gettext) -> str:
    parts = [f"**{money(cents[k])}** {_(_KIND_WORDS[k])}" for k in store.KINDS if k in cents]
    return " · ".join(parts) if parts else _("no figures")


def _dates(start: str, end: str, _: Gettext) -> str:
    if start and end:
        return _("{start} to {end}").format(start=start, end=end)
    if start:
        return _("from {start}").format(start=start)
    if end:
        return _("until {end}").format(end=end)
    return ""


def award_lines(ctx: Context, item: Shown, with_vendor: bool = True) -> list[str]:
    _ = ctx._
    award = item.award
    amount = (
        f"**{money(award.amount_cents)}** {_(_KIND_SHORT.get(award.amount_kind, award.amount_kind))}"
        if award.amount_cents is not None else _("amount not reported")
    )
    what = plain(_IGF.sub("", award.description)) or _("(no description)")
    facts = [plain(award.vendor, 60)] if with_vendor else []
    dates = _dates(award.start_date, award.end_date, _)
    if dates:
        facts.append(dates)
    agency = award.sub_agency or award.agency
    if agency:
        facts.append(AGENCY_SHORT.get(agency, agency))
    if award.award_id:
        facts.append(_("award {id}").format(id=f"`{plain(award.award_id, 40)}`"))
    source = award.source_url or plain(award.source_title, 120)
    others = item.sources - 1
    also = " " + ctx.ngettext("(also in {n} other source)", "(also in {n} other sources)", others).format(
        n=others) if others > 0 else ""
    return [f"• {amount}: {what}", f"  {', '.join(facts)}", "  " + _("Source: {source}").format(source=source) + also]


def _display(found: CompanyDirectory, company_key: str, vendor: str) -> str:
    company = found.company(company_key)
    return company.display if company else vendor


CONTRACTS_OPTIONS = Options({"all": Flag()})


@command("contracts", usage=N_("[<company>] [--all]"),
         summary=N_("Known ICE contracts of a company (or the biggest contractors)"), example="Palantir",
         details=N_("Names, subsidiaries and products work (`AWS`, `Alphabet`, `West`). Totals count each award once "
                    "and never add obligated money, ceilings and press figures together. `--all` lists every award (in a "
                    "DM). See also `contracts search <words>`."), aliases=("contratos",))
async def contracts_cmd(ctx: Context, args: Args) -> list[Output]:
    _ = ctx._
    given = CONTRACTS_OPTIONS.parse(args.rest, ctx.prefix, _, ctx.lang)
    want_all, name = "all" in given, given.text
    found = await directory(ctx.db)
    if not name:
        return [Reply(await _overview(ctx, found))]
    if want_all and not ctx.room.is_dm:
        return [
            Reply(_("The full list can be long, so I send it only in a direct message. Open a DM with me and "
                    "type {command}.").format(command=code(f"{ctx.prefix}contracts {name} --all", limit=120)))
        ]
    company = found.resolve(name)
    keys = found.keys_for(company.key) if company else {normalize(name)}
    keys.discard("")
    shown = await store.awards_for(ctx.db, keys)
    if not shown and company is None and (vendor := legal_name_match(name, await store.vendor_names(ctx.db))):
        shown = await store.awards_for(ctx.db, {vendor})  # the name asked + generic words ("… SALES LLC")
    if not shown:
        return [Reply(await _nothing(ctx, found, name, company))]
    title = company.display if company else plain(shown[0].award.vendor, 80)
    heading = (_("**{company}**: known ICE-related contracts") if company and normalize(name) == company.key
               else _("**{company}**: known ICE-related contracts (you asked for {asked})"))
    text = [
        heading.format(company=title, asked=code(name)),
        _("Known value, each award counted once: {totals}. Different kinds of figure are not added together.").format(
            totals=kind_totals(store.totals(shown), _)),
        ctx.ngettext("{n} award, largest first:", "{n} awards, largest first:", len(shown)).format(n=number(len(shown), ctx.lang)),
    ]
    if company and company.note:
        text.insert(1, _("Note: {note}").format(note=company.note))
    limit = len(shown) if want_all else SHOWN
    for item in shown[:limit]:
        text += award_lines(ctx, item)
    rest = len(shown) - limit
    if rest > 0:
        text.append(_("…and {n} more: {command} in a DM").format(
            n=rest, command=code(f"{ctx.prefix}contracts {title} --all", limit=120)))
    refreshed, _error = await store.refresh_status(ctx.db)
    if refreshed:
        text.append(_("Awards last looked up on USAspending.gov on {day}.").format(day=refreshed))
    return [Reply("\n".join(text))]


async def _overview(ctx: Context, found: CompanyDirectory) -> str:
    _ = ctx._
    ranked = await store.company_totals(ctx.db)
    if not ranked:
        return _("I have no contract data yet. An admin can load it with `organizer-bot contracts load`.")
    text = [_("**Companies with the most known ICE-related contract value** (each award once; kinds not added):")]
    for item in ranked[:TOP]:
        name = plain(_display(found, item.company_key, item.vendor), 60)
        awards = ctx.ngettext("({n} award)", "({n} awards)", item.awards).format(n=number(item.awards, ctx.lang))
        text.append(f"• **{name}**: {kind_totals(item.cents, _)} {awards}")
    text.append(ctx.ngettext(
        "{n} company in all. `{prefix}contracts <company>` for one company, `{prefix}contracts search <words>` to "
        "search what the contracts are for.",
        "{n} companies in all. `{prefix}contracts <company>` for one company, `{prefix}contracts search <words>` to "
        "search what the contracts are for.", len(ranked)).format(n=number(len(ranked), ctx.lang), prefix=ctx.prefix))
    refreshed, _error = await store.refresh_status(ctx.db)
    if refreshed:
        text.append(_("Awards last looked up on USAspending.gov on {day}.").format(day=refreshed))
    return "\n".join(text)


async def _nothing(ctx: Context, found: CompanyDirectory, name: str, company: Company | None) -> str:
    _ = ctx._
    if company is not None:
        text = _("No known ICE contracts for **{company}** ({asked}) in my data.").format(company=company.display,
                                                                                          asked=code(name))
        if company.note:
            text += "\n" + _("Note: {note}").format(note=company.note)
    else:
        text = _("No known ICE contracts for {asked}.").format(asked=code(name))
        close = found.suggest(name, extra=await store.vendor_names(ctx.db))
        if close:
            text += " " + _("Closest names: {names}.").format(names=", ".join(f"**{plain(c, 60)}**" for c in close))
    return text + "\n" + _(SUGGEST_SOURCE)


def fts_query(text: str, max_words: int = 8) -> str:
    """Member words → a safe FTS5 query: each word quoted (so `OR`, `NEAR(`, `*`, `"` are plain
    text), all words required."""
    words = re.findall(r"\w+", text)[:max_words]
    return " ".join(f'"{w}"' for w in words)


@command("contracts search", usage=N_("<words>"), summary=N_("Search what known ICE contracts are for"),
         example=N_("facial recognition"),
         details=N_("Finds awards whose description (or vendor) contains all the words; word endings are ignored."),
         aliases=("contratos buscar",))
async def contracts_search_cmd(ctx: Context, args: Args) -> list[Output]:
    _ = ctx._
    query = fts_query(args.rest)
    if not query:
        raise UsageError(_("Give some words to look for, like `{prefix}contracts search facial recognition`.").format(
            prefix=ctx.prefix))
    shown, total = await store.search(ctx.db, query, limit=SHOWN)
    typed = code(args.rest.strip())
    if not shown:
        return [Reply(_("No known ICE contract mentions {words}.").format(words=typed) + "\n" + _(SUGGEST_SOURCE))]
    found = await directory(ctx.db)
    text = [ctx.ngettext("{n} known award mentions {words}, largest first:",
                         "{n} known awards mention {words}, largest first:", total).format(n=number(total, ctx.lang), words=typed)]
    for item in shown:
        lines = award_lines(ctx, item)
        name = _display(found, item.award.company_key, item.award.vendor)
        if normalize(name) != item.award.vendor_key:
            lines[1] = f"  **{plain(name, 60)}**:" + lines[1][1:]
        text += lines
    if total > len(shown):
        text.append(_("…and {n} more. Add words to narrow the search.").format(n=total - len(shown)))
    return [Reply("\n".join(text))]

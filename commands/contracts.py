"""``!contracts``: what the public record says about a company's ICE contracts.

Figures come from ``storage.contracts`` where each award is counted once (obligated from the
newest source preferred) and totals are per kind of figure, never added across kinds.
"""

from __future__ import annotations

import re

from commands.base import Args, Context, Output, Reply, UsageError, code, command
from commands.common.directory import Company, CompanyDirectory, directory, legal_name_match, normalize
from commands.common.i18n import N_
from commands.options import Flag, Options
from storage import contracts as store
from storage.contracts import Shown

SHOWN = 8  # awards listed before "…and N more"
TOP = 10  # companies in the overview
_KIND_WORDS = {"obligated": "obligated", "ceiling": "ceiling (potential value)", "reported": "reported"}
_AGENCY_SHORT = {
    "U.S. Immigration and Customs Enforcement": "ICE",
    "U.S. Customs and Border Protection": "CBP",
    "U.S. Citizenship and Immigration Services": "USCIS",
}
_IGF = re.compile(r"^\s*IGF::[A-Z,]+::IGF\s*")
SUGGEST_SOURCE = (
    "Know a public record of one (a USAspending.gov award page or a news report)? "
    "Tell a coordinator of this room so it can be added."
)


def money(cents: int) -> str:
    dollars = round(cents / 100)
    return f"-${-dollars:,}" if dollars < 0 else f"${dollars:,}"


def _plain(text: str, limit: int = 160) -> str:
    """Data text placed in a reply: no mini-markup of its own, one line, trimmed."""
    text = " ".join(text.replace("`", "'").replace("**", "*").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def kind_totals(cents: dict[str, int]) -> str:
    parts = [f"**{money(cents[k])}** {_KIND_WORDS[k]}" for k in store.KINDS if k in cents]
    return " · ".join(parts) if parts else "no figures"


def _dates(start: str, end: str) -> str:
    if start and end:
        return f"{start} to {end}"
    if start:
        return f"from {start}"
    if end:
        return f"until {end}"
    return ""


def award_lines(item: Shown, with_vendor: bool = True) -> list[str]:
    award = item.award
    amount = (
        f"**{money(award.amount_cents)}** {award.amount_kind}" if award.amount_cents is not None
        else "amount not reported"
    )
    what = _plain(_IGF.sub("", award.description)) or "(no description)"
    facts = [_plain(award.vendor, 60)] if with_vendor else []
    dates = _dates(award.start_date, award.end_date)
    if dates:
        facts.append(dates)
    agency = award.sub_agency or award.agency
    if agency:
        facts.append(_AGENCY_SHORT.get(agency, agency))
    if award.award_id:
        facts.append(f"award `{_plain(award.award_id, 40)}`")
    source = award.source_url or _plain(award.source_title, 120)
    also = f" (also in {item.sources - 1} other source{'s' if item.sources > 2 else ''})" if item.sources > 1 else ""
    return [f"• {amount}: {what}", f"  {', '.join(facts)}", f"  Source: {source}{also}"]


def _display(found: CompanyDirectory, company_key: str, vendor: str) -> str:
    company = found.company(company_key)
    return company.display if company else vendor


CONTRACTS_OPTIONS = Options({"all": Flag()})


@command(
    "contracts",
    aliases=("contratos",),
    usage="contracts [<company>] [--all]",
    summary=N_("Known ICE contracts of a company (or the biggest contractors)"),
    example="contracts Palantir",
    details="Names, subsidiaries and products work (`AWS`, `Alphabet`, `West`). Totals count each award once "
    "and never add obligated money, ceilings and press figures together. `--all` lists every award (in a DM). "
    "See also `contracts search <words>`.",
)
async def contracts_cmd(ctx: Context, args: Args) -> list[Output]:
    given = CONTRACTS_OPTIONS.parse(args.rest, ctx.prefix)
    want_all, name = "all" in given, given.text
    found = await directory(ctx.db)
    if not name:
        return [Reply(await _overview(ctx, found))]
    if want_all and not ctx.room.is_dm:
        return [
            Reply(
                f"The full list can be long, so I send it only in a direct message. Open a DM with me and "
                f"type {code(f'{ctx.prefix}contracts {name} --all', limit=120)}."
            )
        ]
    company = found.resolve(name)
    keys = found.keys_for(company.key) if company else {normalize(name)}
    keys.discard("")
    shown = await store.awards_for(ctx.db, keys)
    if not shown and company is None and (vendor := legal_name_match(name, await store.vendor_names(ctx.db))):
        shown = await store.awards_for(ctx.db, {vendor})  # the name asked + generic words ("… SALES LLC")
    if not shown:
        return [Reply(await _nothing(ctx, found, name, company))]
    title = company.display if company else _plain(shown[0].award.vendor, 80)
    asked = "" if company and normalize(name) == company.key else f" (you asked for {code(name)})"
    text = [
        f"**{title}**: known ICE-related contracts{asked}",
        f"Known value, each award counted once: {kind_totals(store.totals(shown))}. "
        "Different kinds of figure are not added together.",
        f"{len(shown)} award{'s' if len(shown) != 1 else ''}, largest first:",
    ]
    if company and company.note:
        text.insert(1, f"Note: {company.note}")
    limit = len(shown) if want_all else SHOWN
    for item in shown[:limit]:
        text += award_lines(item)
    rest = len(shown) - limit
    if rest > 0:
        text.append(
            f"…and {rest} more: {code(f'{ctx.prefix}contracts {title} --all', limit=120)} in a DM"
        )
    return [Reply("\n".join(text))]


async def _overview(ctx: Context, found: CompanyDirectory) -> str:
    ranked = await store.company_totals(ctx.db)
    if not ranked:
        return "I have no contract data yet. An admin can load it with `organizer-bot contracts load`."
    text = ["**Companies with the most known ICE-related contract value** (each award once; kinds not added):"]
    for item in ranked[:TOP]:
        name = _plain(_display(found, item.company_key, item.vendor), 60)
        text.append(f"• **{name}**: {kind_totals(item.cents)} ({item.awards} award{'s' if item.awards != 1 else ''})")
    text.append(
        f"{len(ranked)} companies in all. `{ctx.prefix}contracts <company>` for one company, "
        f"`{ctx.prefix}contracts search <words>` to search what the contracts are for."
    )
    return "\n".join(text)


async def _nothing(ctx: Context, found: CompanyDirectory, name: str, company: Company | None) -> str:
    if company is not None:
        text = f"No known ICE contracts for **{company.display}** ({code(name)}) in my data."
        if company.note:
            text += f"\nNote: {company.note}"
    else:
        text = f"No known ICE contracts for {code(name)}."
        close = found.suggest(name, extra=await store.vendor_names(ctx.db))
        if close:
            text += " Closest names: " + ", ".join(f"**{_plain(c, 60)}**" for c in close) + "."
    return text + "\n" + SUGGEST_SOURCE


def fts_query(text: str, max_words: int = 8) -> str:
    """Member words → a safe FTS5 query: each word quoted (so `OR`, `NEAR(`, `*`, `"` are plain
    text), all words required."""
    words = re.findall(r"\w+", text)[:max_words]
    return " ".join(f'"{w}"' for w in words)


@command(
    "contracts search",
    usage="contracts search <words>",
    summary=N_("Search what known ICE contracts are for"),
    example="contracts search facial recognition",
    details="Finds awards whose description (or vendor) contains all the words; word endings are ignored.",
)
async def contracts_search_cmd(ctx: Context, args: Args) -> list[Output]:
    query = fts_query(args.rest)
    if not query:
        raise UsageError(f"Give some words to look for, like `{ctx.prefix}contracts search facial recognition`.")
    shown, total = await store.search(ctx.db, query, limit=SHOWN)
    if not shown:
        return [Reply(f"No known ICE contract mentions {code(args.rest.strip())}.\n{SUGGEST_SOURCE}")]
    found = await directory(ctx.db)
    text = [f"{total} known award{'s' if total != 1 else ''} mention {code(args.rest.strip())}, largest first:"]
    for item in shown:
        lines = award_lines(item)
        name = _display(found, item.award.company_key, item.award.vendor)
        if normalize(name) != item.award.vendor_key:
            lines[1] = f"  **{_plain(name, 60)}**:" + lines[1][1:]
        text += lines
    if total > len(shown):
        text.append(f"…and {total - len(shown)} more. Add words to narrow the search.")
    return [Reply("\n".join(text))]

"""Charts as images (issue 28): ``!chart pledge <slug>``, ``!chart rollcall <slug>``,
``!chart turnout <n>`` (Spanish ``!gráfico compromiso|lista|asistencia``).

The answer is one :class:`commands.base.Chart`: an encrypted image of figures that went through
the one small-cell rule, and in its ``body`` the same facts in words, word for word what
``!pledge info``, ``!rollcall`` and ``!actions`` say, for screen readers and text-only clients.
The image shows only what those words show: an exact figure as a bar, a pooled one ("fewer than
9") as a hatched range from 0 to the floor. No daily series is drawn (nothing stores one).
"""

from __future__ import annotations

from commands import rollcall
from commands.base import Args, Chart, CommandError, Context, Output, UsageError, code, command
from commands.common import chart
from commands.common.i18n import N_
from commands.common.smallcell import exact_from, in_words, suppress_total
from commands.pledges import find, pledge_info
from commands.pledges.figures import figure, pledge_spec, tally
from commands.rsvp import turnout_words
from storage import actions as actions_store
from storage import rsvps

KINDS = {"pledge": "pledge", "compromiso": "pledge", "rollcall": "rollcall", "lista": "rollcall",
         "turnout": "turnout", "asistencia": "turnout"}
CHART_DETAILS = N_(
    "The chart is an encrypted image, with the same figures in words for screen readers. It shows only what "
    "the text commands show: groups below the minimum size are pooled and drawn as a range, never as a count."
)


@command("chart", usage=N_("pledge|rollcall|turnout <slug or n>"), aliases=("grafico", "gráfico"),
         summary=N_("A pledge's, roll-call's or action's figures as a chart."), example=N_("pledge letter"),
         details=CHART_DETAILS)
async def chart_cmd(ctx: Context, args: Args) -> list[Output]:
    kind = KINDS.get(args.tokens[0].casefold()) if args.tokens else None
    if kind is None or len(args.tokens) != 2:
        raise UsageError(ctx._("Type `{prefix}chart pledge <slug>`, `{prefix}chart rollcall <slug>` or "
                               "`{prefix}chart turnout <n>`.").format(prefix=ctx.prefix))
    name = args.tokens[1]
    if kind == "pledge":
        return await _pledge(ctx, name)
    if kind == "rollcall":
        return await _rollcall(ctx, name)
    return await _turnout(ctx, name)


async def _pledge(ctx: Context, slug: str) -> list[Output]:
    pledge = await find(ctx, slug)
    words = await pledge_info(ctx, Args((slug,), slug))  # the same facts as the text command
    t = await tally(ctx.db, pledge, ctx.settings.BOT_MIN_CELL)
    body = "\n".join(out.text for out in words if hasattr(out, "text") and isinstance(out.text, str))
    return [Chart(pledge_spec(pledge, t, ctx.settings.BOT_MIN_CELL, ctx._), body)]


async def _rollcall(ctx: Context, slug: str) -> list[Output]:
    rc = await rollcall.pick(ctx, slug, "chart rollcall")
    s = ctx.settings
    snap, at = await rollcall.shown(ctx.db, rc, s.BOT_MIN_CELL, s.BOT_TALLY_INTERVAL, ctx.now)
    body = rollcall.render(rc, rc.title, snap, at, zone=ctx.zone, lang=ctx.lang)
    rows = [(in_words(label, ctx._), *figure(text, ctx._)) for label, text in snap["rows"]]
    floor = int(snap.get("floor", snap["k"]))
    spec = chart.spec(ctx._("Roll-call {slug}: {title}").format(slug=rc.slug, title=rc.title), rows, floor=floor,
                      subtitle=ctx._("Total: {total}").format(total=in_words(snap["total"], ctx._)),
                      note=ctx._("Groups of fewer than {k} are pooled and drawn as a range.").format(k=floor))
    return [Chart(spec, body)]


async def _turnout(ctx: Context, token: str) -> list[Output]:
    raw = token.lstrip("#")
    if not raw.isdigit() or len(raw) > 9:
        raise UsageError(ctx._("{token} is not an action number. The numbers are shown by `{prefix}actions`.").format(
            token=code(token, 20), prefix=ctx.prefix))
    action = await actions_store.action_in_room(ctx.db, ctx.keyring, int(raw), ctx.room.room_id)
    if action is None:
        raise CommandError(ctx._("There is no upcoming action #{n} in this room. See `{prefix}actions`.").format(
            n=int(raw), prefix=ctx.prefix))
    k = ctx.settings.BOT_MIN_CELL
    counts = await rsvps.turnout(ctx.db, action.id)
    words = turnout_words(counts, k, ctx._) or ctx._("Nobody has answered yet.")
    body = f"**#{action.id}** {ctx.show_time(action.occurs_at, action.zone)}: {action.text}\n{words}"
    shown = [("yes", N_("yes")), ("maybe", N_("maybe"))] + ([("went", N_("went"))] if counts["went"] else [])
    rows = [(ctx._(label), *figure(suppress_total(counts[key], k), ctx._)) for key, label in shown]
    floor = exact_from(k)
    spec = chart.spec(ctx._("Action #{n}: {text}").format(n=action.id, text=action.text), rows, floor=floor,
                      subtitle=ctx.show_time(action.occurs_at, action.zone),
                      note=ctx._("Groups of fewer than {k} are pooled and drawn as a range.").format(k=floor))
    return [Chart(spec, body)]

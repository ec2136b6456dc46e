"""Award alerts in the rooms: ``!alerts here|off`` and the scheduled posting of what the bot's
look-ups found (``bot/runtime/awards/lookup.py`` finds them; this module words them).

The home room gets every alert unless a coordinator turns it off there; any other campaign room
gets them once a room coordinator types ``!alerts here``. Each alert names the recipient, the
agency, the amount (and for a modification the change), the date, a one-line description and
the source link, in each room's language.
"""

from __future__ import annotations

from datetime import UTC, datetime

from commands.base import (
    Args,
    Context,
    Env,
    Localized,
    Output,
    Post,
    Reply,
    Role,
    UsageError,
    command,
    due_source,
)
from commands.common.i18n import N_, translations
from commands.contracts import AGENCY_SHORT, money, plain
from storage import contracts as store
from storage import digest as digest_store
from storage import prefs
from storage.contracts import PendingAlert
from storage.contracts.data import SOURCE_AWARDS
from storage.db import Database
from storage.hashing import Keyring

ALERTS = "alerts"  # the room preference: "on" or "off" (the home room is on unless turned off)
_ON = ("here", "on", "aquí", "aqui", "sí", "si")
_OFF = ("off", "no")
NEW = N_("📄 New contract award: **{recipient}**, {amount} from {agency} ({date}). {what}\nSource: {source}")
CHANGED = N_("📄 Contract award changed: **{recipient}**, now {amount} from {agency} ({change}; {date}). "
             "{what}\nSource: {source}")


@command(
    "alerts", usage=N_("[here|off]"), aliases=("alertas",), role=Role.ROOM_COORDINATOR,
    summary=N_("New contract awards posted in this room, or not."),
    example=N_("here"),
    details=N_("Once a day (as the admin set it) I look up the contract awards of every company I know on "
               "USAspending.gov and post each new award or changed amount here, with its source. The campaign's "
               "home room gets them unless turned off there."),
)
async def alerts_cmd(ctx: Context, args: Args) -> list[Output]:
    _ = ctx._
    word = args.rest.strip().casefold()
    if ctx.room.is_dm:
        raise UsageError(_("Award alerts go to rooms: type this in the room that should get them."))
    if word in _ON or word in _OFF:
        async with ctx.db.transaction():
            await prefs.set_room_pref(ctx.db, ctx.keyring, ctx.room.room_id, ALERTS, "on" if word in _ON else "off")
        return [Reply(_("New contract awards will be posted here.") if word in _ON
                      else _("No more contract award alerts here."))]
    if word:
        raise UsageError(_("Type `{prefix}alerts here` or `{prefix}alerts off`.").format(prefix=ctx.prefix))
    on = await _wants(ctx.db, ctx.keyring, ctx.room.room_id, _is_home(ctx, ctx.room.room_id))
    refreshed, _error = await store.refresh_status(ctx.db)
    state = _("This room gets new contract award alerts.") if on else _("This room gets no contract award alerts.")
    when = (_("Last look-up: {day}.").format(day=refreshed) if refreshed
            else _("No look-up has been made yet."))
    return [Reply(f"{state} {when}")]


def _is_home(ctx: Context | Env, room_id: str) -> bool:
    home = ctx.shell.campaign().home
    return home is not None and home.room_id == room_id


async def _wants(db: Database, keyring: Keyring, room_id: str, is_home: bool) -> bool:
    chosen = await prefs.room_pref(db, keyring, room_id, ALERTS)
    return chosen == "on" or (chosen is None and is_home)


def alert_text(alert: PendingAlert) -> Localized:
    award = alert.award

    def text(lang: str) -> str:
        _ = translations(lang).gettext
        amount = money(award.amount_cents) if award.amount_cents is not None else _("an amount not reported")
        agency = award.sub_agency or award.agency
        facts = {
            "recipient": plain(award.vendor, 80), "amount": amount,
            "agency": AGENCY_SHORT.get(agency, plain(agency, 60)),
            "date": award.last_modified[:10] or award.start_date or "?",
            "what": plain(award.description, 140) or _("(no description)"),
            "source": award.source_url or plain(award.source_title, 120),
        }
        if alert.previous_cents is None:
            return _(NEW).format(**facts)
        delta = (award.amount_cents or 0) - alert.previous_cents
        change = _("was {before}, {sign}{delta}").format(
            before=money(alert.previous_cents), sign="+" if delta >= 0 else "−", delta=money(abs(delta)))
        return _(CHANGED).format(change=change, **facts)

    return text


@due_source("alerts")
class AwardAlertPosts:
    @staticmethod
    async def next_due(db: Database) -> datetime | None:
        return datetime(2000, 1, 1, tzinfo=UTC) if await store.next_alert(db) else None  # due since ever

    @staticmethod
    async def fire(env: Env) -> list[Output]:
        pending = await store.pending_alerts(env.db, SOURCE_AWARDS)
        await store.clear_alerts(env.db)
        rooms = [room.room_id for room in env.shell.campaign().rooms
                 if await _wants(env.db, env.keyring, room.room_id, _is_home(env, room.room_id))]
        await digest_store.note_alerts(env.db, env.now, len(pending) if rooms else 0)  # the weekly digest counts them
        return [Post(room_id, alert_text(alert)) for alert in pending for room_id in rooms]

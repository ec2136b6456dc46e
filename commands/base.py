"""The command core: declarations, parsing, the context a handler sees and what it returns.

A handler is ``async def handler(ctx: Context, args: Args) -> list[Output]``. It reads and
writes the database through ``storage`` (inside the transaction the shell opened for this
command), never calls the network, and returns outputs that the Matrix shell performs.
"""

from __future__ import annotations

import difflib
import enum
import html
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from commands.common.errors import CommandError as CommandError
from commands.common.errors import UsageError as UsageError
from commands.common.errors import code as code
from commands.common.i18n import N_, translations
from commands.common.timeparse import When, parse_when, show_instant
from commands.common.words import UNCLOSED_QUOTE, split_words

if TYPE_CHECKING:
    from bot.config import Settings
    from storage.db import Database
    from storage.hashing import Keyring, Member


_E = TypeVar("_E")
_T = TypeVar("_T")
_C = TypeVar("_C", bound=type)


class Role(enum.IntEnum):
    """Who may run a command. ``ROOM_COORDINATOR``: power in *this* campaign room; manages only
    what belongs to it. ``COORDINATOR``: a campaign coordinator (power in the home room, or an
    admin); everything campaign-wide. See ``bot/runtime/campaign.py``."""

    MEMBER = 0
    ROOM_COORDINATOR = 1
    COORDINATOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return _ROLE_LABELS[self]


_ROLE_LABELS = {Role.MEMBER: N_("member"), Role.ROOM_COORDINATOR: N_("coordinator of this room"),
                Role.COORDINATOR: N_("coordinator of the campaign"), Role.ADMIN: N_("admin")}
_REFUSALS = {  # whole sentences, so that each language words them its own way
    Role.MEMBER: N_("Only a member can do that. Ask a coordinator of this room."),
    Role.ROOM_COORDINATOR: N_("Only a coordinator of this room can do that. Ask a coordinator of this room."),
    Role.COORDINATOR: N_("Only a coordinator of the campaign can do that. Ask a coordinator in the campaign's "
                         "home room."),
    Role.ADMIN: N_("Only an admin can do that. Ask the bot's admin."),
}


# ---------------------------------------------------------------- outputs


@dataclass(frozen=True)
class Reply:
    """A notice in the room of the command. ``private`` replies carry no reply relation, so the
    homeserver cannot link the answer to the member's message."""

    text: str
    private: bool = False


# A text for readers the handler does not know: a function of the reader's language, called once
# per destination when the output is queued (bot/runtime/outputs.py), so each room and DM reads it in its
# own language and nobody's language shows in what others get.
Localized = Callable[[str], str]


@dataclass(frozen=True)
class Post:
    """A message to another room the bot is in (``m.text`` for reminders that should notify)."""

    room_id: str
    text: str | Localized
    msgtype: str = "m.notice"


@dataclass(frozen=True)
class DirectMessage:
    """A notice to the asking member's encrypted DM with the bot (created if needed)."""

    text: str


@dataclass(frozen=True)
class Announce:
    """The same notice to each listed room and to every DM the bot has, so that receiving it
    reveals nothing about who caused it."""

    text: str | Localized
    room_ids: tuple[str, ...] = ()
    all_dms: bool = True


@dataclass(frozen=True)
class HubNews:
    """The same message to the DM of every member who joined by code (``!join``) and is not quiet
    (``!quiet on``): broadcasts, poll results and reminders of actions marked for DMs (issue 26)."""

    text: str | Localized
    msgtype: str = "m.notice"
    tracked: bool = False  # a coordinator's broadcast: counted for `!broadcast status`, reported when done


@dataclass(frozen=True)
class RedactCommand:
    """Redact the member's command message (if the bot may), after the command is recorded."""


@dataclass(frozen=True)
class Broadcast:
    """Post to many rooms and report back, in the command's room, which failed."""

    room_ids: tuple[str, ...]
    text: str
    msgtype: str = "m.text"


@dataclass(frozen=True)
class LeaveRoom:
    """The bot leaves a room (``!rooms leave``); it stops being a campaign room."""

    room_id: str


# What a handler returns: messages, and leaving a room. How each becomes an outbox row is
# bot/runtime/outputs.py. (Telling a background service that its plan changed is not a message:
# ``ctx.wake(name)``.)
Output = Reply | Post | DirectMessage | Announce | HubNews | RedactCommand | Broadcast | LeaveRoom


# ---------------------------------------------------------------- context


@dataclass(frozen=True)
class RoomView:
    room_id: str
    name: str
    is_dm: bool
    encrypted: bool


@dataclass(frozen=True)
class RoomFacts:
    """Room state for safety checks (``!audit``); read from the synced state, no network."""

    room_id: str
    name: str
    encrypted: bool
    join_rule: str
    history_visibility: str
    guest_access: str
    member_servers: dict[str, int]  # homeserver name → joined members on it
    powers: dict[str, int]  # display names of members at or above moderator → power level
    bot_can_redact: bool


@dataclass(frozen=True)
class CampaignView:
    """The campaign as the shell knows it now (``bot/runtime/campaign.py``)."""

    home: RoomView | None
    rooms: tuple[RoomView, ...]  # campaign rooms the bot is in, the home room included
    waiting: tuple[RoomView, ...]  # group rooms the bot is in that await approval
    home_configured: bool = False  # BOT_HOME_ROOM decides the home room


class Shell(Protocol):
    """What handlers may ask the Matrix shell, read-only and without network calls."""

    def rooms(self) -> list[RoomView]: ...
    def can_redact(self, room_id: str) -> bool: ...
    def master_key_fingerprint(self) -> str | None: ...
    def dm_room_of(self, member: Member) -> str | None: ...  # the encrypted DM with ``member``, if any
    def room_facts(self, room_id: str) -> RoomFacts | None: ...
    def campaign(self) -> CampaignView: ...
    def rooms_of(self, member: Member) -> set[str]: ...  # the campaign rooms ``member`` is joined to now


@dataclass
class Context:
    db: Database
    keyring: Keyring
    settings: Settings
    member: Member
    role: Role
    room: RoomView
    now: datetime  # timezone-aware UTC
    shell: Shell
    event_id: str | None = None
    prefix: str = "!"
    wakes: set[str] = field(default_factory=set)
    lang: str = "en"  # the reader's language (commands/common/i18n.py): the member's in a DM, the room's
    tz: str | None = None  # the reader's chosen time zone (!tz, !room tz): the member's in a DM, the room's

    @property
    def zone(self) -> str:
        """The zone a time typed without one is in: the reader's, else ``BOT_DEFAULT_TIMEZONE``."""
        return self.tz or self.settings.BOT_DEFAULT_TIMEZONE

    def shown_zone(self, own: str) -> str:
        """The zone to show a stored time in: the reader's when they (or the room) chose one, else
        the time's own zone (``own``: the zone it was set in)."""
        return self.tz or own

    @property
    def default_zone(self) -> str:
        """``BOT_DEFAULT_TIMEZONE``: the zone of a reader who chose none (to name it, as ``!tz`` does)."""
        return self.settings.BOT_DEFAULT_TIMEZONE

    def read_time(self, text: str, *, allow_past: bool = False) -> When:
        """The one way a command reads a time: in English or Spanish, in the reader's zone (unless
        the text names one), with problems worded in the reader's language
        (:mod:`commands.common.timeparse`)."""
        return parse_when(text, now=self.now, default_zone=self.zone, allow_past=allow_past, lang=self.lang)

    def show_time(self, instant: datetime | When, own: str | None = None, *, zone: str | None = None) -> str:
        """The one way a command shows an instant: as the reader writes a date in a sentence, in
        their language and zone (``Tuesday 8 December at 18:00 PST`` / ``martes 8 de diciembre a
        las 18:00 PST``). A :class:`When` just read is shown in the zone it was read in (the
        reader's, or the one they typed); ``own``: the zone a stored time was set in, used when
        the reader chose none; ``zone``: show it in that zone (``!tz`` showing a member's clock)."""
        if isinstance(instant, When):
            return show_instant(instant.local, zone or instant.zone.key, self.lang, self.now)
        shown = zone or (self.shown_zone(own) if own else self.zone)
        return show_instant(instant, shown, self.lang, self.now)

    def _(self, text: str) -> str:
        """``text`` in the reader's language."""
        return translations(self.lang).gettext(text)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return translations(self.lang).ngettext(singular, plural, n)

    def require(self, role: Role) -> None:
        if self.role < role:
            raise CommandError(self._(_REFUSALS[role]))

    def wake(self, service: str) -> None:
        """Tell a background service (such as ``"scheduler"``) that its plan changed; the shell
        wakes it after this command's transaction has committed (never if it rolled back)."""
        self.wakes.add(service)


# ---------------------------------------------------------------- arguments


@dataclass(frozen=True)
class Args:
    """What follows the command name. Commands with ``--options`` declare them once with
    :class:`commands.options.Options` and parse ``rest`` with it."""

    tokens: tuple[str, ...]  # shell-split words after the command name
    rest: str  # the raw text after the command name, spacing kept


# ---------------------------------------------------------------- declarations

Handler = Callable[[Context, Args], Awaitable[list[Output]]]


@dataclass(frozen=True)
class Command:
    name: str  # one or two words: "help", "pledge create"
    usage: str  # without prefix: "pledge create <slug> <title…> [--goal N]"
    summary: str
    role: Role
    handler: Handler
    example: str = ""
    details: str = ""  # longer help shown by !help <command>; "{prefix}" becomes the command prefix
    family: str = ""
    aliases: tuple[str, ...] = ()  # its names in Spanish (the first is shown in Spanish help)


# ---------------------------------------------------------------- registries
#
# Every registry below is a name → entry mapping filled by one decorator at the definition it
# registers (``@command``, ``@member_data``, ``@due_source``, ``@retention_hook``,
# ``@export_hook``). They are filled when :func:`commands.load_all` imports the families listed
# in ``commands/__init__.py``, never by assignment elsewhere; a name declared twice is an error.

REGISTRY: dict[str, Command] = {}
ALIASES: dict[str, str] = {}  # another language's word for a command → the command's name ("ayuda" → "help")


def _registrar(registry: dict[str, _E], kind: str, name: str, entry: Callable[[_T], _E]) -> Callable[[_T], _T]:
    """The decorator that registers ``entry(target)`` under ``name`` and gives the target back."""

    def register(target: _T) -> _T:
        if name in registry:
            raise RuntimeError(f"{kind} {name!r} declared twice")
        registry[name] = entry(target)
        return target

    return register


def command(
    name: str,
    *,
    usage: str,
    summary: str,
    role: Role = Role.MEMBER,
    example: str = "",
    details: str = "",
    aliases: tuple[str, ...] = (),
) -> Callable[[Handler], Handler]:
    """Declare a command once; ``!help`` is generated from these declarations. ``aliases``: the
    command's name in other languages (Spanish ``!ayuda`` for ``!help``)."""
    key = name.lower()
    for alias in aliases:
        _registrar(ALIASES, "command alias", alias, lambda _: key)(None)

    def entry(handler: Handler) -> Command:
        family = handler.__module__.rsplit(".", 1)[-1]
        return Command(key, usage, summary, role, handler, example, details, family, aliases)

    return _registrar(REGISTRY, "command", key, entry)


@dataclass(frozen=True)
class MemberData:
    """How one domain lists (``!mydata``) and deletes (``!forget``) a member's records."""

    name: str
    describe: Callable[[Context], Awaitable[list[str]]]
    forget: Callable[[Context], Awaitable[int]]


MEMBER_DATA: dict[str, MemberData] = {}


def member_data(name: str) -> Callable[[_C], _C]:
    """Class decorator: a class with ``describe`` and ``forget`` static coroutines."""
    return _registrar(MEMBER_DATA, "member data", name,
                      lambda cls: MemberData(name, cls.describe, cls.forget))  # type: ignore[attr-defined]


# ---------------------------------------------------------------- parsing

MAX_COMMAND_CHARS = 4000


@dataclass(frozen=True)
class Parsed:
    command: Command | None
    name: str  # what the member typed as the command name
    args: Args
    # why the command cannot run (unknown command, broken quoting, too long): found before anyone's
    # language is known, so it is a function of the reader's language that the intake renders
    error: Localized | None = None


def parse(body: str, prefix: str) -> Parsed | None:
    """``None`` when the text is not addressed to the bot. Otherwise the command (or ``None``
    with an error for unknown commands and broken quoting)."""
    text = body.strip()
    if not text.startswith(prefix):
        return None
    text = text[len(prefix) :]
    if not text or text[0].isspace():
        return None  # a bare prefix or "! something" is ordinary chat
    head = text.split(None, 1)[0][:64]
    if len(body) > MAX_COMMAND_CHARS:
        return Parsed(None, head.lower(), Args((), ""), localized(TOO_LONG, limit=MAX_COMMAND_CHARS))
    words = text.split(None, 2)
    first = ALIASES.get(words[0].lower(), words[0].lower())
    second = words[1].lower() if len(words) > 1 else ""
    if second and f"{first} {second}" in REGISTRY:
        name, rest = f"{first} {second}", words[2] if len(words) > 2 else ""
    else:
        name, rest = first, text[len(words[0]) :].strip()
    try:
        tokens = tuple(split_words(rest)) if rest else ()
    except ValueError:
        return Parsed(REGISTRY.get(name), name, Args((), rest), localized(UNCLOSED_QUOTE))
    found = REGISTRY.get(name)
    if found is None:
        return Parsed(None, first, Args(tokens, rest), unknown_command_text(first, prefix))
    return Parsed(found, name, Args(tokens, rest))


TOO_LONG = N_("That message is too long for a command (over {limit} characters). Send a shorter one.")
UNKNOWN = N_("Unknown command `{command}`. Try `{prefix}help`.")
UNKNOWN_CLOSE = N_("Unknown command `{command}`. Try `{prefix}help`. Did you mean `{close}`?")


def localized(text: str, **params: Any) -> Localized:
    """``text`` (marked with :func:`N_`) with its ``{placeholders}``, in whichever language reads it."""
    return lambda lang: translations(lang).gettext(text).format(**params)


def unknown_command_text(name: str, prefix: str) -> Localized:
    heads = sorted({n.split()[0] for n in REGISTRY})
    close = difflib.get_close_matches(name, heads, n=1, cutoff=0.6)
    shown = f"{prefix}{name[:40]}"
    if close:
        return localized(UNKNOWN_CLOSE, command=shown, prefix=prefix, close=prefix + close[0])
    return localized(UNKNOWN, command=shown, prefix=prefix)


def closest(word: str, choices: Iterable[str], cutoff: float = 0.6) -> str | None:
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return found[0] if found else None


# ---------------------------------------------------------------- rendering

_CODE = re.compile(r"`([^`\n]+)`")
_BOLD = re.compile(r"\*\*([^*\n]+)\*\*")


def render(text: str) -> tuple[str, str]:
    """Mini-markup to (plain body, HTML). Everything is escaped first, so member input placed
    in a reply can never become HTML. Supports `code`, **bold** and line breaks."""
    # code spans are set aside before **bold** is applied, so member input quoted with code()
    # stays literal (no bold inside it), in HTML and in the plain body
    spans: list[str] = []
    marker = "\ue000"
    while marker in text:
        marker += "\ue000"

    def set_aside(match: re.Match[str]) -> str:
        spans.append(match.group(1))
        return f"{marker}{len(spans) - 1}{marker}"

    def restore(template: str, value: str, escape: bool) -> str:
        return re.sub(re.escape(marker) + r"(\d+)" + re.escape(marker),
                      lambda m: template.format(html.escape(spans[int(m.group(1))], quote=False)
                                                if escape else spans[int(m.group(1))]), value)

    aside = _CODE.sub(set_aside, text)
    formatted = _BOLD.sub(r"<strong>\1</strong>", html.escape(aside, quote=False)).replace("\n", "<br>")
    plain = _BOLD.sub(r"\1", aside)
    return restore("`{}`", plain, False), restore("<code>{}</code>", formatted, True)


# ---------------------------------------------------------------- timed work


@dataclass
class Env:
    """What background work (scheduled reminders, deadlines) sees: like a Context without
    an asking member or room."""

    db: Database
    keyring: Keyring
    settings: Settings
    now: datetime
    shell: Shell
    wakes: set[str] = field(default_factory=set)

    def wake(self, service: str) -> None:
        """As :meth:`Context.wake`: the caller wakes the services after its transaction commits."""
        self.wakes.add(service)


@dataclass(frozen=True)
class DueSource:
    """Something that falls due at a time: action reminders, pledge deadlines, roll-call closes.

    ``next_due`` returns the earliest pending time (UTC) or ``None``. ``fire`` handles every
    item due at or before ``env.now``, marks them done and returns what to post; the scheduler
    runs it inside one transaction together with queueing those posts, so nothing is posted
    twice or lost across a crash."""

    name: str
    next_due: Callable[[Database], Awaitable[datetime | None]]
    fire: Callable[[Env], Awaitable[list[Output]]]


DUE_SOURCES: dict[str, DueSource] = {}


def due_source(name: str) -> Callable[[_C], _C]:
    """Class decorator: a class with ``next_due(db)`` and ``fire(env)`` static coroutines."""
    return _registrar(DUE_SOURCES, "due source", name,
                      lambda cls: DueSource(name, cls.next_due, cls.fire))  # type: ignore[attr-defined]


# Retention: each domain deletes its records of closed/past things older than the cutoff and
# returns how many rows it removed. Run daily by the operations job (BOT_RETENTION_DAYS).
RetentionHook = Callable[["Database", datetime], Awaitable[int]]
RETENTION_HOOKS: dict[str, RetentionHook] = {}

# Aggregate export (`organizer-bot export-aggregates`): each domain returns JSON-able data of
# aggregate counts only, every count passed through the one small-cell rule.
ExportHook = Callable[[Env], Awaitable[dict[str, Any]]]
EXPORT_HOOKS: dict[str, ExportHook] = {}


def retention_hook(name: str) -> Callable[[RetentionHook], RetentionHook]:
    """Function decorator: ``async def f(db, cutoff) -> rows deleted``."""
    return _registrar(RETENTION_HOOKS, "retention hook", name, lambda hook: hook)


def export_hook(name: str) -> Callable[[ExportHook], ExportHook]:
    """Function decorator: ``async def f(env) -> JSON-able aggregates``, exported under ``name``."""
    return _registrar(EXPORT_HOOKS, "export hook", name, lambda hook: hook)

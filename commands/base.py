"""The command core: declarations, parsing, the context a handler sees and what it returns.

A handler is ``async def handler(ctx: Context, args: Args) -> list[Output]``. It reads and
writes the database through ``storage`` (inside the transaction the shell opened for this
command), never calls the network, and returns outputs that the Matrix shell performs.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from commands.common.errors import CommandError as CommandError
from commands.common.errors import UsageError as UsageError
from commands.common.errors import code as code
from commands.common.i18n import N_, translations
from commands.common.markup import render as render
from commands.common.names import Names, fold, suggest
from commands.common.names import closest as closest
from commands.common.timeparse import When, parse_when, show_instant
from commands.common.words import UNCLOSED_QUOTE, split_words
from commands.outputs import Announce as Announce
from commands.outputs import Broadcast as Broadcast
from commands.outputs import Chart as Chart
from commands.outputs import DirectMessage as DirectMessage
from commands.outputs import HubNews as HubNews
from commands.outputs import LeaveRoom as LeaveRoom
from commands.outputs import Localized as Localized
from commands.outputs import Output as Output
from commands.outputs import Post as Post
from commands.outputs import RedactCommand as RedactCommand
from commands.outputs import Reply as Reply

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
    name: str  # its English name, one or two words: "help", "pledge create"
    arguments: str  # what follows the name in the usage line, marked with N_: "<slug> <title…> [--goal N]"
    summary: str
    role: Role
    handler: Handler
    example: str | None = None  # what follows the name in the example (N_); None: no example
    details: str = ""  # longer help shown by !help <command>; "{prefix}" becomes the command prefix
    family: str = ""
    aliases: tuple[str, ...] = ()  # its Spanish names, one or two words (the first is the one shown)

    @property
    def usage(self) -> str:
        """The English usage line, without prefix."""
        return f"{self.name} {self.arguments}".strip()

    def shown_name(self, lang: str) -> str:
        """Its name as a reader of ``lang`` sees it (both names work for everyone)."""
        return self.aliases[0] if lang == "es" and self.aliases else self.name

    def _with_name(self, tail: str, lang: str) -> str:
        said = translations(lang).gettext(tail) if tail else ""
        return f"{self.shown_name(lang)} {said}".strip()

    def usage_in(self, lang: str) -> str:
        """The usage line in ``lang``, without prefix: ``contratos [<empresa>] [--todas]``."""
        return self._with_name(self.arguments, lang)

    def usage_line(self, lang: str, prefix: str) -> str:
        """``Usage: `!…``` in ``lang``, for a reply to a wrong use."""
        return translations(lang).gettext(USAGE).format(usage=prefix + self.usage_in(lang))

    def example_in(self, lang: str) -> str | None:
        """The example in ``lang``, without prefix, or ``None``."""
        return None if self.example is None else self._with_name(self.example, lang)


# ---------------------------------------------------------------- registries
#
# Every registry below is a name → entry mapping filled by one decorator at the definition it
# registers (``@command``, ``@member_data``, ``@due_source``, ``@retention_hook``,
# ``@export_hook``). They are filled when :func:`commands.load_all` imports the families listed
# in ``commands/__init__.py``, never by assignment elsewhere; a name declared twice is an error.

REGISTRY: dict[str, Command] = {}
_NAMES: list[Names] = []  # the name table of the registry as it is now (built on first use)


def names() -> Names:
    """Every name a member may type for a command, in any language (:mod:`commands.common.names`)."""
    if not _NAMES or _NAMES[0].built_from != tuple(REGISTRY):
        _NAMES[:] = [Names.build((c.name, c.aliases) for c in REGISTRY.values())]
        _NAMES[0].built_from = tuple(REGISTRY)
    return _NAMES[0]


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
    example: str | None = None,
    details: str = "",
    aliases: tuple[str, ...] = (),
) -> Callable[[Handler], Handler]:
    """Declare a command once; ``!help``, parsing and typo suggestions are generated from these
    declarations. ``usage`` and ``example``: what follows the name (marked with ``N_``, so each
    language words its placeholders and examples; the name is put before it in the reader's
    language). ``aliases``: the command's Spanish names, one or two words, the first shown to
    Spanish readers (``"encuesta crear"`` for ``"poll create"``)."""
    key = name.lower()

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
    name: str  # the command's English name (what the member typed, when no command has it)
    args: Args
    # why the command cannot run (broken quoting, too long): found before anyone's language is
    # known, so it is a function of the reader's language that the intake renders
    error: Localized | None = None
    spanish: bool = False  # the name typed is Spanish (and no English name): see commands.language.first_contact

    def error_text(self, lang: str, role: Role, prefix: str) -> str:
        """Why it cannot run, for a reader of ``lang`` with ``role`` (suggestions are only
        commands that reader may use, named in their language)."""
        if self.error is not None:
            return self.error(lang)
        return unknown_command_text(self.name, prefix, lang, role)


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
    second = words[1] if len(words) > 1 else ""
    table = names()
    key, two = table.resolve(words[0], second)
    spanish = key is not None and table.is_spanish(words[0], second if two else "")
    if two:
        rest = words[2] if len(words) > 2 else ""
    else:
        rest = text[len(words[0]) :].strip()
    found = REGISTRY.get(key) if key is not None else None
    try:
        tokens = tuple(split_words(rest)) if rest else ()
    except ValueError:
        return Parsed(found, key or head.lower(), Args((), rest), localized(UNCLOSED_QUOTE), spanish)
    if found is None:
        return Parsed(None, head.lower(), Args(tokens, rest))
    return Parsed(found, found.name, Args(tokens, rest), spanish=spanish)


USAGE = N_("Usage: `{usage}`")
TOO_LONG = N_("That message is too long for a command (over {limit} characters). Send a shorter one.")
UNKNOWN = N_("Unknown command `{command}`. Try `{prefix}help`.")
UNKNOWN_CLOSE = N_("Unknown command `{command}`. Try `{prefix}help`. Did you mean `{close}`?")


def localized(text: str, **params: Any) -> Localized:
    """``text`` (marked with :func:`N_`) with its ``{placeholders}``, in whichever language reads it."""
    return lambda lang: translations(lang).gettext(text).format(**params)


def shown_heads(lang: str, role: Role) -> list[str]:
    """The first words of the command names a reader of ``lang`` with ``role`` sees in help."""
    return sorted({c.shown_name(lang).split()[0] for c in REGISTRY.values() if c.role <= role}, key=fold)


def unknown_command_text(name: str, prefix: str, lang: str, role: Role = Role.MEMBER) -> str:
    """"Unknown command", with the closest name the reader may use, in their language."""
    close = suggest(name, shown_heads(lang, role))
    shown = f"{prefix}{name[:40]}"
    _ = translations(lang).gettext
    if close:
        return _(UNKNOWN_CLOSE).format(command=shown, prefix=prefix, close=prefix + close)
    return _(UNKNOWN).format(command=shown, prefix=prefix)


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

    @property
    def default_zone(self) -> str:
        """``BOT_DEFAULT_TIMEZONE``: the zone of a room that chose none (as :attr:`Context.default_zone`)."""
        return self.settings.BOT_DEFAULT_TIMEZONE


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

"""What a handler returns: messages to send and rooms to leave (re-exported by
:mod:`commands.base`). How each becomes an outbox row is ``bot/runtime/sending/outputs.py``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Reply:
    """A notice in the room of the command. ``private`` replies carry no reply relation, so the
    homeserver cannot link the answer to the member's message."""

    text: str
    private: bool = False


# A text for readers the handler does not know: a function of the reader's language, called once
# per destination when the output is queued (bot/runtime/sending/outputs.py), so each room and DM reads it in its
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


@dataclass(frozen=True)
class Chart:
    """A chart as an encrypted image (``m.image``): ``spec`` is what
    :func:`commands.common.chart.render` draws (or a function of the reader's language giving
    it), ``text`` the same facts in words, its ``body`` for screen readers and text-only
    clients. ``room_id`` ``None``: an answer in the command's room; else posted to that room.
    ``news``: held for the next announcement round, like the :class:`Announce` it goes with."""

    spec: dict[str, Any] | Callable[[str], dict[str, Any]]
    text: str | Localized
    room_id: str | None = None
    news: bool = False


# What a handler returns: messages, and leaving a room. How each becomes an outbox row is
# bot/runtime/sending/outputs.py. (Telling a background service that its plan changed is not a message:
# ``ctx.wake(name)``.)
Output = Reply | Post | DirectMessage | Announce | HubNews | RedactCommand | Broadcast | LeaveRoom | Chart

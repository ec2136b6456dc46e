"""The one codec between what handlers return and what the outbox keeps.

A handler returns :data:`commands.base.Output` values (Reply, Post, DirectMessage, Announce,
RedactCommand, Broadcast, LeaveRoom, Chart). :func:`enqueue` turns each into typed delivery records
(:class:`Send`, :class:`SendDM`, :class:`Redact`, :class:`BroadcastTo`, :class:`Leave`,
:class:`SendImage`) and stores them as
outbox rows; :func:`decode` turns a stored row back into its record, which the sender
(``bot/runtime/sending/outbox.py``) performs by matching on its type. A new kind of output touches this
module and the sender only. Announcements and broadcasts reach only the campaign's rooms
(``bot/runtime/campaign.py``), whatever room IDs a handler named, and news reaches only the DMs
of current campaign members (checked again when it is sent: ``Outbox._deliver``).

The rows' JSON is the format the outbox has always had (``{"kind": "send"|"dm"|"redact"|
"broadcast"|"leave"|"image", ...}``), so rows queued by an older version still decode after an upgrade.
Why a fixed transaction ID per row makes sending exactly-once: see ``bot/runtime/shell.py``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Protocol

from commands import base
from commands.base import (
    Announce,
    Broadcast,
    Chart,
    DirectMessage,
    HubNews,
    LeaveRoom,
    Localized,
    Output,
    Post,
    RedactCommand,
    Reply,
    localized,
)
from commands.common.i18n import N_
from storage.core import ANSWER, BULK, EventBook
from storage.hub import broadcasts

log = logging.getLogger("organizer_bot")

NO_REDACT_TEXT = N_(
    "Coordinators: I can't remove members' pledge and roll-call messages here. "
    "Give me moderator power (power level 50) so I can redact them after recording."
)


def content(text: str, msgtype: str = "m.notice", relation: dict[str, Any] | None = None) -> dict[str, Any]:
    """A message event's content from mini-markup (plain body and HTML)."""
    plain, formatted = base.render(text)
    body: dict[str, Any] = {"msgtype": msgtype, "body": plain, "format": "org.matrix.custom.html",
                            "formatted_body": formatted}
    if relation:
        body["m.relates_to"] = relation
    return body


# Encrypted sizes (issue #23): Megolm hides a message's text, not its length, so the homeserver
# would tell a Spanish answer from an English one, or "yes" from "maybe", by the ciphertext's
# size. Every message is padded before encryption, in a content key clients do not render, to the
# next multiple of PAD_BUCKET bytes as nio serialises it (compact JSON, non-ASCII escaped): one
# size for every answer under 4 KiB. Longer ones go in 4 KiB steps, and nothing is padded past
# PAD_LIMIT (the event, base64'd, must stay under Matrix's 64 KiB).
PAD_KEY = "org.organizer_bot.padding"
PAD_BUCKET = 4096
PAD_LIMIT = 44 * 1024


def wire_size(content: dict[str, Any]) -> int:
    """The bytes nio encrypts for this content (``nio.Api.to_json``: compact, ``ensure_ascii``)."""
    return len(json.dumps(content, separators=(",", ":")))


def pad(content: dict[str, Any]) -> dict[str, Any]:
    """``content`` with :data:`PAD_KEY` set so its :func:`wire_size` is a multiple of
    :data:`PAD_BUCKET` (at most :data:`PAD_LIMIT`); a copy, the original is left as it was."""
    padded = {**content, PAD_KEY: ""}
    size = wire_size(padded)
    target = min(-(-size // PAD_BUCKET) * PAD_BUCKET, PAD_LIMIT)
    padded[PAD_KEY] = " " * max(target - size, 0)
    return padded


# ---------------------------------------------------------------- delivery records (durable)


class _Record:
    """A row's JSON is ``{"kind": kind, <field>: value, ...}``: the keys are the field names,
    except the field named by ``room_field``, which goes to the row's (sealed) room column.
    A field still at its default is left out; a list comes back as a tuple."""

    kind: ClassVar[str]
    room_field: ClassVar[str] = ""

    def row(self) -> tuple[str, dict[str, Any]]:
        payload: dict[str, Any] = {"kind": self.kind}
        for spec in fields(self):  # type: ignore[arg-type]
            value = getattr(self, spec.name)
            if spec.name != self.room_field and value != spec.default:
                payload[spec.name] = list(value) if isinstance(value, tuple) else value
        return (getattr(self, self.room_field) if self.room_field else ""), payload

    @classmethod
    def from_row(cls, room_id: str, payload: dict[str, Any]) -> Any:
        values: dict[str, Any] = {}
        for spec in fields(cls):  # type: ignore[arg-type]
            if spec.name == cls.room_field:
                values[spec.name] = room_id
            elif spec.name in payload:
                value = payload[spec.name]
                values[spec.name] = tuple(value) if isinstance(value, list) else value
        return cls(**values)


@dataclass(frozen=True)
class Send(_Record):
    """One message to one room."""

    kind: ClassVar[str] = "send"
    room_field: ClassVar[str] = "room_id"
    room_id: str
    content: dict[str, Any]


@dataclass(frozen=True)
class SendDM(_Record):
    """One message to a member's encrypted DM (opened when the sender gets to it).
    ``any_device``: share this one message's key with every device (see ``Outbox.send``)."""

    kind: ClassVar[str] = "dm"
    user: str
    content: dict[str, Any]
    any_device: bool = False


@dataclass(frozen=True)
class Redact(_Record):
    """Redact one event (a member's command message)."""

    kind: ClassVar[str] = "redact"
    room_field: ClassVar[str] = "room_id"
    room_id: str
    event_id: str


@dataclass(frozen=True)
class BroadcastTo(_Record):
    """The same message to many rooms, then a report to ``report_room`` ("" for none)."""

    kind: ClassVar[str] = "broadcast"
    room_field: ClassVar[str] = "report_room"
    rooms: tuple[str, ...]
    content: dict[str, Any]
    report_room: str = ""


@dataclass(frozen=True)
class Leave(_Record):
    """The bot leaves a room (it stopped being a campaign room)."""

    kind: ClassVar[str] = "leave"
    room_field: ClassVar[str] = "room_id"
    room_id: str


@dataclass(frozen=True)
class SendImage(_Record):
    """A chart to one room: its spec is drawn, encrypted and uploaded when it is sent
    (``bot/runtime/sending/images.py``), so the row holds figures already shown in words, never an image."""

    kind: ClassVar[str] = "image"
    room_field: ClassVar[str] = "room_id"
    room_id: str
    spec: dict[str, Any]
    body: str
    relation: dict[str, Any] | None = None


Delivery = Send | SendDM | Redact | BroadcastTo | Leave | SendImage
_KINDS: dict[str, type[Delivery]] = {kind.kind: kind for kind in (Send, SendDM, Redact, BroadcastTo, Leave,
                                                                   SendImage)}


def decode(room_id: str, payload: dict[str, Any]) -> Delivery | None:
    """The record an outbox row holds; ``None`` for a row this version cannot read."""
    kind = _KINDS.get(payload.get("kind"))  # type: ignore[arg-type]
    if kind is None:
        return None
    try:
        record: Delivery = kind.from_row(room_id, payload)
    except TypeError:  # a field missing
        return None
    return record


async def put(book: EventBook, txn_id: str, record: Delivery, lane: int = ANSWER, not_before: int = 0) -> None:
    """Store one record as an outbox row (inside the caller's transaction), in ``lane``, held
    until ``not_before`` (unix seconds) when that is set."""
    room_id, payload = record.row()
    await book.enqueue(txn_id, room_id, payload, lane, not_before)


# ---------------------------------------------------------------- handler outputs → records


@dataclass(frozen=True)
class ReplyTarget:
    """The command message a reply answers, and the thread it is in."""

    event_id: str
    thread_root: str | None = None

    def relation(self) -> dict[str, Any]:
        if self.thread_root:
            return {"rel_type": "m.thread", "event_id": self.thread_root, "is_falling_back": True,
                    "m.in_reply_to": {"event_id": self.event_id}}
        return {"m.in_reply_to": {"event_id": self.event_id}}


@dataclass(frozen=True)
class Origin:
    """Where outputs come from: a command (its room, message and sender), or background work
    (none of those). ``txn_base`` makes the rows' transaction IDs the same on every retry."""

    txn_base: str
    room_id: str | None = None
    reply_to: ReplyTarget | None = None
    sender: str | None = None


class RoomsSeen(Protocol):
    """The room knowledge the codec needs (``bot.runtime.rooms.Rooms``)."""

    async def language_of(self, room_id: str) -> str: ...
    def joined(self, room_id: str) -> bool: ...
    def is_campaign_room(self, room_id: str) -> bool: ...
    def member_dms(self) -> list[str]: ...
    def may_post(self, room_id: str) -> bool: ...
    async def hub_dms(self) -> list[str]: ...  # DMs of members by code who are not quiet (issue 26)
    def quiet_dm(self, room_id: str) -> bool: ...  # a DM whose member asked for no news (issue 26)
    def can_redact(self, room_id: str) -> bool: ...


async def enqueue(book: EventBook, rooms: RoomsSeen, outputs: list[Output], origin: Origin,
                  announce_delay: tuple[int, int] = (0, 0)) -> None:
    """Queue ``outputs`` as outbox rows, inside the caller's transaction. An :class:`Announce`
    is held for the next announcement round (``EventBook.announce_round``, drawn from
    ``announce_delay``): news that a member's signature crossed a threshold must not follow that
    member's own acknowledgement, which the homeserver sees, so it leaves later, batched."""
    stem = f"ob{book.txn_prefix(origin.txn_base)}"
    for index, output in enumerate(outputs):
        lane = BULK if isinstance(output, _BULK) or (isinstance(output, Chart) and output.room_id) else ANSWER
        news = isinstance(output, Announce) or (isinstance(output, Chart) and output.news)
        held = await book.announce_round(announce_delay) if news else 0
        records = await _records(output, origin, rooms, book)
        for suffix, record in records:
            await put(book, f"{stem}.{index}{suffix}", record, lane, held)
        if isinstance(output, HubNews) and output.tracked and records:  # counts only (storage/hub/broadcasts.py)
            posted = sum(len(o.room_ids) for o in outputs if isinstance(o, Broadcast))
            group = f"{stem}.{index}"
            await broadcasts.start(book.db, group, book.outbox_group(group), len(records), posted, time.time())


# sent after every queued answer: one command's news to many rooms must not delay the answers
# to the commands typed meanwhile (Post: reminders and deadline news from background work)
_BULK = (Announce, Broadcast, Post, HubNews)


async def _for(rooms: RoomsSeen, room_id: str, text: str | Localized) -> str:
    """``text`` as the readers of ``room_id`` read it (a plain text is the same for everyone)."""
    return text if isinstance(text, str) else text(await rooms.language_of(room_id))


async def _records(output: Output, origin: Origin, rooms: RoomsSeen, book: EventBook) -> list[tuple[str, Delivery]]:
    """The records for one output, each with its transaction-ID suffix (fan-outs number theirs)."""
    here = origin.room_id
    match output:
        case Reply(text=text, private=private):
            if here is None:
                return []
            relation = None if private or origin.reply_to is None else origin.reply_to.relation()
            return [("", Send(here, content(text, "m.notice", relation)))]
        case Post(room_id=room_id, text=text, msgtype=msgtype):
            if not rooms.may_post(room_id):
                return []  # the DM of someone no longer in the campaign
            return [("", Send(room_id, content(await _for(rooms, room_id, text), msgtype)))]
        case DirectMessage(text=text):
            return [] if origin.sender is None else [("", SendDM(origin.sender, content(text)))]
        case Announce(text=text, room_ids=room_ids, all_dms=all_dms):
            targets = [r for r in room_ids if rooms.joined(r) and rooms.is_campaign_room(r)]
            targets += [r for r in rooms.member_dms() if not rooms.quiet_dm(r)] if all_dms else []  # members' only
            return [(f".{offset}", Send(target, content(await _for(rooms, target, text))))
                    for offset, target in enumerate(dict.fromkeys(targets))]
        case HubNews(text=text, msgtype=msgtype):
            return [(f".{offset}", Send(target, content(await _for(rooms, target, text), msgtype)))
                    for offset, target in enumerate(await rooms.hub_dms())]
        case Broadcast(room_ids=room_ids, text=text, msgtype=msgtype):
            campaign_rooms = tuple(r for r in room_ids if rooms.is_campaign_room(r))
            return [("", BroadcastTo(campaign_rooms, content(text, msgtype), here or ""))]
        case RedactCommand():
            if here is None or origin.reply_to is None:
                return []
            if rooms.can_redact(here):
                return [("", Redact(here, origin.reply_to.event_id))]
            if await book.set_room_flag(here, "told_no_redact"):
                return [("", Send(here, content(await _for(rooms, here, localized(NO_REDACT_TEXT)))))]
            return []
        case LeaveRoom(room_id=room_id):
            return [("", Leave(room_id))]
        case Chart(spec=spec, text=text, room_id=room_id):
            target = room_id or here
            if target is None or (room_id is not None and not rooms.may_post(room_id)):
                return []
            relation = None if room_id is not None or origin.reply_to is None else origin.reply_to.relation()
            lang = await rooms.language_of(target)
            drawn = spec if isinstance(spec, dict) else spec(lang)
            return [("", SendImage(target, drawn, base.render(await _for(rooms, target, text))[0], relation))]
    log.error("an output of unknown type was not sent: %s", type(output).__name__)
    return []

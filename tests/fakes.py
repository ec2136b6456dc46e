"""A Context for calling handlers directly in unit tests (no homeserver)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.config import Settings
from commands import base, load_all
from commands.base import Args, CampaignView, Chart, Context, Env, Output, Role, RoomFacts, RoomView
from commands.language import first_contact, reader_language, reader_zone
from storage import atrest
from storage.db import Database
from storage.hashing import Keyring, Member
from storage.schema import open_database

TEST_KEY = base64.b64encode(b"k" * 32).decode()


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "MATRIX_HOMESERVER": "http://127.0.0.1:1", "MATRIX_USER_ID": "@bot:example.org",
        "MATRIX_PASSWORD": "x", "BOT_DATA_DIR": tmp_path, "BOT_HASH_KEY": TEST_KEY,
        "BOT_STORE_KEY": "store-key-for-tests", "BOT_TALLY_INTERVAL": 0,
        "BOT_ANNOUNCE_DELAY_MIN": 0, "BOT_ANNOUNCE_DELAY_MAX": 0,  # rounds at once unless a test sets them
        "BOT_MIN_CELL": 3,  # figures exact from 2k-1 = 5 (commands.common.smallcell.exact_from)
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class FakeShell:
    views: list[RoomView] = field(default_factory=list)
    redact: bool = True
    fingerprint: str | None = "ABCD EFGH"
    dms: dict[str, str] = field(default_factory=dict)  # user id → DM room id
    joined: dict[str, set[str]] = field(default_factory=dict)  # user id → campaign rooms (default: every group room)

    def rooms(self) -> list[RoomView]:
        return list(self.views)

    def can_redact(self, room_id: str) -> bool:
        return self.redact

    def master_key_fingerprint(self) -> str | None:
        return self.fingerprint

    def dm_room_of(self, member: Member) -> str | None:
        return self.dms.get(member.reveal())

    def room_facts(self, room_id: str) -> RoomFacts | None:
        return None

    def rooms_of(self, member: Member) -> set[str]:
        found = self.joined.get(member.reveal())
        return found if found is not None else {v.room_id for v in self.views if not v.is_dm}

    def campaign(self) -> CampaignView:
        """Every group room listed is a campaign room; the first one is the home room."""
        groups = tuple(v for v in self.views if not v.is_dm)
        return CampaignView(groups[0] if groups else None, groups, ())


ROOM = RoomView("!room:example.org", "Test room", is_dm=False, encrypted=True)
DM = RoomView("!dm:example.org", "DM", is_dm=True, encrypted=True)


@dataclass
class World:
    """A database and everything a handler needs; ``run`` calls a command like the shell does."""

    db: Database
    keyring: Keyring
    settings: Settings
    shell: FakeShell
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 24, 12, 0, tzinfo=UTC))
    woken: set[str] = field(default_factory=set)  # the services the last ``run`` asked to wake

    def ctx(self, user: str = "@alice:example.org", role: Role = Role.MEMBER, room: RoomView = ROOM,
            lang: str = "en") -> Context:
        return Context(db=self.db, keyring=self.keyring, settings=self.settings, member=Member(self.keyring, user),
                       role=role, room=room, now=self.now, shell=self.shell, event_id="$event", prefix="!",
                       lang=lang)

    def env(self) -> Env:
        return Env(db=self.db, keyring=self.keyring, settings=self.settings, now=self.now, shell=self.shell)

    async def run(self, text: str, user: str = "@alice:example.org", role: Role = Role.MEMBER,
                  room: RoomView = ROOM) -> list[Output]:
        """Parse ``text`` and run it as ``user`` inside a transaction; errors become replies."""
        parsed = base.parse(text, "!")
        assert parsed is not None, "not a command"
        lang = await reader_language(self.db, self.keyring, self.settings.BOT_DEFAULT_LANGUAGE, room.room_id,
                                     room.is_dm, Member(self.keyring, user))  # as the shell's intake does
        if parsed.error is not None or parsed.command is None:
            return [base.Reply(parsed.error_text(lang, role, "!"))]
        lang, note = await first_contact(self.db, self.keyring, Member(self.keyring, user), room.room_id, room.is_dm,
                                         parsed, lang)
        ctx = self.ctx(user, role, room, lang)
        ctx.tz = await reader_zone(self.db, self.keyring, room.room_id, room.is_dm, Member(self.keyring, user))
        self.woken = ctx.wakes
        out: list[Output]
        async with self.db.transaction():
            try:
                ctx.require(parsed.command.role)
                out = await parsed.command.handler(ctx, parsed.args)
            except base.UsageError as exc:
                out = [base.Reply(f"{exc}\n" + parsed.command.usage_line(ctx.lang, "!"))]
            except base.CommandError as exc:
                out = [base.Reply(str(exc))]
        if note is not None:  # as the shell's intake adds it
            out.append(base.Reply(ctx._(note).format(prefix="!"), private=True))
        return out


async def make_world(tmp_path: Path, *, at_rest: bool = False, **overrides: Any) -> World:
    """A world on a plaintext bot.db, or (``at_rest``) on SQLCipher keyed as the bot keys it."""
    load_all()
    tmp_path.mkdir(parents=True, exist_ok=True)
    s = settings(tmp_path, **overrides)
    keyring = Keyring(s.hash_key)
    key = atrest.file_key(s.store_key, atrest.DB_PURPOSE) if at_rest else None
    db = await open_database(tmp_path / "bot.db", keyring.fingerprint(), key=key)
    return World(db, keyring, s, FakeShell(views=[ROOM, DM]))


def texts(outputs: list[Output], lang: str = "en") -> str:
    """All text of the outputs, joined, for assertions (a text rendered per reader, as ``lang`` reads it)."""
    found: list[str] = []
    for o in outputs:
        text = getattr(o, "text", "")
        found.append(text if isinstance(text, str) else text(lang))
        if isinstance(o, Chart):  # the words drawn in the image too
            found.append("\n".join(chart_words(o.spec if isinstance(o.spec, dict) else o.spec(lang))))
    return "\n".join(found)


def chart_words(spec: dict[str, Any]) -> list[str]:
    """Every text a chart's spec draws."""
    words = [spec["title"], spec.get("subtitle", ""), spec.get("note", "")]
    words += [w for row in spec["rows"] for w in (row["label"], row["text"])]
    return words + ([spec["goal"]["text"]] if spec.get("goal") else [])


def args(*tokens: str) -> Args:
    return Args(tuple(tokens), " ".join(tokens))


@dataclass
class _Answer:
    status: int
    body: Any

    async def json(self, content_type: str | None = None) -> Any:
        return self.body


@dataclass
class RoomHistory:
    """The homeserver's answers about a joined room's own invite event (``bot/runtime/invites.py``):
    ``invites`` maps a room ID to the invite event the bot's join replaced (``None``: the
    homeserver serves no event form of the state, as an older one might)."""

    bot: str
    invites: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    access_token: str = "token"

    async def send(self, method: str, path: str, data: Any = None, headers: Any = None) -> _Answer:
        from urllib.parse import unquote

        parts = [unquote(p) for p in path.split("?")[0].split("/")]
        room_id = parts[5]
        invite = self.invites.get(room_id)
        if invite is None:
            return _Answer(404, {"errcode": "M_NOT_FOUND"})
        if parts[6] == "state":
            return _Answer(200, {"type": "m.room.member", "state_key": self.bot, "sender": self.bot,
                                 "event_id": "$join", "content": {"membership": "join"},
                                 "unsigned": {"replaces_state": invite["event_id"]}})
        return _Answer(200, invite) if parts[7] == invite["event_id"] else _Answer(404, {})


def invite_event(bot: str, sender: str, is_direct: bool = False, event_id: str = "$invite") -> dict[str, Any]:
    """A full ``m.room.member`` invite event for ``bot``, as the room's history holds it."""
    content: dict[str, Any] = {"membership": "invite"}
    if is_direct:
        content["is_direct"] = True
    return {"type": "m.room.member", "state_key": bot, "sender": sender, "event_id": event_id,
            "origin_server_ts": 1000, "content": content}

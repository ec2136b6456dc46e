"""A Context for calling handlers directly in unit tests (no homeserver)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.config import Settings
from commands import base, load_all
from commands.base import Args, CampaignView, Context, Env, Output, Role, RoomFacts, RoomView
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
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class FakeShell:
    views: list[RoomView] = field(default_factory=list)
    redact: bool = True
    fingerprint: str | None = "ABCD EFGH"
    dms: dict[str, str] = field(default_factory=dict)  # user id → DM room id

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
    found = (getattr(o, "text", "") for o in outputs)
    return "\n".join(text if isinstance(text, str) else text(lang) for text in found)


def args(*tokens: str) -> Args:
    return Args(tuple(tokens), " ".join(tokens))

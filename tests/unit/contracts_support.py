"""A fake command Context around a temporary database, for calling handlers directly."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

from bot.config import Settings
from commands.base import Args, Context, Output, Reply, Role, RoomView, render
from storage.db import Database
from storage.hashing import Keyring, Member

KEY = b"k" * 32


class FakeShell:
    def rooms(self) -> list[RoomView]:
        return []

    def can_redact(self, room_id: str) -> bool:
        return False

    def master_key_fingerprint(self) -> str | None:
        return None


def settings(tmp_path: Path) -> Settings:
    return Settings(
        MATRIX_HOMESERVER="https://matrix.example.org",
        MATRIX_USER_ID="@bot:example.org",
        MATRIX_PASSWORD="x",  # type: ignore[arg-type]
        BOT_HASH_KEY=base64.b64encode(KEY).decode(),  # type: ignore[arg-type]
        BOT_STORE_KEY="s" * 20,  # type: ignore[arg-type]
        BOT_DATA_DIR=tmp_path,
    )


def make_context(db: Database, tmp_path: Path, *, role: Role = Role.MEMBER, dm: bool = False) -> Context:
    keyring = Keyring(KEY)
    return Context(
        db=db,
        keyring=keyring,
        settings=settings(tmp_path),
        member=Member(keyring, "@alice:example.org"),
        role=role,
        room=RoomView("!dm:example.org" if dm else "!room:example.org", "Room", dm, True),
        now=datetime(2026, 9, 1, tzinfo=UTC),
        shell=FakeShell(),
    )


def args(text: str) -> Args:
    import shlex

    try:
        tokens = tuple(shlex.split(text))
    except ValueError:
        tokens = tuple(text.split())
    return Args(tokens, text)


def reply_text(outputs: list[Output]) -> str:
    """The plain text of the single reply a handler returned."""
    assert len(outputs) == 1 and isinstance(outputs[0], Reply), outputs
    return render(outputs[0].text)[0]

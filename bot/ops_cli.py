"""Operations subcommands of ``organizer-bot``: ``export-aggregates`` and ``burn``.

(``healthcheck`` and ``backup`` live in :mod:`bot.cli`.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.config import SECRET_FILE_KEYS, ConfigError, load_settings

BURN_WORD = "BURN"
# env-file lines that hold key material or credentials; burn blanks them
SECRET_LINE = re.compile(r"^\s*(export\s+)?(BOT_HASH_KEY|BOT_STORE_KEY|MATRIX_PASSWORD|MATRIX_ACCESS_TOKEN)\s*=")
DB_FILES = ("bot.db",)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    export = sub.add_parser(
        "export-aggregates", help="print aggregate, small-cell-suppressed counts as JSON",
        description="Print a JSON object with each domain's aggregate counts (every count passed through "
                    "the small-cell rule; nothing that identifies a member or a room) and the schema versions.")
    export.add_argument("--env-file", type=Path, default=None, metavar="PATH",
                        help="env file with the configuration (default: ./.env if present)")
    export.set_defaults(handler=cmd_export)

    burn = sub.add_parser(
        "burn", help="EMERGENCY: destroy the keys so the data can no longer be linked to anyone",
        description="Overwrite with random bytes and delete: the key files given with --key-file, the key "
                    "lines of the env file, the end-to-end-encryption store, the saved session and the "
                    "cross-signing keys in BOT_DATA_DIR. The remaining database holds only keyed hashes "
                    "that nobody can link to a member any more. Stop the bot first. This cannot be undone.")
    burn.add_argument("--env-file", type=Path, default=None, metavar="PATH",
                      help="env file with the configuration (its key lines are blanked)")
    burn.add_argument("--key-file", type=Path, action="append", default=[], metavar="PATH",
                      help="a file holding BOT_HASH_KEY, BOT_STORE_KEY or MATRIX_PASSWORD (repeatable)")
    burn.add_argument("--data-dir", type=Path, default=None, metavar="PATH",
                      help="BOT_DATA_DIR, if the configuration cannot be loaded any more")
    burn.add_argument("--yes-i-understand", action="store_true",
                      help=f"don't ask for the confirmation word {BURN_WORD} (for scripts)")
    burn.set_defaults(handler=cmd_burn)


# ---------------------------------------------------------------- export


class _NoRooms:
    """Export hooks get an Env whose shell knows no rooms: the export runs without Matrix."""

    def rooms(self) -> list[Any]:
        return []

    def can_redact(self, room_id: str) -> bool:
        return False

    def master_key_fingerprint(self) -> str | None:
        return None

    def dm_room_of(self, member: Any) -> str | None:
        return None

    def room_facts(self, room_id: str) -> Any:
        return None

    def campaign(self) -> Any:
        from commands.base import CampaignView

        return CampaignView(None, (), ())


async def export_aggregates(settings: Any) -> dict[str, Any]:
    """``{"bot": {schema versions, k, generated_at}, <hook name>: <hook data>, ...}``."""
    from bot.app import open_database
    from commands.base import EXPORT_HOOKS, Env

    db, keyring = await open_database(settings)
    try:
        now = datetime.now(UTC)
        env = Env(db=db, keyring=keyring, settings=settings, now=now, shell=_NoRooms())
        versions = {row[0]: row[1] for row in
                    await db.fetchall("SELECT domain, version FROM schema_versions ORDER BY domain")}
        result: dict[str, Any] = {"bot": {
            "generated_at": now.replace(microsecond=0).isoformat(),
            "min_cell": settings.BOT_MIN_CELL,
            "schema_versions": versions,
        }}
        async with db.transaction():  # one consistent snapshot across domains
            for name in sorted(EXPORT_HOOKS):
                result[name] = await EXPORT_HOOKS[name](env)
        return result
    finally:
        await db.close()


def cmd_export(args: argparse.Namespace) -> int:
    from bot.app import StartupError

    settings = load_settings(args.env_file)
    if not settings.db_path.exists():
        print(f"error: no database at {settings.db_path}", file=sys.stderr)
        return 1
    try:
        data = asyncio.run(export_aggregates(settings))
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    json.dump(data, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")
    return 0


# ---------------------------------------------------------------- burn


def shred(path: Path) -> bool:
    """Overwrite a file with random bytes (same length, flushed to disk), then delete it."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return False
    with open(path, "r+b", buffering=0) as handle:
        handle.write(os.urandom(max(size, 1)))
        os.fsync(handle.fileno())
    path.unlink()
    return True


def blank_env_secrets(path: Path) -> int:
    """Rewrite the env file in place without the values of its key and credential lines;
    the old content is first overwritten with random bytes. Returns how many lines were blanked."""
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    blanked = 0
    out = []
    for line in lines:
        match = SECRET_LINE.match(line)
        if match:
            out.append(f"{match.group(2)}=\n")
            blanked += 1
        else:
            out.append(line)
    if not blanked:
        return 0
    with open(path, "r+b", buffering=0) as handle:
        handle.write(os.urandom(len(text.encode())))
        os.fsync(handle.fileno())
        handle.seek(0)
        handle.truncate()
        handle.write("".join(out).encode())
        os.fsync(handle.fileno())
    return blanked


def _store_files(data_dir: Path) -> list[Path]:
    """Everything in BOT_DATA_DIR except the database itself: the E2EE store (``e2ee/``), the
    saved session (access token), the cross-signing keys, health state, temp files."""
    keep = {data_dir / name for name in DB_FILES}
    return sorted(p for p in data_dir.rglob("*") if p.is_file() and p not in keep
                  and not p.name.startswith(tuple(f"{n}-" for n in DB_FILES)))


def _compact_database(db_path: Path) -> None:
    """Fold the WAL into the database and rewrite it, so deleted rows' old pages are gone."""
    conn = sqlite3.connect(str(db_path), isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM")
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()


def cmd_burn(args: argparse.Namespace) -> int:
    data_dir: Path | None = args.data_dir
    env_file: Path | None = args.env_file
    if env_file is None and Path(".env").exists():
        env_file = Path(".env")
    if data_dir is None:
        try:
            data_dir = load_settings(env_file).BOT_DATA_DIR
        except ConfigError as exc:
            print("error: cannot read the configuration to find BOT_DATA_DIR; pass --data-dir PATH "
                  f"({exc.problems[0] if exc.problems else 'invalid configuration'})", file=sys.stderr)
            return 2
    key_files = list(args.key_file)
    for key in SECRET_FILE_KEYS:  # *_FILE secrets named in the environment or env file
        named = os.environ.get(key + "_FILE") or _env_value(env_file, key + "_FILE")
        if named and Path(named) not in key_files:
            key_files.append(Path(named))

    store = _store_files(data_dir) if data_dir.exists() else []
    print("organizer-bot burn: this destroys, for good:")
    for path in key_files:
        print(f"  key file {path}")
    if env_file is not None:
        print(f"  the key and password lines of {env_file}")
    print(f"  the encryption store, saved session and signing keys in {data_dir} ({len(store)} files)")
    print("The database stays, but nobody can link it to a member any more, and the bot cannot start "
          "with it again. Stop the bot first, or it may write its keys again.")
    if not args.yes_i_understand:
        print(f"Type {BURN_WORD} to go ahead: ", end="", flush=True)
        answer = sys.stdin.readline().strip()
        if answer != BURN_WORD:
            print("Not confirmed; nothing was changed.")
            return 1

    shredded = 0
    for path in key_files:
        shredded += shred(path)
    blanked = blank_env_secrets(env_file) if env_file is not None and env_file.exists() else 0
    for path in store:
        shredded += shred(path)
    db_path = data_dir / "bot.db"
    if db_path.exists():
        _compact_database(db_path)
    print(f"Done: overwrote and deleted {shredded} files, blanked {blanked} env-file lines. "
          "Remove any backups and copies of the keys too (see docs/operations.md).")
    return 0


def _env_value(env_file: Path | None, key: str) -> str | None:
    if env_file is None or not env_file.exists():
        return None
    from dotenv import dotenv_values

    value = dotenv_values(env_file).get(key)
    return value or None

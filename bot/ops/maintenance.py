"""Operations subcommands of ``organizer-bot``: ``export-aggregates`` and ``burn``.

(``healthcheck`` and ``backup`` live in :mod:`bot.ops.cli`.)
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

from bot.config import SECRET_FILE_KEYS, ConfigError, Settings, load_settings
from storage import atrest

BURN_WORD = "BURN"
# env-file lines that hold key material or credentials; burn blanks them
SECRET_LINE = re.compile(r"^\s*(export\s+)?(BOT_HASH_KEY|BOT_STORE_KEY|MATRIX_PASSWORD|MATRIX_ACCESS_TOKEN)\s*=")
DB_FILES = ("bot.db",)
ENV_SECRETS = ("BOT_HASH_KEY", "BOT_STORE_KEY", "MATRIX_PASSWORD", "MATRIX_ACCESS_TOKEN")
EXIT_NOT_DONE = 3  # burn destroyed what it could, but a key remains


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
                    "cross-signing keys in BOT_DATA_DIR. The remaining database is encrypted under a key that "
                    "no longer exists. Keys it cannot destroy (set in the process environment, on a read-only mount, "
                    "or a named file that is not there) are listed, and it then exits 3: delete them on the host. Stop the bot "
                    "first. This cannot be undone.")
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

    def rooms_of(self, member: Any) -> set[str]:
        return set()


async def export_aggregates(settings: Any) -> dict[str, Any]:
    """``{"bot": {schema versions, k, generated_at}, <hook name>: <hook data>, ...}``."""
    from bot.runtime.app import open_database
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
    from bot.runtime.app import StartupError

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
        atrest.overwrite(handle)
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


def _compact_database(db_path: Path, key: bytes | None) -> bool:
    """Fold the WAL into the database and rewrite it, so deleted rows' old pages are gone.
    An encrypted bot.db needs its key (read before the keys are destroyed); without it the
    file stays as it is (unreadable once BOT_STORE_KEY is gone). Returns whether it ran."""
    try:
        conn = atrest.connect(db_path, None if atrest.is_plaintext(db_path) else key, isolation_level=None)
    except (atrest.WrongKeyError, sqlite3.Error, atrest.sqlcipher.Error):
        return False
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM")
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()
    return True


def cmd_burn(args: argparse.Namespace) -> int:
    data_dir: Path | None = args.data_dir
    env_file: Path | None = args.env_file
    if env_file is None and Path(".env").exists():
        env_file = Path(".env")
    try:
        settings: Settings | None = load_settings(env_file)
    except ConfigError as exc:
        settings, problem = None, exc.problems[0] if exc.problems else "invalid configuration"
    if data_dir is None:
        if settings is None:
            print("error: cannot read the configuration to find BOT_DATA_DIR; pass --data-dir PATH "
                  f"({problem})", file=sys.stderr)
            return 2
        data_dir = settings.BOT_DATA_DIR
    db_key = atrest.file_key(settings.store_key, atrest.DB_PURPOSE) if settings is not None else None
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
    for line in _environment_keys():
        print(f"  (cannot destroy: {line})")
    print("The database stays, encrypted under a key that will no longer exist, and the bot cannot start "
          "with it again. Stop the bot first, or it may write its keys again.")
    if not args.yes_i_understand:
        print(f"Type {BURN_WORD} to go ahead: ", end="", flush=True)
        answer = sys.stdin.readline().strip()
        if answer != BURN_WORD:
            print("Not confirmed; nothing was changed.")
            return 1

    shredded, remaining = 0, _environment_keys()
    for path in key_files:
        shredded += _destroy(path, remaining, f"key file {path}", named=True)
    blanked = 0
    if args.env_file is not None and not args.env_file.exists():
        remaining.append(_missing(f"env file {args.env_file}"))
    if env_file is not None and env_file.exists():
        try:
            blanked = blank_env_secrets(env_file)
        except OSError as exc:
            remaining.append(f"the key lines of {env_file} (cannot rewrite it: {exc.strerror}): "
                             "delete that file, or its key lines, where it is writable (on the host)")
    for path in store:
        shredded += _destroy(path, remaining, f"{path}")
    db_path = data_dir / "bot.db"
    if db_path.exists():
        _compact_database(db_path, db_key)
    print(f"Destroyed: overwrote and deleted {shredded} files, blanked {blanked} env-file lines.")
    if remaining:
        print("NOT DONE. These keys or files still exist, and with them bot.db and its backups can "
              "still be read and linked to members:", file=sys.stderr)
        for line in remaining:
            print(f"  - {line}", file=sys.stderr)
        print("Do this now: stop the container or service (docker stop / docker compose stop / systemctl "
              "stop), delete the env file or secret files on the host that the keys came from (shred -u), "
              "and every copy of them.", file=sys.stderr)
        return EXIT_NOT_DONE
    print("Every key burn was told of is gone: bot.db and its backups can no longer be read or linked to "
          "anyone. Remove any other copies of the keys too (see docs/operations.md).")
    return 0


def _environment_keys() -> list[str]:
    """Keys in this process's environment: burn cannot erase them where they came from."""
    return [f"{key} is set in the environment of this process: it came from the container's or service's "
            "configuration (docker run --env-file/-e, compose environment:, systemd Environment=), which "
            "burn cannot reach" for key in ENV_SECRETS if os.environ.get(key)]


def _destroy(path: Path, remaining: list[str], what: str, named: bool = False) -> int:
    """Shred one file; what cannot be destroyed is added to ``remaining``, and so is a file the
    admin named (``named``) that is not there: the key it was meant to hold may live on elsewhere
    (a typo, another mount), and "gone" would be a false all-clear (issue #23)."""
    try:
        done = atrest.shred(path)
    except OSError as exc:
        remaining.append(f"{what} (cannot overwrite or delete it here: {exc.strerror}; a read-only secret mount?): "
                         "delete it on the host")
        return 0
    if not done and named:
        remaining.append(_missing(what))
    return int(done)


def _missing(what: str) -> str:
    return (f"{what} does not exist here (a wrong path, or a file on another mount?): the key it should hold "
            "was not destroyed; find that file and delete it (shred -u)")


def _env_value(env_file: Path | None, key: str) -> str | None:
    if env_file is None or not env_file.exists():
        return None
    from dotenv import dotenv_values

    value = dotenv_values(env_file).get(key)
    return value or None

"""The ``organizer-bot`` command line."""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.config import ConfigError, Settings, load_settings
from storage.schema import open_database

EXIT_CONFIG = 2

DESCRIPTION = """organizer-bot: an end-to-end-encrypted Matrix bot for worker organizing
(pledges, company roll-calls, action reminders, contract lookups) that stores only keyed
hashes of members. Configuration comes from the environment and an env file (.env by
default); see config.example.env."""


def _env_file_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env-file", type=Path, default=None, metavar="PATH",
                        help="env file with the configuration (default: ./.env if present)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="organizer-bot", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="start the bot", description=(
        "Start the bot: log in (first start) or restore the saved session, sync, answer commands, "
        "send reminders. Stops cleanly on SIGTERM/SIGINT. Exit code 2 on invalid configuration."))
    _env_file_arg(run)

    init = sub.add_parser("init", help="write a new env file with freshly generated secrets",
                          description="Write an env file with a new BOT_HASH_KEY and BOT_STORE_KEY "
                                      "(refuses to overwrite an existing file).")
    init.add_argument("--output", type=Path, default=Path(".env"), metavar="PATH",
                      help="where to write it (default: ./.env)")
    init.add_argument("--homeserver", default="https://matrix.example.org", help="MATRIX_HOMESERVER to write")
    init.add_argument("--user-id", default="@organizer-bot:example.org", help="MATRIX_USER_ID to write")

    check = sub.add_parser("check-config", help="validate and print the effective configuration",
                           description="Validate the configuration and print it with secrets masked.")
    _env_file_arg(check)

    demo = sub.add_parser("demo", help="try the bot against a throwaway local Synapse", description=(
        "Start a throwaway Synapse on 127.0.0.1, register the bot and a demo member, open an encrypted "
        "room and give you a prompt as that member. Nothing is kept unless --keep is given."))
    demo.add_argument("--dir", type=Path, default=None, help="where to keep the demo homeserver and bot data")
    demo.add_argument("--script", default=None, metavar="TEXT",
                      help="send these commands (separated by ';') instead of prompting, print answers, exit")

    health = sub.add_parser("healthcheck", help="exit 0 if the running bot syncs, sends and no task keeps dying",
                            description="Exit 0 when the running bot synced successfully in the last "
                                        "2 minutes, no task of it keeps dying and its outbox sends (state "
                                        "in BOT_DATA_DIR), 1 otherwise, with one line why.")
    _env_file_arg(health)

    backup = sub.add_parser("backup", help="consistent online copy of bot.db",
                            description="Copy bot.db with SQLite's backup API; safe while the bot runs.")
    backup.add_argument("path", type=Path, help="file to write")
    _env_file_arg(backup)

    doctor = sub.add_parser("doctor", help="check the set-up and say how to fix problems", description=(
        "Check configuration, homeserver reachability, login, the E2EE store key, device keys, cross-signing "
        "(keys present, the device signed) and encryption in every joined room. Exit 0 when all are ok."))
    _env_file_arg(doctor)

    for register in _extensions():
        register(sub)
    return parser


def _extensions() -> list[Callable[[argparse._SubParsersAction], None]]:  # type: ignore[type-arg]
    """Subcommands contributed by other modules (contracts, operations)."""
    found = []
    for module in ("bot.ops.contracts_cli", "bot.ops.maintenance"):
        try:
            imported = __import__(module, fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        found.append(imported.register)
    return found


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "env_file", None))


PRIVATE_UMASK = 0o077  # every file and directory the bot creates: owner only, from the first byte


def main(argv: list[str] | None = None) -> int:
    os.umask(PRIVATE_UMASK)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_CONFIG
    try:
        handler = getattr(args, "handler", None)
        if handler is not None:
            return int(handler(args))
        if getattr(args, "contracts_run", None) is not None:
            return _with_database(args, args.contracts_run)
        return int(COMMANDS[args.command](args))
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"config error: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


def cmd_run(args: argparse.Namespace) -> int:
    from bot import logs
    from bot.runtime.app import StartupError, run_bot

    settings = _settings(args)
    logs.setup(settings.BOT_LOG_LEVEL, settings.BOT_LOG_FORMAT)
    try:
        return asyncio.run(run_bot(settings))
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG


def _with_database(args: argparse.Namespace, work: Callable[..., Any]) -> int:
    """Run ``await work(args, db)`` with the bot database open (migrated, key checked)."""
    from bot.runtime.app import StartupError, open_database

    settings = _settings(args)

    async def go() -> int:
        db, _ = await open_database(settings)
        try:
            return int(await work(args, db))
        finally:
            await db.close()

    try:
        return asyncio.run(go())
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG


def cmd_doctor(args: argparse.Namespace) -> int:
    from bot.ops.doctor import print_checks, run_checks

    settings = _settings(args)
    return 0 if print_checks(asyncio.run(run_checks(settings))) else 1


def cmd_init(args: argparse.Namespace) -> int:
    path: Path = args.output
    if path.exists():
        print(f"error: {path} exists; not overwriting it. Move it away or choose --output.", file=sys.stderr)
        return EXIT_CONFIG
    text = render_env({
        "MATRIX_HOMESERVER": args.homeserver,
        "MATRIX_USER_ID": args.user_id,
        "MATRIX_PASSWORD": "change-me",
        "BOT_DATA_DIR": "./data",
        "BOT_HASH_KEY": new_hash_key(),
        "BOT_STORE_KEY": new_store_key(),
    })
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    print(f"Wrote {path} (mode 0600). Set MATRIX_PASSWORD, then run `organizer-bot check-config`.")
    print("Keep a copy of BOT_HASH_KEY and BOT_STORE_KEY somewhere safe: without them the data is unreadable.")
    return 0


def new_hash_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def new_store_key() -> str:
    return secrets.token_urlsafe(32)


def render_env(values: dict[str, str]) -> str:
    lines = ["# organizer-bot configuration (see config.example.env for every key)"]
    lines += [f"{key}={value}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def cmd_check_config(args: argparse.Namespace) -> int:
    settings = _settings(args)
    width = max(len(k) for k in settings.masked())
    for key, value in settings.masked().items():
        print(f"{key.ljust(width)}  {value}")
    print("configuration ok")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from bot.ops.demo import run_demo

    return asyncio.run(run_demo(args.dir, args.script))


def cmd_healthcheck(args: argparse.Namespace) -> int:
    """Unhealthy when the last sync is old, a task keeps dying or the outbox stalls (bot/runtime/health.py)."""
    from bot.runtime import health

    settings = _settings(args)
    state = health.read(settings.BOT_DATA_DIR)
    if state is None or not isinstance(state.get("last_sync"), int | float):
        print("unhealthy: the bot has not synced yet (no health state)")
        return 1
    age = time.time() - float(state["last_sync"])
    found = health.problems(state, time.time())
    if found:
        print("unhealthy: " + "; ".join(found))
        return 1
    print(f"healthy: last successful sync {int(age)} s ago")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from bot.runtime.app import db_key
    from storage.db import KeyMismatchError

    settings = _settings(args)
    if not settings.db_path.exists():
        print(f"error: no database at {settings.db_path}", file=sys.stderr)
        return 1
    if args.path.exists():
        print(f"error: {args.path} exists; choose a new file", file=sys.stderr)
        return EXIT_CONFIG

    async def copy() -> None:
        db = await open_database(settings.db_path, key=db_key(settings))
        try:
            await db.backup(args.path)
        finally:
            await db.close()

    try:
        asyncio.run(copy())
    except KeyMismatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"backup written to {args.path} (encrypted with the bot.db key derived from BOT_STORE_KEY; "
          "restore it by copying it to bot.db)")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": cmd_run,
    "init": cmd_init,
    "check-config": cmd_check_config,
    "demo": cmd_demo,
    "healthcheck": cmd_healthcheck,
    "backup": cmd_backup,
    "doctor": cmd_doctor,
}

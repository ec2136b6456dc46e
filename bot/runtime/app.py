"""Start-up and shutdown of the running bot."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from bot.config import Settings
from bot.runtime.awards.lookup import AwardAlerts
from bot.runtime.scheduler import Scheduler
from bot.runtime.shell import LoginFailed, MatrixShell, StoreUnreadable
from commands import load_all
from storage import atrest, core, published, schema
from storage.db import Database, KeyMismatchError
from storage.hashing import Keyring

log = logging.getLogger("organizer_bot")
SHUTDOWN_SECONDS = 8


class StartupError(Exception):
    """A problem the admin must fix; printed as one line, exit code 2."""


def db_key(settings: Settings) -> bytes:
    """The SQLCipher key of bot.db and its backups (see storage/atrest.py)."""
    return atrest.file_key(settings.store_key, atrest.DB_PURPOSE)


async def open_database(settings: Settings) -> tuple[Database, Keyring]:
    keyring = Keyring(settings.hash_key)
    settings.BOT_DATA_DIR.mkdir(parents=True, exist_ok=True)
    load_all()
    try:
        db = await schema.open_database(settings.db_path, keyring.fingerprint(), key=db_key(settings))
    except KeyMismatchError as exc:
        raise StartupError(str(exc)) from None
    return db, keyring


async def run_bot(settings: Settings) -> int:
    db, keyring = await open_database(settings)
    shell = MatrixShell(settings, db, keyring)
    shell.add_service("scheduler", Scheduler(shell))
    if (interval := settings.award_alert_interval) is not None:
        shell.add_service("award-alerts", AwardAlerts(shell, interval))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, shell.stop)
    try:
        try:
            await shell.login()
        except LoginFailed as exc:
            raise StartupError(f"MATRIX_PASSWORD/MATRIX_ACCESS_TOKEN: {exc}") from None
        except StoreUnreadable as exc:
            raise StartupError(str(exc)) from None
        async with db.transaction():
            await core.expire_handled(db)
        await _on_start(shell)
        log.info("organizer-bot started; device keys ready")
        await shell.run()
    finally:
        with contextlib.suppress(Exception):
            await db.close()
    log.info("stopped cleanly")
    return 0


async def _on_start(shell: MatrixShell) -> None:
    """Start-up work before the first sync: shipped data, parser warm-up, cross-signing."""
    from commands.common import timeparse
    from storage.contracts import data as contract_data

    await contract_data.ensure_loaded(shell.db)
    async with shell.db.transaction():  # figures a previous run left unpublished, or none yet (an upgrade)
        await published.publish(shell.db)
    timeparse.warm_up()
    await shell.ensure_cross_signing()

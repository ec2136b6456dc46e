"""The E2EE store, encrypted at rest: nio's ``SqliteStore`` on a SQLCipher database.

nio's default store keeps device trust in plaintext files (``<bot>_<device>.trusted_devices``,
``.blacklisted_devices``, ``.ignored_devices``: one line per member device, with the member's
Matrix ID) and its SQLite file lists every user the bot shares a room with. This store keeps
everything, trust included, in one SQLCipher file (``e2ee/store.db``) under its own key
derived from ``BOT_STORE_KEY`` (purpose ``e2ee-store``); the olm/megolm pickles inside are
still encrypted with ``BOT_STORE_KEY`` as nio's pickle key, as before.

Two changes to how nio uses it, both measured on launch day (bench/launch.py, py-spy): nio wraps
every store call in ``bind_ctx(models)``, which re-binds its eleven models (a walk of their graph)
on entry and again on exit, about 0.5 ms of CPU per call for a query that takes 0.03 ms, and a
first contact with a member makes a dozen store calls; and every write committed with a rollback
journal and ``synchronous=FULL``, two disk syncs on the event loop per Olm session or room key
saved. The models now stay bound to this database (:class:`_StoreDatabase`), the account's row,
which nio looks up again in every call to use as a foreign key, is looked up once, and the store runs
in WAL mode with ``synchronous=NORMAL``, as the bot's own database does: a killed process loses
nothing, a power cut can lose the last writes (then a member's next message may need a new Olm
session, which their client makes on its own).

A store left by an earlier release (the plaintext ``<bot>_<device>.db`` and trust files) is
migrated the first time the store opens: its database is exported into the encrypted one,
its trust files are read into the ``DeviceTrustState`` table (verified, blacklisted and
ignored devices keep their state), and only after the encrypted file is in place are the
plaintext files overwritten and deleted. A crash before that leaves the old store untouched.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any, ClassVar

from nio.store import KeyStore, MatrixStore, SqliteStore
from playhouse.sqlcipher_ext import SqlCipherDatabase

from bot.config import Settings
from storage import atrest

log = logging.getLogger("organizer_bot.e2ee_store")
STORE_NAME = "store.db"
_TRUST_KINDS = ("trusted_devices", "blacklisted_devices", "ignored_devices")


class _StoreDatabase(SqlCipherDatabase):  # type: ignore[misc]
    """nio's store database, whose models stay bound to it between store calls."""

    def bind_ctx(self, models: Any, bind_refs: bool = True, bind_backrefs: bool = True) -> Any:
        """Bind ``models`` here if another database had them, and leave them bound: nio binds on
        every call anyway, so a model is never used bound to the wrong store."""
        if any(model._meta.database is not self for model in models):
            self.bind(models, bind_refs, bind_backrefs)
        return contextlib.nullcontext()


class EncryptedStore(SqliteStore):  # type: ignore[misc]
    """``SqliteStore`` whose database is SQLCipher-encrypted under :attr:`file_key`."""

    file_key: ClassVar[bytes] = b""
    _account_row: Any = None

    def _get_account(self) -> Any:
        """The account's row, for the foreign key of what nio saves (its id never changes)."""
        if self._account_row is None:
            self._account_row = super()._get_account()
        return self._account_row

    def load_account(self) -> Any:
        self._account_row = None  # the pickle is read from the row: read it fresh
        return super().load_account()

    def _create_database(self) -> SqlCipherDatabase:
        return _StoreDatabase(self.database_path, passphrase=f"x'{self.file_key.hex()}'",
                              pragmas={"foreign_keys": 1, "secure_delete": 1, "cipher_log_level": "NONE",
                                       "journal_mode": "wal", "synchronous": "normal",
                                       "journal_size_limit": 4 * 1024 * 1024})

    def __post_init__(self) -> None:
        self.database_name = self.database_name or STORE_NAME  # type: ignore[has-type]
        if not self.database_name.endswith(".encrypting"):
            _migrate_legacy(self)
        super().__post_init__()

    def import_trust(self, legacy_prefix: Path) -> int:
        """Apply the states of nio's plaintext trust files to the devices of this store."""
        devices = self.load_device_keys()
        applied = 0
        for kind, mark in zip(_TRUST_KINDS, (self.verify_device, self.blacklist_device, self.ignore_device),
                              strict=True):
            for entry in KeyStore(f"{legacy_prefix}.{kind}"):
                device = devices[entry.user_id].get(entry.device_id)
                if device is not None and device.ed25519 == entry.key:
                    mark(device)
                    applied += 1
        return applied


def store_class(settings: Settings) -> type[MatrixStore]:
    """The store class for ``AsyncClientConfig(store=...)``, keyed for this configuration."""
    key = atrest.file_key(settings.store_key, atrest.E2EE_PURPOSE)
    return type("KeyedEncryptedStore", (EncryptedStore,), {"file_key": key})


def client_options(settings: Settings) -> dict[str, Any]:
    """The ``AsyncClientConfig`` keywords that select the encrypted store."""
    return {"store": store_class(settings), "store_name": STORE_NAME}


def _legacy_files(store_path: Path, user_id: str, device_id: str) -> tuple[Path, list[Path]]:
    prefix = store_path / f"{user_id}_{device_id}"
    db = Path(f"{prefix}.db")
    side = [Path(f"{db}-wal"), Path(f"{db}-shm"), Path(f"{db}-journal")]
    return db, side + [Path(f"{prefix}.{kind}") for kind in _TRUST_KINDS]


def _migrate_legacy(store: EncryptedStore) -> None:
    store_path = Path(store.store_path)
    target = store_path / store.database_name
    legacy_db, legacy_rest = _legacy_files(store_path, store.user_id, store.device_id)
    if not target.exists() and atrest.is_plaintext(legacy_db):
        staging = target.with_name(target.name + ".encrypting")
        staging.unlink(missing_ok=True)
        atrest.export_encrypted(legacy_db, staging, store.file_key)
        staged = type(store)(store.user_id, store.device_id, store.store_path, store.pickle_key, staging.name)
        try:
            trusted = staged.import_trust(legacy_db.with_suffix(""))
        finally:
            staged.database.close()
        os.replace(staging, target)
        log.warning("the E2EE store was plaintext (made by an earlier release): moved it into the encrypted "
                    "store (%d device trust entries kept); the plaintext files were overwritten", trusted)
    if target.exists():  # migrated now or in a run that stopped before removing these
        for path in (legacy_db, *legacy_rest):
            atrest.shred(path)


def describe(settings: Settings) -> tuple[bool, str]:
    """For ``doctor``: whether the E2EE store is encrypted at rest, and how it stands."""
    store_dir = settings.store_dir
    plaintext = sorted(p.name for p in store_dir.glob("*") if p.is_file() and (
        p.suffix.lstrip(".") in _TRUST_KINDS or atrest.is_plaintext(p)))
    if plaintext:
        return False, f"PLAINTEXT files in {store_dir}: {len(plaintext)} (nio's old store)"
    state = atrest.describe(store_dir / STORE_NAME, atrest.file_key(settings.store_key, atrest.E2EE_PURPOSE))
    return state == "missing" or state.startswith("encrypted ("), (
        "not created yet" if state == "missing" else state)

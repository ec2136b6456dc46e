"""Login and the E2EE session: log in once and reuse the saved session (sealed, 0600:
``bot/e2ee/saved_session.py``), open the
encrypted store, cross-sign our device, keep device keys uploaded and queried, and one-time and
fallback keys topped up (``bot/e2ee/fallback_keys.py``).

nio is told not to store sync tokens: the shell keeps its own (see ``bot/runtime/shell.py``).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import aiohttp
from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    KeysClaimResponse,
    KeysQueryResponse,
    LocalProtocolError,
    LoginError,
    Response,
)

from bot.config import Settings
from bot.e2ee import crosssign, saved_session  # hook(#17): e2ee_store, saved_session
from bot.e2ee import store as e2ee_store
from bot.e2ee.fallback_keys import KeyUpkeep
from bot.e2ee.keywork import KeyWork
from bot.e2ee.peer_keys import PeerKeys
from bot.runtime.sending.ratelimit import RateGate

log = logging.getLogger("organizer_bot")


class LoginFailed(Exception):
    pass


class StoreUnreadable(Exception):
    pass


class BotClient(AsyncClient):  # type: ignore[misc]
    """nio's client, kept alive by a to-device message it cannot decrypt.

    vodozemac raises ``SessionCreationException`` for an Olm pre-key message whose one-time key
    the bot no longer has, and nio 0.26 does not catch it: it escaped the sync and the bot
    exited (launch bench, N = 1,000), and every restart read the same message again. Anyone can
    send the bot a to-device message, so this was also a way for an outsider to stop it. Such a
    message is now counted, logged without identities at most once a minute, and its sender's
    device marked for a new Olm session (nio's unwedging), as nio does for the errors it knows.

    Nor can a peer's published keys stop it: claimed and queried keys are handled one device (one
    user) at a time, and a device whose keys fail is skipped and counted (``bot/e2ee/peer_keys.py``).
    No room is left marked as sharing its key when sharing fails (nio claims keys before its
    ``try/finally``, and every later send to that room waited for good)."""

    LOG_EVERY = 60.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.undecryptable_to_device = 0  # since start
        self._unlogged = 0
        self._logged_at: float | None = None
        self.peer_keys = PeerKeys()

    def load_store(self) -> None:
        super().load_store()
        if self.olm is not None:
            self.peer_keys.guard_signatures(self.olm)

    async def receive_response(self, response: Response) -> None:
        if self.olm is not None and isinstance(response, KeysClaimResponse):
            self.peer_keys.claimed(self.olm, response)
        elif self.olm is not None and isinstance(response, KeysQueryResponse):
            self.peer_keys.queried(self._handle_olm_response, response)
        else:
            await super().receive_response(response)

    def get_missing_sessions(self, room_id: str) -> dict[str, list[str]]:
        return self.peer_keys.without_skipped(super().get_missing_sessions(room_id))

    def get_users_for_key_claiming(self) -> dict[str, list[str]]:
        wanted = self.peer_keys.without_skipped(super().get_users_for_key_claiming())
        if not wanted:
            raise LocalProtocolError("No wedged sessions found.")  # as nio says it
        return wanted

    @property
    def should_claim_keys(self) -> bool:
        try:
            return bool(self.olm is not None and self.get_users_for_key_claiming())
        except LocalProtocolError:
            return False

    async def share_group_session(self, room_id: str, ignore_unverified_devices: bool = False) -> Any:
        ours = room_id not in self.sharing_session
        try:
            return await super().share_group_session(room_id, ignore_unverified_devices=ignore_unverified_devices)
        finally:
            if ours and room_id in self.sharing_session:  # raised before nio's own try/finally
                self.sharing_session.pop(room_id).set()

    def _handle_decrypt_to_device(self, to_device_event: Any) -> Any:
        try:
            return super()._handle_decrypt_to_device(to_device_event)
        except Exception as exc:  # noqa: BLE001 - vodozemac's exceptions are not nio's, and vary
            self.undecryptable_to_device += 1
            self._unlogged += 1
            sender, key = getattr(to_device_event, "sender", None), getattr(to_device_event, "sender_key", None)
            if self.olm is not None and isinstance(sender, str) and isinstance(key, str):
                self.olm._mark_device_for_unwedging(sender, key)
            now = time.monotonic()
            if self._logged_at is None or now - self._logged_at >= self.LOG_EVERY:
                log.warning("%d encrypted to-device message(s) could not be decrypted (last: %s); their senders' "
                            "devices are asked for a new session (%d since start)",
                            self._unlogged, type(exc).__name__, self.undecryptable_to_device)
                self._unlogged, self._logged_at = 0, now
            return None


class Session:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client: AsyncClient | None = None
        self.rate_gate = RateGate()  # 429 answers pause every sender (see bot/runtime/sending/ratelimit.py)
        self.master_fingerprint: str | None = None
        self.keys: KeyUpkeep | None = None  # from login on

    async def login(self) -> AsyncClient:
        """Restore the saved session or log in once and save it (mode 0600)."""
        s = self.settings
        s.BOT_DATA_DIR.mkdir(parents=True, exist_ok=True)
        s.store_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(s.BOT_DATA_DIR, 0o700)
        config = AsyncClientConfig(
            encryption_enabled=True,
            store_sync_tokens=False,  # our own token, saved after handling (see bot/runtime/shell.py)
            pickle_key=s.store_key,
            max_limit_exceeded=None,
            max_timeouts=2,
            **e2ee_store.client_options(s),  # hook(#17): nio's store on SQLCipher, no plaintext trust files
        )
        client = BotClient(s.MATRIX_HOMESERVER, s.MATRIX_USER_ID, store_path=str(s.store_dir), config=config)
        try:
            session = saved_session.load(s.BOT_DATA_DIR, s.store_key)
        except saved_session.SessionUnreadable as exc:
            await client.close()
            raise StoreUnreadable(str(exc)) from None
        if session is None and s.MATRIX_ACCESS_TOKEN is not None and s.MATRIX_DEVICE_ID:
            session = {"user_id": s.MATRIX_USER_ID, "device_id": s.MATRIX_DEVICE_ID,
                       "access_token": s.MATRIX_ACCESS_TOKEN.get_secret_value()}
            self._save(session)
        if session is not None:
            try:
                client.restore_login(session["user_id"], session["device_id"], session["access_token"])
            except Exception as exc:  # noqa: BLE001 - nio raises pickle/db errors of several types
                await client.close()
                raise StoreUnreadable(
                    f"BOT_STORE_KEY does not open the E2EE store in {s.store_dir} ({type(exc).__name__}); "
                    "start with the key it was created with. Nothing was changed."
                ) from None
        else:
            if s.MATRIX_PASSWORD is None:
                raise LoginFailed("no saved session and no MATRIX_PASSWORD to log in with")
            response = await client.login(s.MATRIX_PASSWORD.get_secret_value(), device_name="organizer-bot")
            if isinstance(response, LoginError):
                await client.close()
                raise LoginFailed(f"login refused by the homeserver: {response.message}")
            self._save({"user_id": response.user_id, "device_id": response.device_id,
                        "access_token": response.access_token})
        self.client = client
        self.keys = KeyUpkeep.attach(client)  # reads sync's one-time-key count and fallback key types
        client.add_response_callback(self._on_error_response, ErrorResponse)  # type: ignore[arg-type]
        if client.should_upload_keys:
            await client.keys_upload()
        return client

    async def ensure_cross_signing(self) -> None:
        """Cross-sign our device (Element's "exclude insecure devices" ignores unsigned ones)."""
        assert self.client is not None
        password = self.settings.MATRIX_PASSWORD.get_secret_value() if self.settings.MATRIX_PASSWORD else None
        try:
            state = await crosssign.ensure_cross_signing(
                self.client, self.settings.BOT_DATA_DIR, self.settings.store_key, password)
        except crosssign.CrossSigningError as exc:
            log.error("cross-signing not set up: %s (run `organizer-bot doctor`)", exc)
            return
        self.master_fingerprint = state.fingerprint
        log.info("cross-signing master key fingerprint: %s", state.fingerprint)

    async def after_sync(self) -> None:
        """Right after each sync, before its batch is handled: one-time keys topped up and a
        fallback key kept on the server, so a crowd arriving meanwhile can reach us."""
        if self.keys is not None:
            await self.keys.after_sync()

    async def maintain_keys(self, keys: KeyWork) -> None:
        """After each batch: query and claim device keys as nio asks, send to-device messages.
        (Our own keys were uploaded by :meth:`after_sync`, one upload at a time.) The query goes
        through ``keys``, so it never repeats one the outbox's first sends have under way."""
        client = self.client
        assert client is not None
        try:
            await keys.query()
            if client.should_claim_keys:
                await client.keys_claim(client.get_users_for_key_claiming())
            await client.send_to_device_messages()
        except (TimeoutError, aiohttp.ClientError, LocalProtocolError) as exc:
            log.warning("key maintenance failed: %s", type(exc).__name__)
        except Exception as exc:  # noqa: BLE001 - a peer's keys (bot/e2ee/peer_keys.py) or a bug: never the sync's end
            log.error("key maintenance failed unexpectedly: %s", type(exc).__name__)

    async def _on_error_response(self, response: ErrorResponse) -> None:
        """nio retries a 429 after ``retry_after_ms`` (``max_limit_exceeded=None``) and tells us
        first: the whole bot pauses as long, and the log says so (no content)."""
        if response.status_code == "M_LIMIT_EXCEEDED":
            self.rate_gate.hit(response.retry_after_ms)

    def _save(self, session: dict[str, str]) -> None:
        saved_session.save(self.settings.BOT_DATA_DIR, self.settings.store_key, session)

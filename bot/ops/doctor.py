"""``organizer-bot doctor``: check a set-up step by step and say how to fix each problem."""

from __future__ import annotations

import aiohttp
from nio import AsyncClient, AsyncClientConfig, JoinedRoomsResponse, RoomGetStateEventResponse, WhoamiResponse

from bot.config import Settings
from bot.e2ee import crosssign, saved_session
from bot.e2ee import store as e2ee_store
from bot.e2ee.crosssign import Check
from bot.runtime import health, undecrypted
from bot.runtime.awards import lookup as award_alerts
from bot.runtime.sending import ratelimit


async def run_checks(settings: Settings) -> list[Check]:
    checks: list[Check] = [Check("configuration", True, "valid"), *at_rest_checks(settings)]
    checks.append(undecrypted.doctor_check(settings.BOT_DATA_DIR))  # the count the bot wrote into health.json
    checks.append(health.doctor_check(settings.BOT_DATA_DIR))  # tasks that keep dying, a stalled outbox
    checks.append(award_alerts.doctor_check(settings))
    reachable = await _reachable(settings.MATRIX_HOMESERVER)
    checks.append(Check("homeserver reachable", reachable is None, reachable or settings.MATRIX_HOMESERVER,
                        "" if reachable is None else "check MATRIX_HOMESERVER and that the server is up"))
    if reachable is not None:
        return checks
    try:
        session = saved_session.load(settings.BOT_DATA_DIR, settings.store_key, migrate=False)
    except saved_session.SessionUnreadable as exc:
        checks.append(Check("login", False, "the saved session does not open", str(exc)))
        return checks
    if session is None:
        checks.append(Check("login", False, "no saved session yet",
                            "start the bot once (`organizer-bot run`) with MATRIX_PASSWORD set"))
        return checks
    config = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False, pickle_key=settings.store_key,
                               max_timeouts=2, **e2ee_store.client_options(settings))
    client = AsyncClient(settings.MATRIX_HOMESERVER, settings.MATRIX_USER_ID,
                         store_path=str(settings.store_dir), config=config)
    try:
        try:
            client.restore_login(session["user_id"], session["device_id"], session["access_token"])
            checks.append(Check("E2EE store key", True, "the store opens with BOT_STORE_KEY"))
        except Exception as exc:  # noqa: BLE001 - any failure here means the store is unusable
            checks.append(Check("E2EE store key", False, f"the store does not open ({type(exc).__name__})",
                                "use the BOT_STORE_KEY the store was created with"))
            return checks
        whoami = await client.whoami()
        ok = isinstance(whoami, WhoamiResponse) and whoami.user_id == settings.MATRIX_USER_ID
        checks.append(Check("login", ok, f"device {session['device_id']}" if ok else "saved access token refused",
                            "" if ok else "delete session.enc and the e2ee/ store, then start with MATRIX_PASSWORD"))
        if not ok:
            return checks
        checks.extend(await crosssign.doctor_checks(client, settings.BOT_DATA_DIR, settings.store_key))
        checks.append(await _rooms_encrypted(client))
        checks.append(await ratelimit.doctor_check(settings.BOT_DATA_DIR, settings.MATRIX_HOMESERVER,
                                                   settings.MATRIX_USER_ID, session["access_token"]))
    finally:
        await client.close()
    return checks


def at_rest_checks(settings: Settings) -> list[Check]:
    """What is encrypted at rest, file by file (SQLCipher, keys derived from BOT_STORE_KEY)."""
    from bot.runtime.app import db_key
    from storage import atrest

    state = atrest.describe(settings.db_path, db_key(settings))
    ok = state == "missing" or state.startswith("encrypted (")
    fix = {"PLAINTEXT": "start the bot once (`organizer-bot run`): it encrypts bot.db in place"}.get(
        state, "" if ok else "use the BOT_STORE_KEY bot.db was created with")
    detail = "not created yet" if state == "missing" else state
    store_ok, store_detail = e2ee_store.describe(settings)
    session_ok, session_detail = saved_session.describe(settings.BOT_DATA_DIR, settings.store_key)
    return [Check("bot.db at rest", ok, detail + "; backups use the same key", fix),
            Check("E2EE store at rest", store_ok, store_detail, "" if store_ok else
                  "start the bot once: it moves nio's old store into the encrypted one (or use the right "
                  "BOT_STORE_KEY)"),
            Check("saved login at rest", session_ok, session_detail, "" if session_ok else
                  "start the bot once: it seals session.json (or use the right BOT_STORE_KEY)")]


async def _reachable(url: str) -> str | None:
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            async with http.get(url + "/_matrix/client/versions") as response:
                if response.status != 200:
                    return f"{url} answered HTTP {response.status}"
                return None
    except (aiohttp.ClientError, TimeoutError) as exc:
        return f"{url}: {type(exc).__name__}"


async def _rooms_encrypted(client: AsyncClient) -> Check:
    rooms = await client.joined_rooms()
    if not isinstance(rooms, JoinedRoomsResponse):
        return Check("encryption in joined rooms", False, "could not list joined rooms", "check the access token")
    plain = []
    for room_id in rooms.rooms:
        state = await client.room_get_state_event(room_id, "m.room.encryption")
        if not isinstance(state, RoomGetStateEventResponse) or not state.content.get("algorithm"):
            plain.append(room_id)
    if plain:
        return Check("encryption in joined rooms", False, f"{len(plain)} of {len(rooms.rooms)} rooms unencrypted: "
                     + ", ".join(plain[:10]), "enable encryption in those rooms, or remove the bot from them")
    return Check("encryption in joined rooms", True, f"all {len(rooms.rooms)} rooms encrypted")


def print_checks(checks: list[Check]) -> bool:
    for check in checks:
        status = "ok     " if check.ok else "PROBLEM"
        print(f"[{status}] {check.name}: {check.detail}")
        if not check.ok and check.fix:
            print(f"          fix: {check.fix}")
    return all(c.ok for c in checks)

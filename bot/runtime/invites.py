"""Who invited the bot, and whether as a DM, taken only from what the bot's own homeserver
authenticated.

For an invite from another server, Synapse's ``/sync`` lists the ``invite_room_state`` that the
inviting server supplied first and appends the real invite event last (events failing the
MSC4311 checks are logged and passed on). The supplied entries are only that server's claim: one
of them can be an ``m.room.member`` invite for the bot "sent by" an admin, with ``is_direct``
set. So the invite is read from the **last** such entry (:func:`claimed`), and after joining the
room's own invite event is fetched and checked (:func:`verified`): the bot's join event names
the membership event it replaced (``unsigned.replaces_state``), which is the invite the
homeserver accepted into the room. A room whose verified invite differs from the claim is judged
again on the verified one (``bot/runtime/rooms.py``), and left and forgotten when that inviter
is not allowed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
from nio import AsyncClient

log = logging.getLogger("organizer_bot")


@dataclass(frozen=True)
class Invitation:
    inviter: str
    is_direct: bool


class Unknown:
    """The homeserver did not say (a transport error, or it does not serve ``format=event``)."""


UNKNOWN = Unknown()


def _invitation(sender: Any, content: Any) -> Invitation | None:
    if not isinstance(sender, str) or not isinstance(content, dict):
        return None
    return Invitation(sender, content.get("is_direct") is True)


def claimed(state: list[Any], user_id: str) -> Invitation | None:
    """The invite as the sync lists it: the LAST ``m.room.member`` invite for ``user_id`` in the
    invite state (the one Synapse appends), never the first (the inviting server's claim)."""
    found = None
    for event in state:
        if getattr(event, "membership", None) == "invite" and getattr(event, "state_key", None) == user_id:
            found = event
    if found is None:
        return None
    return _invitation(getattr(found, "sender", None), getattr(found, "content", None))


async def _get(client: AsyncClient, path: str) -> dict[str, Any] | None:
    """A GET against the client API; ``None`` unless it answered 200 with a JSON object."""
    headers = {"Authorization": f"Bearer {client.access_token}"}
    response = await client.send("GET", path, headers=headers)
    try:
        data = await response.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError):
        return None
    return data if response.status == 200 and isinstance(data, dict) else None


async def verified(client: AsyncClient, room_id: str) -> Invitation | Unknown | None:
    """The invite the homeserver holds in ``room_id``'s history for the bot, read after joining:
    the event the bot's join replaced. ``None`` when that event is no invite of the bot (nothing
    the homeserver vouches for invited it); :data:`UNKNOWN` when it cannot be read (then the
    last entry of the invite state, which Synapse appends, stands)."""
    me = quote(client.user_id, safe="")
    room = quote(room_id, safe="")
    try:
        joined = await _get(client, f"/_matrix/client/v3/rooms/{room}/state/m.room.member/{me}?format=event")
        if joined is None or "event_id" not in joined:
            return UNKNOWN  # no event form of the state: this homeserver cannot tell us
        replaced = (joined.get("unsigned") or {}).get("replaces_state")
        if not isinstance(replaced, str):
            return UNKNOWN
        event = await _get(client, f"/_matrix/client/v3/rooms/{room}/event/{quote(replaced, safe='')}")
    except (TimeoutError, aiohttp.ClientError, OSError):
        log.warning("could not read a joined room's invite event; the invite's last entry stands")
        return UNKNOWN
    if event is None:
        return UNKNOWN  # not served (an outlier the homeserver keeps from view): the last entry stands
    content = event.get("content")
    if (event.get("type") != "m.room.member" or event.get("state_key") != client.user_id
            or not isinstance(content, dict) or content.get("membership") != "invite"):
        return None
    return _invitation(event.get("sender"), content)

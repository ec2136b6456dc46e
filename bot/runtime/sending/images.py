"""Sending a chart (``outputs.SendImage``): draw its spec, encrypt the PNG as Element does
(AES-CTR with a fresh key, ``nio.crypto.attachments``), upload the ciphertext to the media
repository and send an ``m.image`` whose encrypted ``file`` carries the key. Kept out of the
:class:`bot.runtime.sending.outbox.Outbox` class; it calls this from its one delivery path, so charts
share its lanes, retries and rate gate.

A retried row draws and uploads again (the upload is not idempotent; an orphaned upload is
ciphertext nobody holds the key to) and sends with the row's fixed transaction ID, so the
message still arrives once.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import aiohttp
from nio import AsyncClient, UploadError
from nio.crypto.attachments import encrypt_attachment

from bot.runtime.sending.outputs import SendImage
from commands.common import chart

Send = Callable[[str, dict[str, Any], str], Awaitable[str | None]]  # the outbox's send: room, content, txn

log = logging.getLogger("organizer_bot")
FILENAME = "chart.png"
_FOR_GOOD = ("M_TOO_LARGE", "M_FORBIDDEN", "M_NOT_FOUND")


def image_content(record: SendImage, url: str, keys: dict[str, Any], drawn: chart.Rendered) -> dict[str, Any]:
    """The ``m.image`` event's content: the words in ``body``, the image only as an encrypted ``file``."""
    content: dict[str, Any] = {
        "msgtype": "m.image", "body": record.body, "filename": FILENAME,
        "info": {"mimetype": "image/png", "size": len(drawn.png), "w": drawn.width, "h": drawn.height},
        "file": {"url": url, "key": keys["key"], "iv": keys["iv"], "hashes": keys["hashes"], "v": keys["v"],
                 "mimetype": "image/png"},
    }
    if record.relation:
        content["m.relates_to"] = record.relation
    return content


async def deliver(client: AsyncClient, joining: Collection[str], send: Send, record: SendImage, txn_id: str) -> bool:
    """Perform one chart row; ``False``: retry later (transport trouble raises, as for messages).
    ``joining``: rooms being joined; ``send``: the outbox's one send path."""
    if record.room_id not in client.rooms and record.room_id not in joining:
        log.warning("dropped a chart for a room the bot is not in")
        return True
    try:
        drawn = chart.render(record.spec)
    except (KeyError, TypeError, ValueError) as exc:  # a row this version cannot draw
        log.error("a chart could not be drawn: %s", type(exc).__name__)
        return True
    ciphertext, keys = encrypt_attachment(drawn.png)
    answer, _ = await client.upload(io.BytesIO(ciphertext), content_type="application/octet-stream",
                                    filename=FILENAME, filesize=len(ciphertext))
    if isinstance(answer, UploadError):
        if answer.status_code in _FOR_GOOD:
            log.warning("chart upload refused: %s", answer.status_code)
            return True
        raise aiohttp.ClientError(answer.status_code or "upload error")
    content = image_content(record, answer.content_uri, keys, drawn)
    return await send(record.room_id, content, txn_id) is not None

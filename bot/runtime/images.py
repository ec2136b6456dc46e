"""Sending a chart (``outputs.SendImage``): draw its spec, encrypt the PNG as Element does
(AES-CTR with a fresh key, ``nio.crypto.attachments``), upload the ciphertext to the media
repository and send an ``m.image`` whose encrypted ``file`` carries the key. Kept out of the
:class:`bot.runtime.outbox.Outbox` class; it calls this from its one delivery path, so charts
share its lanes, retries and rate gate.

A retried row draws and uploads again (the upload is not idempotent; an orphaned upload is
ciphertext nobody holds the key to) and sends with the row's fixed transaction ID, so the
message still arrives once.
"""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING, Any

import aiohttp
from nio import UploadError
from nio.crypto.attachments import encrypt_attachment

from bot.runtime.outputs import SendImage
from commands.common import chart

if TYPE_CHECKING:
    from bot.runtime.outbox import Outbox

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


async def deliver(outbox: Outbox, record: SendImage, txn_id: str) -> bool:
    """Perform one chart row; ``False``: retry later (transport trouble raises, as for messages)."""
    client = outbox.client
    if record.room_id not in client.rooms and record.room_id not in outbox.rooms.joining:
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
    return await outbox.send(record.room_id, content, txn_id) is not None

"""Logging that never names anyone: text or JSON lines, with Matrix IDs scrubbed.

Our own log calls never pass identifiers; the scrubber is a second line of defence for
library messages (matrix-nio logs user and room IDs at debug and warning levels). It catches
IDs with a server part (``@user:server``, ``!room:server``, ``#alias:server``, old
``$event:server``), room IDs without one (room version 12: ``!`` + 43 base64url characters),
event IDs (``$`` + 43 base64 characters), and URL-encoded IDs in request paths (``%40…``,
``%21…``, ``%23…``, ``%24…``). nio's own records that name a sender, a user, a device or a
device key (which the homeserver can map to a member) are dropped, unless the level is DEBUG,
where they are lowered to DEBUG with IDs and device keys scrubbed (device IDs may remain: DEBUG
is for diagnosing, not for production)."""

from __future__ import annotations

import json
import logging
import re
import sys
import time

_MATRIX_ID = re.compile(r"[@!#$][^\s:@!#$\"']{1,255}:[A-Za-z0-9.\-\[\]]+(?::\d+)?")
_SERVERLESS_ID = re.compile(r"[!$][A-Za-z0-9_\-+/]{43}")  # v12 room IDs, v3+ event IDs
_URL_ENCODED_ID = re.compile(r"%(?:40|21|23|24)[^\s/?&#\"'<>]+", re.IGNORECASE)
# what in a nio message can point at a member: words that introduce one, IDs, a device key
_DEVICE_KEY = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{43}(?![A-Za-z0-9+/])")  # curve25519/ed25519
_NIO_NAMES_SOMEONE = re.compile(r"sender|user|device|[@!$%]|[A-Za-z0-9+/]{43}", re.IGNORECASE)


def scrub(text: str) -> str:
    text = _URL_ENCODED_ID.sub(lambda m: m.group(0)[:3] + "…", text)
    text = _MATRIX_ID.sub(lambda m: m.group(0)[0] + "…", text)
    return _SERVERLESS_ID.sub(lambda m: m.group(0)[0] + "…", text)


class NioIdentifiers(logging.Filter):
    """Drop (or, at DEBUG, lower) nio records whose message can name a member or device."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != "nio" and not record.name.startswith("nio."):
            return True
        if not _NIO_NAMES_SOMEONE.search(record.getMessage()):
            return True
        if not logging.getLogger().isEnabledFor(logging.DEBUG):
            return False
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        record.msg, record.args = _DEVICE_KEY.sub("…", scrub(record.getMessage())), ()
        return True


class _Scrubbing(logging.Formatter):
    def __init__(self, as_json: bool) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        message = scrub(record.getMessage())
        if record.exc_info:
            # the exception type only: messages and tracebacks may quote event content
            message += f" [{record.exc_info[0].__name__ if record.exc_info[0] else 'error'}]"
        if self.as_json:
            return json.dumps({
                "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
                "level": record.levelname.lower(), "logger": record.name, "message": message,
            })
        return f"{self.formatTime(record)} {record.levelname} {record.name}: {message}"


def setup(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Scrubbing(fmt == "json"))
    handler.addFilter(NioIdentifiers())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("nio", "peewee", "aiohttp", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.ERROR)

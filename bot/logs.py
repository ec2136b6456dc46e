"""Logging that never names anyone: text or JSON lines, with Matrix IDs scrubbed.

Our own log calls never pass identifiers; the scrubber is a second line of defence for
library messages (matrix-nio logs user and room IDs at debug and warning levels)."""

from __future__ import annotations

import json
import logging
import re
import sys
import time

_MATRIX_ID = re.compile(r"[@!#$][^\s:@!#$\"']{1,255}:[A-Za-z0-9.\-\[\]]+(?::\d+)?")


def scrub(text: str) -> str:
    return _MATRIX_ID.sub(lambda m: m.group(0)[0] + "…", text)


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
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("nio", "peewee", "aiohttp", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.ERROR)

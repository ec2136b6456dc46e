"""The log scrubber: no Matrix ID, room, event or device key of a member reaches a log line,
in any of the shapes libraries print them."""

from __future__ import annotations

import io
import logging

import pytest

from bot import logs

ROOM_V12 = "!" + "Ab3_-x" * 7 + "Q"  # ! + 43 base64url characters, no server part
EVENT_V4 = "$" + "Zz9-_y" * 7 + "k"
EVENT_V3 = "$" + "a+b/" * 10 + "xyz"
SENDER_KEY = "Qx7+ab/" * 6 + "K"  # a curve25519 key: 43 base64 characters


@pytest.mark.parametrize("text, secret", [
    ("user @alice:example.org joined", "alice"),
    ("room !abc:example.org:8448", "abc"),
    (f"room {ROOM_V12} has news", ROOM_V12[1:]),
    (f"event {EVENT_V4} redacted", EVENT_V4[1:]),
    (f"event {EVENT_V3} redacted", EVENT_V3[1:]),
    ("PUT /_matrix/client/v3/rooms/%21abc%3Aexample.org/send/m.room.message/1", "abc"),
    ("GET /_matrix/client/v3/profile/%40alice%3Aexample.org", "alice"),
    ("GET /_matrix/client/v3/profile/%40Alice%3aexample.org?x=1", "Alice"),
    (f"GET /rooms/%21{ROOM_V12[1:]}/state", ROOM_V12[1:]),
    (f"GET /rooms/x/event/%24{EVENT_V4[1:]}", EVENT_V4[1:]),
    ("alias #workers:example.org", "workers"),
])
def test_every_shape_of_id_is_scrubbed(text, secret):
    scrubbed = logs.scrub(text)
    assert secret not in scrubbed, scrubbed
    assert "…" in scrubbed


def test_ordinary_text_is_kept():
    text = "sync took 1.2 s; 3 rooms; fingerprint 0123456789abcdef; 50% done"
    assert logs.scrub(text) == text


def _emit(level: str, name: str, message: str) -> str:
    stream = io.StringIO()
    logs.setup(level)
    handler = logging.getLogger().handlers[0]
    handler.setStream(stream)  # type: ignore[attr-defined]
    logging.getLogger(name).error(message)
    return stream.getvalue()


@pytest.mark.parametrize("message", [
    "Error validating decrypted Olm event from @alice:example.org: bad",
    f"Received a forwarded room key from a untrusted device ALICEDEV, {SENDER_KEY}",
    "Received a undecryptable Megolm event from a unknown device: ALICEDEV",
    "Missing Olm session for user and device ALICEDEV, skipping",
])
def test_nio_records_naming_a_sender_or_device_are_dropped(message):
    try:
        assert _emit("INFO", "nio.crypto", message) == ""
        lowered = _emit("DEBUG", "nio.crypto", message)
        assert " DEBUG nio.crypto" in lowered and "@alice" not in lowered and SENDER_KEY not in lowered
    finally:
        logs.setup("INFO")


def test_other_nio_errors_and_our_own_records_still_show():
    try:
        assert "Sync failed: timeout" in _emit("INFO", "nio.client", "Sync failed: timeout")
        assert "device keys ready" in _emit("INFO", "organizer_bot", "started; device keys ready")
    finally:
        logs.setup("INFO")

"""Encrypted sizes tell no language and no answer (issue #23): every message the bot sends is
padded, before encryption, to a size bucket of the bytes nio encrypts."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from nio import Api, RoomSendResponse

from bot.runtime.sending import outputs
from bot.runtime.sending.outputs import PAD_BUCKET, PAD_KEY, PAD_LIMIT, pad, wire_size
from commands.base import Reply
from commands.rsvp import RsvpSequence
from tests.fakes import DM, World, texts
from tests.unit.test_outbox import FakeClient, _outbox, _queue
from tests.unit.test_rsvp import action, posts


def test_the_size_is_the_bytes_nio_encrypts() -> None:
    content = {"msgtype": "m.notice", "body": "Firmaste la carta. Quizás 🎉"}
    assert wire_size(content) == len(Api.to_json(content))


def test_the_bucket_rule() -> None:
    for n in (0, 1, 200, 1500, 1950):  # every answer under 4 KiB (body and formatted_body): one size
        assert wire_size(pad(outputs.content("x" * n))) == PAD_BUCKET
    assert wire_size(pad(outputs.content("x" * 5000))) == 3 * PAD_BUCKET  # body and formatted_body: 2 × 5000
    padded = pad(outputs.content("x" * 3 * PAD_BUCKET))
    assert wire_size(padded) % PAD_BUCKET == 0
    huge = outputs.content("x" * PAD_LIMIT)  # past the limit: left as it is (an event must fit in 64 KiB)
    assert pad(huge)[PAD_KEY] == "" and wire_size(pad(huge)) < wire_size(huge) + 40
    original = outputs.content("hi")
    assert PAD_KEY not in original and pad(original)["body"] == "hi"  # a copy; what clients render is unchanged
    assert set(pad(original)[PAD_KEY]) == {" "}


async def test_english_and_spanish_yes_and_maybe_answers_have_one_size(world: World) -> None:
    await action(world)
    start = world.now
    sizes, bodies = set(), set()
    for i, (lang, word) in enumerate([("en", "yes"), ("en", "maybe"), ("es", "sí"), ("es", "quizás")]):
        who = f"@w{i}:x"
        if lang == "es":
            await world.run("!lang es", user=who, room=DM)
        body = texts(await world.run(f"!rsvp 1 {word}", user=who, room=DM), lang)
        bodies.add(body)
        sizes.add(wire_size(pad(outputs.content(body))))
    assert len(bodies) == 4 and len({len(b) for b in bodies}) > 1  # four wordings, of different lengths
    assert sizes == {PAD_BUCKET}
    world.now = start + timedelta(days=2, seconds=1)  # the day before: to all four, worded per reader
    fired = await RsvpSequence.fire(world.env())
    confirm = posts(fired) + posts(fired, "es")
    assert len(confirm) == 8 and len({text for _, text in confirm}) == 2  # yes and maybe alike, two languages
    assert {wire_size(pad(outputs.content(text))) for _, text in confirm} == {PAD_BUCKET}


async def test_every_message_goes_out_padded(world: World) -> None:
    sent: list[dict[str, Any]] = []

    class Capturing(FakeClient):
        async def room_send(self, room_id: str, _type: str, content: dict[str, Any], tx_id: str,
                            ignore_unverified_devices: bool = True) -> Any:
            sent.append(content)
            return RoomSendResponse(f"$e{len(sent)}", room_id)

    client = Capturing(["!dm:example.org"])
    box, _ = await _outbox(world, client)
    await _queue(world, box, [Reply("Firmaste."), Reply("You signed the letter; 12 have signed so far.")], "$a",
                 "!dm:example.org")
    await box.drain()
    assert [c["body"] for c in sent] == ["Firmaste.", "You signed the letter; 12 have signed so far."]
    assert {len(json.dumps(c, separators=(",", ":"))) for c in sent} == {PAD_BUCKET}

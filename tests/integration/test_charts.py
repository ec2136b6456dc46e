"""Charts through the real homeserver: a member asks for a chart, receives an encrypted image
(``m.image`` with an encrypted ``file``, as Element sends them), downloads and decrypts it, and
it is a PNG of the designed size whose ``body`` holds the same figures as the text command."""

from __future__ import annotations

import io
from typing import Any

import pytest
from nio import DownloadResponse
from nio.crypto.attachments import decrypt_attachment
from PIL import Image

from commands.common import chart
from tests.harness import Member, Received

pytestmark = pytest.mark.integration


async def ask_image(member: Member, room: str, text: str) -> Received:
    seen = len(member.from_bot(room))
    await member.send(room, text)
    found = await member.wait_for(lambda: [m for m in member.from_bot(room)[seen:]
                                           if m.content.get("msgtype") == "m.image"], timeout=45)
    return found[0]  # type: ignore[no-any-return]


async def decrypted(member: Member, content: dict[str, Any]) -> bytes:
    file = content["file"]
    assert "url" not in content  # the image travels only encrypted
    response = await member.client.download(mxc=file["url"])
    assert isinstance(response, DownloadResponse), response
    assert not response.body.startswith(b"\x89PNG")  # the media repository holds ciphertext
    return bytes(decrypt_attachment(response.body, file["key"]["k"], file["hashes"]["sha256"], file["iv"]))


async def test_a_member_receives_a_chart_as_an_encrypted_image_with_the_text_commands_figures(make_bot, members):
    bot = make_bot(BOT_MIN_CELL="2")
    alice = await members("alice", bot)
    bot.extra_env["BOT_ADMINS"] = alice.user_id
    bot.start()
    bob, carol, dave = await members("bob", bot), await members("carol", bot), await members("dave", bot)
    room = await alice.create_room(invite=(bob.user_id,))
    assert "Created pledge" in (await alice.ask(room, "!pledge create walk Walk out --goal 10")).body
    for signer in (bob, carol, dave):
        await signer.ask(await signer.create_dm(), "!pledge walk")
    image = await ask_image(bob, room, "!chart pledge walk")
    content = image.content
    png = await decrypted(bob, content)
    picture = Image.open(io.BytesIO(png))
    assert picture.format == "PNG"
    designed = (chart.WIDTH, chart.HEADER + chart.ROW + chart.FOOTER)  # one row: the signatures
    assert picture.size == designed == (content["info"]["w"], content["info"]["h"])
    assert content["info"]["mimetype"] == "image/png" and content["info"]["size"] == len(png) < 100_000
    assert content["file"]["v"] == "v2" and content["file"]["key"]["alg"] == "A256CTR"
    info = await bob.ask(room, "!pledge info walk")
    assert image.body == info.body and "3/10" in image.body
    # a roll-call, in Spanish words too
    assert "walkout" in (await alice.ask(room, "!rollcall start walkout Who walks out?")).body
    assert "español" in (await alice.ask(room, "!room lang es")).body  # a Spanish room
    image = await ask_image(alice, room, "!gráfico lista walkout")
    tallies = await alice.ask(room, "!lista walkout")
    assert image.body == tallies.body
    assert Image.open(io.BytesIO(await decrypted(alice, image.content))).format == "PNG"

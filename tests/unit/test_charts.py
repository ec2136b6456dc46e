"""Charts as images: a member asks for a chart and gets an image that shows what the text shows,
small groups pooled and drawn as a range; the renderer's PNG is valid, as designed, small."""

from __future__ import annotations

import io

from PIL import Image

from commands.base import Chart, Reply, Role
from commands.common import chart
from commands.common.smallcell import exact_from
from tests.fakes import DM, World, chart_words

C = Role.COORDINATOR


def _png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.verify()
    return Image.open(io.BytesIO(data))


def test_the_png_is_valid_as_designed_and_small_even_with_every_row_and_long_labels():
    rows = [(f"Company with a long name {i} ñandú", 1000 + i * 37, str(1000 + i * 37)) for i in range(20)]
    spec = chart.spec("Pledge `letter`: “Sign the open letter to the board” — año " * 3, rows, floor=9,
                      subtitle="Total: at least 20000", goal=(50000, "goal 50000"), note="Groups pooled. " * 20)
    drawn = chart.render(spec)
    image = _png(drawn.png)
    assert image.format == "PNG"
    assert (image.width, image.height) == (drawn.width, drawn.height) == chart.size(spec)
    assert chart.size(spec) == (chart.WIDTH, chart.HEADER + chart.ROW * chart.MAX_ROWS + chart.FOOTER)
    assert len(drawn.png) < 100_000


def test_accented_letters_are_drawn_as_their_letter_with_the_accent():
    assert chart.ascii_text("año é ü") == [("a", None), ("n", "tilde"), ("o", None), (" ", None), ("e", "acute"),
                                         (" ", None), ("u", "diaeresis")]
    assert "".join(c for c, _ in chart.ascii_text("¿Sí? “x” — ☃")) == 'Si? "x" - ?'


async def _signed(world: World, company: str, n: int, start: int = 0, slug: str = "paro") -> None:
    for i in range(start, start + n):
        await world.run(f"!pledge {slug} {company}".strip(), user=f"@m{i}:example.org", room=DM)


async def test_a_small_group_is_drawn_as_the_pooled_label_never_as_its_count(world: World):
    await world.run("!pledge create paro Walk out --per-company --goal 40", role=C)
    floor = exact_from(world.settings.BOT_MIN_CELL)
    await _signed(world, "Google", floor)
    await _signed(world, "Amazon", 2, start=100)  # a small group: two people
    [out] = await world.run("!chart pledge paro", room=DM)
    assert isinstance(out, Chart) and isinstance(out.spec, dict)
    rows = {row["label"]: (row["value"], row["text"]) for row in out.spec["rows"]}
    assert rows["Google"] == (floor, str(floor))
    assert rows["Other companies"] == (None, f"fewer than {floor}")
    assert "Amazon" not in rows
    drawn = chart.render(out.spec)
    assert f"fewer than {floor}" in drawn.texts
    assert not any(text == "2" or "Amazon" in text for text in drawn.texts)
    assert set(drawn.texts) == {t for t in chart_words(out.spec) if t}
    # the body says what `!pledge info` says, word for word
    [info] = await world.run("!pledge info paro", room=DM)
    assert isinstance(info, Reply) and out.text == info.text


async def test_charts_in_spanish_with_spanish_words(world: World):
    await world.run("!idioma es", room=DM)
    await world.run("!pledge create carta Firma la carta --goal 10", role=C)
    await _signed(world, "", 1, slug="carta")
    [out] = await world.run("!gráfico compromiso carta", room=DM)
    assert isinstance(out, Chart) and isinstance(out.spec, dict)
    floor = exact_from(world.settings.BOT_MIN_CELL)
    assert out.spec["rows"] == [{"label": "Firmas", "value": None, "text": f"menos de {floor}"}]
    assert out.spec["goal"] == {"value": 10, "text": "meta 10"}
    assert out.spec["title"].startswith("Compromiso carta")
    assert f"menos de {floor}" in str(out.text)


async def test_rollcall_and_turnout_charts_show_the_same_figures_as_the_text(world: World):
    await world.run("!rollcall start walkout Who walks out?", role=C)
    [text] = await world.run("!rollcall walkout")
    [out] = await world.run("!chart rollcall walkout")
    assert isinstance(out, Chart) and isinstance(text, Reply) and out.text == text.text
    await world.run("!action add tomorrow 9am | Call the council", role=C)
    [out] = await world.run("!chart turnout 1")
    assert isinstance(out, Chart) and isinstance(out.spec, dict)
    assert [row["value"] for row in out.spec["rows"]] == [None, None]  # nobody yet reads like a few
    [bad] = await world.run("!chart turnout 99")
    assert isinstance(bad, Reply) and "no upcoming action #99" in bad.text
    [usage] = await world.run("!chart cake 1")
    assert isinstance(usage, Reply) and "!chart pledge <slug>" in usage.text
    assert out.room_id is None  # an answer in the command's room

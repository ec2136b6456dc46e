"""Charts as images: a serializable spec, and the pure function that draws it as a PNG.

A handler builds a spec (:func:`spec`) from figures that already went through the one
small-cell rule (:mod:`commands.common.smallcell`), with every word in the reader's language;
the outbox draws it (:func:`render`) when it sends the chart. The drawing shows nothing the
spec's words do not say: a row with an exact figure is a bar of that length, a pooled row
("fewer than 9") is a hatched range from 0 to the floor, the same for 0 and for floor-1, and a
lower bound ("at least 40") is a bar to that bound.

Design: a card of its own (white, dark text, a grey border) so it reads the same in light and
dark themes; :data:`WIDTH` wide, :func:`size` high (a header, one band per row, a footer).

Fonts: Pillow's built-in scalable font (``ImageFont.load_default(size=...)``, Pillow 10.1+)
needs no system fonts, but it holds ASCII only. Letters with accents (é, ñ, ü) are drawn as
their ASCII letter with the accent drawn above it; ¿ ¡ are left out, typographic quotes and
dashes become their ASCII forms, and anything else becomes "?". So no font is shipped and
both languages read correctly.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw, ImageFont

WIDTH = 800
HEADER = 96
ROW = 56
FOOTER = 56
MAX_ROWS = 12
MAX_LABEL = 40
_PAD = 24
_LABEL_W = 250
_BAR_H = 30
_BG, _INK, _MUTED, _BORDER = "#ffffff", "#111827", "#4b5563", "#6b7280"
_BAR, _POOL, _GOAL = "#1d4ed8", "#9ca3af", "#b91c1c"
_MARKS = {"\u0301": "acute", "\u0300": "grave", "\u0303": "tilde", "\u0308": "diaeresis"}
_ASCII = {"“": '"', "”": '"', "‘": "'", "’": "'", "—": "-", "–": "-", "·": "-", "…": "...", "¿": "", "¡": "",
          "\u00a0": " ", "≥": ">=", "−": "-", "×": "x"}


@dataclass(frozen=True)
class Rendered:
    png: bytes
    width: int
    height: int
    texts: tuple[str, ...]  # every text drawn, in order (what a screen shows; tests read it)


def spec(title: str, rows: Sequence[tuple[str, int | None, str]], *, floor: int, subtitle: str = "",
         goal: tuple[int, str] | None = None, note: str = "") -> dict[str, Any]:
    """A chart's spec: ``rows`` as (label, exact figure or ``None`` when pooled, the figure's
    words), at most :data:`MAX_ROWS`; ``floor``: the smallest exact figure (2k-1); ``goal``:
    a target line (figure, its words). Every text already in the reader's language."""
    return {"v": 1, "title": title, "subtitle": subtitle, "floor": floor, "note": note,
            "rows": [{"label": label[:MAX_LABEL], "value": value, "text": text}
                     for label, value, text in rows[:MAX_ROWS]],
            "goal": None if goal is None else {"value": goal[0], "text": goal[1]}}


def size(chart: dict[str, Any]) -> tuple[int, int]:
    """The image's width and height for a spec: fixed width, a band per row."""
    return WIDTH, HEADER + ROW * max(1, len(chart["rows"])) + FOOTER


def ascii_text(text: str) -> list[tuple[str, str | None]]:
    """``text`` as characters the built-in font has, each with the accent to draw above it."""
    out: list[tuple[str, str | None]] = []
    for char in text:
        char = _ASCII.get(char, char)
        for part in char:
            if part.isascii():
                out.append((part, None))
                continue
            decomposed = unicodedata.normalize("NFD", part)
            base = decomposed[0]
            mark = _MARKS.get(decomposed[1]) if len(decomposed) > 1 else None
            out.append((base, mark) if base.isascii() and mark else ("?", None))
    return out


class _Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.image = Image.new("RGB", (width, height), _BG)
        self.draw = ImageDraw.Draw(self.image)
        self.texts: list[str] = []

    def text(self, xy: tuple[float, float], text: str, size: int, fill: str = _INK, anchor_right: bool = False) -> None:
        """Draws ``text`` (accents drawn by hand, see the module docstring)."""
        self.texts.append(text)
        font = ImageFont.load_default(size=size)
        chars = ascii_text(text)
        plain = "".join(c for c, _ in chars)
        x, y = float(xy[0]), float(xy[1])
        if anchor_right:
            x -= self.draw.textlength(plain, font=font)
        self.draw.text((x, y), plain, font=font, fill=fill)
        for index, (char, mark) in enumerate(chars):
            if mark is not None:
                left = x + self.draw.textlength(plain[:index], font=font)
                self._accent(left, y, self.draw.textlength(char, font=font), size, char.isupper(), mark, fill)

    def _accent(self, left: float, top: float, width: float, size: int, upper: bool, mark: str, fill: str) -> None:
        cx = left + width / 2
        y = top + (size * 0.02 if upper else size * 0.22)  # above an x-height letter, or a capital
        h = max(2.0, size * 0.16)
        line = max(1, size // 14)
        if mark == "acute":
            self.draw.line([(cx - h * 0.3, y + h), (cx + h * 0.5, y)], fill=fill, width=line)
        elif mark == "grave":
            self.draw.line([(cx - h * 0.5, y), (cx + h * 0.3, y + h)], fill=fill, width=line)
        elif mark == "tilde":
            w = width * 0.4
            self.draw.line([(cx - w, y + h * 0.7), (cx - w / 3, y + h * 0.2), (cx + w / 3, y + h * 0.7),
                            (cx + w, y + h * 0.2)], fill=fill, width=line, joint="curve")
        else:  # diaeresis
            r = max(1.0, size * 0.05)
            for dx in (-width * 0.22, width * 0.22):
                self.draw.ellipse([cx + dx - r, y + h / 2 - r, cx + dx + r, y + h / 2 + r], fill=fill)


def render(chart: dict[str, Any]) -> Rendered:
    """The chart as a PNG (pure: the same spec gives the same bytes)."""
    width, height = size(chart)
    canvas = _Canvas(width, height)
    draw = canvas.draw
    draw.rectangle([0, 0, width - 1, height - 1], outline=_BORDER, width=2)
    canvas.text((_PAD, 18), chart["title"][:70], 26)
    if chart.get("subtitle"):
        canvas.text((_PAD, 54), chart["subtitle"][:90], 17, _MUTED)
    rows = chart["rows"]
    goal = chart.get("goal")
    floor = int(chart["floor"])
    scale_max = max([floor] + [int(r["value"]) for r in rows if r["value"] is not None]
                    + ([int(goal["value"])] if goal else []))
    left, right = _PAD + _LABEL_W, width - _PAD - 150
    span = right - left

    def at(value: int) -> float:
        return left + span * min(value, scale_max) / scale_max

    for index, row in enumerate(rows):
        top = HEADER + ROW * index + (ROW - _BAR_H) // 2
        canvas.text((_PAD, top + 5), row["label"], 18)
        if row["value"] is None:  # pooled: the range 0..floor-1, never a length of its own
            draw.rectangle([left, top, at(floor), top + _BAR_H], outline=_POOL, width=2)
            for x in range(int(left) - _BAR_H, int(at(floor)), 10):
                draw.line([(max(x, left), top + _BAR_H - max(0, left - x)),
                           (min(x + _BAR_H, at(floor)), top + max(0, x + _BAR_H - at(floor)))], fill=_POOL, width=1)
            canvas.text((at(floor) + 10, top + 6), row["text"], 17, _MUTED)
        else:
            draw.rectangle([left, top, max(left + 2, at(int(row["value"]))), top + _BAR_H], fill=_BAR)
            canvas.text((at(int(row["value"])) + 10, top + 6), row["text"], 18)
    if goal:
        goal_x = at(int(goal["value"]))
        bottom = HEADER + ROW * max(1, len(rows))
        draw.line([(goal_x, HEADER - 6), (goal_x, bottom)], fill=_GOAL, width=3)
        canvas.text((goal_x, HEADER - 24), goal["text"], 15, _GOAL, anchor_right=goal_x > width / 2)
    if chart.get("note"):
        canvas.text((_PAD, height - FOOTER + 18), chart["note"][:100], 15, _MUTED)
    out = io.BytesIO()
    canvas.image.quantize(colors=64).save(out, format="PNG", optimize=True)
    return Rendered(out.getvalue(), width, height, tuple(canvas.texts))

"""Mini-markup for replies: `code` spans, **bold** and line breaks, escaped for HTML."""

from __future__ import annotations

import html
import re

_CODE = re.compile(r"`([^`\n]+)`")
_BOLD = re.compile(r"\*\*([^*\n]+)\*\*")


def render(text: str) -> tuple[str, str]:
    """Mini-markup to (plain body, HTML). Everything is escaped first, so member input placed
    in a reply can never become HTML. Supports `code`, **bold** and line breaks."""
    # code spans are set aside before **bold** is applied, so member input quoted with code()
    # stays literal (no bold inside it), in HTML and in the plain body
    spans: list[str] = []
    marker = "\ue000"
    while marker in text:
        marker += "\ue000"

    def set_aside(match: re.Match[str]) -> str:
        spans.append(match.group(1))
        return f"{marker}{len(spans) - 1}{marker}"

    def restore(template: str, value: str, escape: bool) -> str:
        return re.sub(re.escape(marker) + r"(\d+)" + re.escape(marker),
                      lambda m: template.format(html.escape(spans[int(m.group(1))], quote=False)
                                                if escape else spans[int(m.group(1))]), value)

    aside = _CODE.sub(set_aside, text)
    formatted = _BOLD.sub(r"<strong>\1</strong>", html.escape(aside, quote=False)).replace("\n", "<br>")
    plain = _BOLD.sub(r"\1", aside)
    return restore("`{}`", plain, False), restore("<code>{}</code>", formatted, True)

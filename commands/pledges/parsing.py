"""How ``pledge create`` is read: the slug rule and the declared options.

Kept apart from :mod:`commands.pledges` (the command family) because it is pure parsing that
tests call directly; the family's handlers and the decisions behind these rules (module
docstring there) stay in ``pledges.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from commands.base import CommandError, UsageError, code, names
from commands.common.i18n import N_, Gettext
from commands.options import Flag, Number, Options, Words

SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
MAX_TITLE = 200
MAX_NUMBER = 10_000_000


def reserved_slugs() -> set[str]:
    return names().words_of("pledge")


def check_slug(raw: str, prefix: str, _: Gettext) -> str:
    slug = raw.strip().lower()
    if slug in reserved_slugs():
        raise CommandError(_("{slug} can't name a pledge: `{prefix}pledge {name}` is a command. Pick another "
                             "short name.").format(slug=code(slug), prefix=prefix, name=slug))
    if not SLUG.fullmatch(slug):
        raise CommandError(_("{typed} is not a usable pledge name. Use 1-32 lowercase letters, digits and dashes, "
                             "like `letter` or `walkout-dec1`.").format(typed=code(raw, 40)))
    return slug


@dataclass(frozen=True)
class CreateRequest:
    slug: str
    title: str
    goal: int | None = None
    threshold: int | None = None
    per_company: bool = False
    deadline: str | None = None


CREATE_OPTIONS = Options({
    "goal": Number(1, MAX_NUMBER),
    "threshold": Number(1, MAX_NUMBER),
    "per-company": Flag(),
    "deadline": Words(N_("`--deadline` needs a time, like `--deadline Dec 31` or `--deadline in 2 weeks`.")),
})


def parse_create(text: str, prefix: str, _: Gettext, lang: str = "en") -> CreateRequest:
    """Split what follows ``pledge create`` into slug, title and options (see the module docstring);
    errors in the reader's language (``_``: ``ctx._``)."""
    found = CREATE_OPTIONS.parse(text, prefix, _, lang)
    words = found.words
    if not words:
        raise UsageError(_("Give the pledge a short name and a title."))
    slug = check_slug(words[0], prefix, _)
    title = " ".join(" ".join(words[1:]).split())
    if not title:
        raise UsageError(_("Give the pledge a title after its name, like `{prefix}pledge create {slug} Sign the "
                           "open letter`.").format(prefix=prefix, slug=slug))
    if len(title) > MAX_TITLE:
        raise CommandError(_("That title is too long ({length} characters); keep it under {limit}.").format(
            length=len(title), limit=MAX_TITLE))
    goal, threshold = found.get("goal"), found.get("threshold")
    if goal is not None and threshold is not None and threshold > goal:
        raise CommandError(_("The threshold ({threshold}) can't be above the goal ({goal}).").format(
            threshold=threshold, goal=goal))
    return CreateRequest(slug, title, goal, threshold, "per-company" in found, found.get("deadline"))

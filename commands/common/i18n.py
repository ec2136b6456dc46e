"""Member-facing text in the reader's language: gettext catalogs, maintained with Babel.

English is the source language (the text in the code); other languages are catalogs under
``commands/locale/<lang>/LC_MESSAGES/organizer_bot.po``, compiled to ``.mo`` files that are
committed and shipped in the wheel, so a fresh install answers in Spanish without a build step.
Handlers translate with ``ctx._("…")`` (``ctx.ngettext`` for plurals); a text declared at module
level is marked with :func:`N_` for extraction and translated where it is shown. Code spans
(command words, slugs, company names) stay literal inside translations.

The workflow (README "Languages"), run from the repository root:

    pybabel extract -F babel.cfg -k N_ -k ngettext:1,2 --no-location --sort-output \
        -o commands/locale/organizer_bot.pot .
    pybabel update -i commands/locale/organizer_bot.pot -d commands/locale -D organizer_bot
    # translate the new or fuzzy entries in commands/locale/es/LC_MESSAGES/organizer_bot.po
    pybabel compile -d commands/locale -D organizer_bot

``tests/unit/test_i18n.py`` fails when a marked text has no translation or the compiled
catalog is stale.
"""

from __future__ import annotations

import functools
import gettext
import unicodedata
from collections.abc import Callable
from pathlib import Path

DOMAIN = "organizer_bot"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
LANGUAGES = {"en": "English", "es": "Español"}  # code → the language's own name
DEFAULT = "en"
# what members may type for a language (accents and case ignored)
_WORDS = {"en": "en", "english": "en", "ingles": "en", "es": "es", "espanol": "es", "spanish": "es",
          "castellano": "es"}


Gettext = Callable[[str], str]  # ``ctx._`` or ``translations(lang).gettext``: a text in the reader's language


def N_(text: str) -> str:
    """Mark a module-level text for extraction; it is translated where it is shown."""
    return text


@functools.cache
def translations(lang: str) -> gettext.NullTranslations:
    """The catalog of ``lang`` (English: the texts as written). A missing catalog of a language
    the bot offers is an error at once, not a silent fallback to English."""
    if lang == DEFAULT:
        return gettext.NullTranslations()
    if lang not in LANGUAGES:
        raise ValueError(f"no catalog for language {lang!r}")
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[lang])


def number(n: int, lang: str) -> str:
    """A whole number as a reader of ``lang`` writes it: ``10,000,000`` in English; in Spanish
    grouped by Babel's rule with no-break spaces (``10 000 000``, RAE style, read the same in
    Mexico and Spain), never with a ``de`` after it in a plural."""
    from babel.numbers import format_decimal

    if lang != "es":
        return f"{n:,}"
    return format_decimal(n, locale="es").replace(".", "\u00a0") if abs(n) >= 10_000 else str(n)


def sentence(text: str) -> str:
    """``text`` starting a sentence: its first letter upper case ("menos de 5" after a period)."""
    return text[:1].upper() + text[1:]


def language(word: str) -> str | None:
    """The language code a member meant (``es``, ``Español``, ``spanish``…), or ``None``."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", word.strip().lower()) if not unicodedata.combining(c))
    return _WORDS.get(plain)

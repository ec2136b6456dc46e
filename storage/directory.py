"""The one company normalizer, used by pledges, roll-calls and contract lookups.

``normalize`` turns a name into a key that ignores case, accents, spacing, punctuation,
parenthetical remarks, a leading/trailing "The", ``.com`` and legal suffixes (Inc., LLC,
L.L.C., Corp., Ltd, plc, Co., …). A :class:`CompanyDirectory` maps keys to one canonical
employer: the built-in table ``data/company_aliases.csv`` (edit it to add companies), every
vendor, parent and alias named in the shipped ``storage/data/ice_contracts.csv``, and the aliases
coordinators add with ``!company alias`` (stored in ``storage.companies``; they win over the
built-in ones).

Commands call ``await directory(ctx.db)`` once and then the sync ``resolve``/``suggest``;
the directory is cached per database and reloaded only when the alias table changed.
"""

from __future__ import annotations

import csv
import functools
import re
import unicodedata
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rapidfuzz import fuzz, process

from storage import companies as store
from storage.contracts import CONTRACTS_CSV
from storage.db import Database
from storage.hashing import Keyring

DATA_DIR = Path(__file__).parent / "data"
ALIASES_CSV = DATA_DIR / "company_aliases.csv"

_LEGAL_SUFFIXES = frozenset(
    """inc incorporated llc lc pllc llp lp lllp ltd limited corp corporation co company plc
    gmbh ag sa nv bv pbc pte pty""".split()
)
# Words a legal name may carry after the name people use for the firm ("VISTA OUTDOOR SALES LLC",
# "GENERAL SECURITY SERVICES CORPORATION"): generic lines of business that name nothing by themselves.
_GENERIC_TAIL = frozenset("sales service services solutions group holdings enterprises and".split())
_PAREN = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_DOTCOM = re.compile(r"\.com\b")
_NON_WORD = re.compile(r"[^0-9a-z]+")


UNLISTED_PURPOSE = "company-unlisted"


def unlisted_key(keyring: Keyring, name: str) -> str:
    """The stored key of a company the directory does not know (issue #23): ``~`` and a keyed
    reference of its normalized name, so no member's wording is kept, the same name still gives
    the same key, and it can never equal a directory key (those are ``[0-9a-z]``). Such a key is
    never shown: its answers are pooled with the unlisted companies."""
    return "~" + keyring.ref(UNLISTED_PURPOSE, normalize(name)).hex()[:32]


def listed(key: str, found: CompanyDirectory) -> Company | None:
    """The directory's company for a stored key, or ``None`` (unlisted: pooled, never named)."""
    return None if key.startswith("~") else found.company(key)


@functools.lru_cache(maxsize=65536)
def normalize(name: str) -> str:
    """The comparison key of a company name: ``"Amazon.com, Inc."`` → ``"amazon"``,
    ``"Pen-Link, Ltd."`` → ``"penlink"``, ``"Deloitte & Touche"`` → ``"deloitteandtouche"``."""
    return "".join(_words(name))


def legal_name_match(name: str, vendors: Iterable[str]) -> str | None:
    """For a name the directory does not know: the key of the one vendor whose legal name is
    ``name`` followed only by generic business words ("Vista Outdoor" → the key of "VISTA OUTDOOR
    SALES LLC"). ``None`` unless that vendor is the only one whose key begins with ``name``'s, so
    "Sierra" does not pick "SIERRA SERVICES INC" while "SIERRA NEVADA CORP" is known too."""
    key = normalize(name)
    starting = {normalize(v): v for v in vendors if key and normalize(v).startswith(key)}
    if len(starting) != 1:
        return None
    ((found, vendor),) = starting.items()
    words = list(_words(vendor))
    while len(words) > 1 and words[-1] in _GENERIC_TAIL:
        words.pop()
    return found if "".join(words) == key else None


@functools.lru_cache(maxsize=65536)
def _words(name: str) -> tuple[str, ...]:
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = _PAREN.sub(" ", text)
    text = _DOTCOM.sub(" ", text)
    text = text.replace("&", " and ").replace("+", " and ")
    text = text.replace(".", "").replace("'", "").replace("\u2019", "")  # L.L.C. → llc, Macy's → macys
    tokens = _NON_WORD.sub(" ", text).split()
    if len(tokens) > 1 and tokens[0] == "the":
        tokens = tokens[1:]
    if len(tokens) > 1 and tokens[-1] == "the":  # "GEO GROUP INC, THE"
        tokens = tokens[:-1]
    while len(tokens) > 1 and tokens[-1] in _LEGAL_SUFFIXES:
        tokens = tokens[:-1]
    return tuple(tokens)


@dataclass(frozen=True)
class Company:
    key: str
    display: str
    note: str = ""  # e.g. which similarly named company this is *not*


@dataclass
class CompanyDirectory:
    """Name → canonical company. Build with :meth:`builtin` or ``await CompanyDirectory.load(db)``."""

    companies: dict[str, Company] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # alias key → company key
    names: dict[str, str] = field(default_factory=dict)  # alias key → a readable form of it
    search_terms: dict[str, list[str]] = field(default_factory=dict)  # company key → API search words
    custom: set[str] = field(default_factory=set)  # alias keys added by coordinators

    # ------------------------------------------------------------ building

    def add_company(self, key: str, display: str, note: str = "") -> Company:
        company = self.companies.get(key)
        if company is None:
            company = self.companies[key] = Company(key, display, note)
        self.add_alias(display, key)
        return company

    def add_alias(self, alias: str, company_key: str, *, override: bool = False) -> bool:
        """Map ``alias`` to a company; an existing mapping is kept unless ``override``."""
        alias_key = normalize(alias)
        if not alias_key or (alias_key in self.aliases and not override):
            return False
        self.aliases[alias_key] = company_key
        self.names.setdefault(alias_key, alias.strip())
        return True

    @classmethod
    def builtin(cls) -> CompanyDirectory:
        """The built-in table (cached; callers get a copy they may extend)."""
        return _builtin().copy()

    def copy(self) -> CompanyDirectory:
        return CompanyDirectory(
            dict(self.companies), dict(self.aliases), dict(self.names),
            {k: list(v) for k, v in self.search_terms.items()}, set(self.custom),
        )

    @classmethod
    async def load(cls, db: Database) -> CompanyDirectory:
        """Built-in table plus the coordinators' aliases (which win)."""
        found = cls.builtin()
        for row in await store.load_aliases(db):
            if row.company_key not in found.companies:
                found.companies[row.company_key] = Company(row.company_key, row.display)
                found.add_alias(row.display, row.company_key)
            found.aliases[row.alias_key] = row.company_key
            found.names.setdefault(row.alias_key, row.alias_key)
            found.custom.add(row.alias_key)
        return found

    # ------------------------------------------------------------ lookups

    def resolve(self, name: str) -> Company | None:
        key = normalize(name)
        company_key = self.aliases.get(key)
        return self.companies.get(company_key) if company_key else None

    def company(self, key: str) -> Company | None:
        return self.companies.get(key)

    def keys_for(self, company_key: str) -> set[str]:
        """Every key that stands for this company (its own and its aliases'), so rows stored
        under an old or raw vendor key are still found."""
        keys = {company_key}
        keys.update(alias for alias, target in self.aliases.items() if target == company_key)
        return keys

    def aliases_of(self, company_key: str) -> list[str]:
        return sorted(
            {self.names[a] for a, target in self.aliases.items() if target == company_key and a in self.names},
            key=str.casefold,
        )

    def suggest(self, name: str, limit: int = 3, extra: Iterable[str] = ()) -> list[str]:
        """Display names of the companies closest to ``name`` ("Did you mean Salesforce?").
        ``extra`` adds further names (such as vendors only known from imported data)."""
        query = normalize(name)
        if not query:
            return []
        choices: dict[str, str] = {}  # alias key → display name to offer
        for alias_key, company_key in self.aliases.items():
            company = self.companies.get(company_key)
            if company is not None:
                choices[alias_key] = company.display
        for other in extra:
            choices.setdefault(normalize(other), other)
        choices.pop("", None)
        found: list[str] = []
        for _key, _score, alias_key in process.extract(
            query, {k: k for k in choices}, scorer=_similarity, limit=limit * 6, score_cutoff=70
        ):
            display = choices[alias_key]
            if display not in found:
                found.append(display)
            if len(found) == limit:
                break
        return found


def _similarity(query: str, choice: str, **_: object) -> float:
    """Whole-key similarity, or a slightly discounted partial match when both are long enough
    (``lexis`` → ``lexisnexis``) — short aliases such as ``TR`` must not match everything."""
    score = fuzz.ratio(query, choice)
    if min(len(query), len(choice)) >= 5:
        score = max(score, 0.85 * fuzz.partial_ratio(query, choice))
    return score


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


@functools.lru_cache(maxsize=1)
def _builtin() -> CompanyDirectory:
    directory = CompanyDirectory()
    for row in _read_csv(ALIASES_CSV):
        key = row["key"].strip()
        directory.add_company(key, row["display"].strip(), (row.get("note") or "").strip())
        for alias in _split(row["aliases"]):
            directory.add_alias(alias, key)
        directory.search_terms[key] = _split(row.get("search") or "") or [row["display"].strip()]
    # Every name in the shipped dataset resolves: the row's parent (or vendor) decides the
    # company; curated entries above win over anything derived here.
    for row in _read_csv(CONTRACTS_CSV):
        names = [row["parent_company"], row["vendor"], *_split(row["aliases"])]
        company = next((c for c in map(directory.resolve, names[:2]) if c is not None), None)
        if company is None:
            display = _PAREN.sub("", row["parent_company"] or row["vendor"]).strip(" ,")
            company = directory.add_company(normalize(display), display)
        for name in names:
            directory.add_alias(name, company.key)
    return directory


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(";") if part.strip()]


_CACHE: weakref.WeakKeyDictionary[Database, tuple[str, CompanyDirectory]] = weakref.WeakKeyDictionary()


async def directory(db: Database) -> CompanyDirectory:
    """The directory for ``db``, cached until the alias table changes (one tiny read per call)."""
    stamp = await store.aliases_stamp(db)
    cached = _CACHE.get(db)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    loaded = await CompanyDirectory.load(db)
    _CACHE[db] = (stamp, loaded)
    return loaded


def resolve(name: str) -> Company | None:
    """Resolve with the built-in table only (no coordinator aliases); for code without a DB."""
    return _builtin().resolve(name)


def suggest(name: str, limit: int = 3) -> list[str]:
    return _builtin().suggest(name, limit)


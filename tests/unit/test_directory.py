"""The one company normalizer and directory: keys, aliases, subsidiaries, suggestions."""

from __future__ import annotations

import csv

import pytest

from storage.contracts import CONTRACTS_CSV
from storage.directory import CompanyDirectory, legal_name_match, normalize, resolve, suggest


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Amazon.com, Inc.", "amazon"),
        ("AMAZON.COM INC", "Amazon"),
        ("Pen-Link, Ltd.", "Penlink"),
        ("Four Points Technology, L.L.C.", "four points technology"),
        ("Deloitte & Touche", "Deloitte and Touche"),
        ("GEO GROUP INC, THE", "The GEO Group"),
        ("Booz Allen Hamilton Corp.", "booz  allen   hamilton"),
        ("Accenture plc", "ACCENTURE"),
        ("Oracle Corporation", "Oracle Co."),
        ("Nestlé S.A.", "nestle"),
        ("Paragon Solutions (US) Inc.", "Paragon Solutions"),
    ],
)
def test_normalize_ignores_case_spacing_punctuation_and_legal_suffixes(a: str, b: str) -> None:
    assert normalize(a) == normalize(b)
    assert normalize(a)


def test_normalize_keeps_names_that_are_only_a_suffix_and_distinguishes_different_names() -> None:
    assert normalize("Co.") == "co"
    assert normalize("  ") == ""
    assert normalize("BI2 Technologies") != normalize("B.I. Incorporated")
    assert normalize("Paragon Systems") != normalize("Paragon Solutions")


@pytest.mark.parametrize(
    ("name", "display"),
    [
        ("AWS", "Amazon"), ("Amazon Web Services", "Amazon"), ("Whole Foods", "Amazon"), ("amazon.com", "Amazon"),
        ("Alphabet", "Google"), ("DeepMind", "Google"), ("YouTube", "Google"), ("Google Cloud", "Google"),
        ("Facebook", "Meta"), ("Instagram", "Meta"), ("WhatsApp", "Meta"), ("Meta Platforms, Inc.", "Meta"),
        ("GitHub", "Microsoft"), ("LinkedIn", "Microsoft"), ("Azure", "Microsoft"),
        ("Slack", "Salesforce"), ("Tableau", "Salesforce"),
        ("West Publishing Corporation", "Thomson Reuters"), ("West", "Thomson Reuters"),
        ("LexisNexis Risk Solutions", "RELX (LexisNexis)"),
        ("Defense Point Security, LLC", "Accenture"), ("Accenture Federal Services", "Accenture"),
        ("Vigilant Solutions", "Motorola Solutions"), ("HPE", "Hewlett Packard Enterprise"), ("HP Inc.", "HP"),
        ("Twitter", "X (Twitter)"), ("B.I. Incorporated", "The GEO Group"), ("CSRA", "General Dynamics"),
        ("Corrections Corporation of America", "CoreCivic"), ("Perspecta", "Peraton"),
    ],
)
def test_aliases_and_subsidiaries_resolve_to_one_employer(name: str, display: str) -> None:
    company = resolve(name)
    assert company is not None and company.display == display


def test_name_traps_stay_apart() -> None:
    paragon = resolve("Paragon")
    assert paragon is not None and paragon.key == "paragonsolutions"
    for other in ("Paragon Systems", "Paragon Systems, Inc.", "Paragon Professional Services"):
        found = resolve(other)
        assert found is not None and found.key != "paragonsolutions", other
    evigilant = resolve("eVigilant.com")
    assert evigilant is not None and evigilant.key == "evigilant"
    assert resolve("Vigilant Solutions").key == "motorola"  # type: ignore[union-attr]


def test_every_name_in_the_shipped_dataset_resolves_to_its_rows_company() -> None:
    with CONTRACTS_CSV.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 248
    for row in rows:
        owner = resolve(row["parent_company"])
        assert owner is not None, row["parent_company"]
        for name in [row["vendor"], *filter(None, (a.strip() for a in row["aliases"].split(";")))]:
            found = resolve(name)
            assert found is not None, name
            assert found.key == owner.key, (name, found, owner)


@pytest.mark.parametrize(
    ("typo", "expected"),
    [("Salesfroce", "Salesforce"), ("Amazn", "Amazon"), ("Palantri", "Palantir"), ("Micrsoft", "Microsoft"),
     ("Tomson Reuters", "Thomson Reuters"), ("Lexis", "RELX (LexisNexis)")],
)
def test_suggest_offers_the_closest_company_first(typo: str, expected: str) -> None:
    assert resolve(typo) is None
    assert suggest(typo)[0] == expected


def test_suggest_is_empty_for_unrelated_names_and_respects_limit() -> None:
    assert suggest("Acme Detention") == []
    assert suggest("xyz") == []
    assert suggest("") == []
    assert len(suggest("Paragon Sys", limit=2)) == 2
    assert "Paragon Systems" in suggest("Paragon Sys")


@pytest.mark.parametrize(
    ("asked", "vendors", "expected"),
    [
        ("Vista Outdoor", ["VISTA OUTDOOR SALES LLC", "FEDERAL CARTRIDGE COMPANY"], "vistaoutdoorsales"),
        ("General Security", ["GENERAL SECURITY SERVICES CORPORATION"], "generalsecurityservices"),
        ("Acme Detention", ["ACME DETENTION SALES AND SERVICES, INC.", "Acme Detention Sales & Services Inc"],
         "acmedetentionsalesandservices"),
        ("Paragon", ["THE PARAGON GROUP HOLDINGS, L.L.C."], "paragongroupholdings"),
    ],
)
def test_a_legal_name_with_generic_words_after_the_asked_name_matches(asked: str, vendors: list[str],
                                                                       expected: str) -> None:
    assert legal_name_match(asked, vendors) == expected


@pytest.mark.parametrize(
    ("asked", "vendors"),
    [
        ("Vista", ["VISTA OUTDOOR SALES LLC"]),  # "outdoor" names something: not generic
        ("Federal", ["FEDERAL CARTRIDGE COMPANY"]),
        ("Oracle", ["ORACLE SALES CONSULTING PARTNERS LLC"]),  # an unrelated firm's name goes on after "sales"
        ("Acme", ["ACMETECH SERVICES INC"]),  # a longer word, not the name asked
        ("Sierra", ["SIERRA SERVICES INC", "SIERRA NEVADA CORPORATION"]),  # two firms begin with the name
        ("Sierra", ["SIERRA SERVICES INC", "SIERRA SALES LLC"]),  # two different legal names: ambiguous
        ("", ["SALES GROUP INC"]),
        ("Inc.", ["SALES GROUP INC"]),
    ],
)
def test_other_or_ambiguous_legal_names_do_not_match(asked: str, vendors: list[str]) -> None:
    assert legal_name_match(asked, vendors) is None


def test_builtin_directory_is_a_copy() -> None:
    first = CompanyDirectory.builtin()
    first.add_alias("Scratch Name", "amazon")
    assert CompanyDirectory.builtin().resolve("Scratch Name") is None

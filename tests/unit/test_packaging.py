"""`pip install .` ships every data file the code reads, from where the code reads it."""

from __future__ import annotations

import fnmatch
import tomllib
from importlib import resources
from pathlib import Path

from storage.contracts import CONTRACTS_CSV
from storage.directory import ALIASES_CSV

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "commands", "storage")


def _package_of(path: Path) -> Path:
    folder = path.parent
    while not (folder / "__init__.py").exists():
        folder = folder.parent
    return folder


def test_every_data_file_in_the_packages_is_declared_as_package_data() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    data = [p for name in PACKAGES for p in (ROOT / name).rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts]
    assert data, "no data files found: is ROOT right?"
    for path in data:
        package = _package_of(path)
        dotted = ".".join(package.relative_to(ROOT).parts)
        relative = path.relative_to(package).as_posix()
        globs = declared.get(dotted, [])
        assert any(fnmatch.fnmatch(relative, g) for g in globs), f"{path.relative_to(ROOT)} is not in package-data"


def test_the_data_files_are_found_through_their_packages() -> None:
    contracts = resources.files("storage").joinpath("data", "ice_contracts.csv")
    aliases = resources.files("storage").joinpath("data", "company_aliases.csv")
    assert contracts.is_file() and Path(str(contracts)) == CONTRACTS_CSV
    assert aliases.is_file() and Path(str(aliases)) == ALIASES_CSV

"""README, config.example.env and the code agree on the configuration keys."""

from __future__ import annotations

import re
from pathlib import Path

from bot.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_documented_in_the_example_env():
    example = (ROOT / "config.example.env").read_text()
    documented = set(re.findall(r"^#? ?([A-Z_]+)=", example, re.M))
    assert set(Settings.model_fields) <= documented, set(Settings.model_fields) - documented


def test_every_setting_is_in_the_readme_table():
    readme = (ROOT / "README.md").read_text()
    missing = [key for key in Settings.model_fields if f"`{key}`" not in readme]
    assert missing == []


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 dev.py test" in readme and "python3 dev.py test" in ci

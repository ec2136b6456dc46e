"""The house limits (module and class sizes, folder width, no import circles, storage importing
nothing above it), checked by the shared tool when it sits beside the project, as it does for
developers and CI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT.parent / "shared" / "tools" / "check_house.py"


@pytest.mark.skipif(not TOOL.exists(), reason="shared/tools/check_house.py is not beside this checkout")
def test_the_house_limits_hold() -> None:
    done = subprocess.run([sys.executable, str(TOOL)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr

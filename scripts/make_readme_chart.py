"""Draw docs/chart.png, the chart the README shows, from demo data through the bot's own code:
the small-cell rule (k = 5, so figures are exact from 9) and the renderer the outbox uses.

    .venv/bin/python scripts/make_readme_chart.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from commands.common import chart  # noqa: E402
from commands.common.smallcell import exact_from, in_words, suppress  # noqa: E402

K = 5
DEMO = {"Acme Logistics": 31, "Northwind Data": 18, "Globex Security": 12, "Initech": 3, "Umbrella Services": 2}


def main() -> None:
    shown = suppress(DEMO, K)
    rows = [(in_words(row.label, str), row.exact_value, in_words(row.shown_text, str)) for row in shown.rows]
    floor = exact_from(K)
    spec = chart.spec("Pledge letter: Sign the open letter", rows, floor=floor, subtitle=f"Total: {shown.total_text}",
                      goal=(100, "goal 100"), note=f"Groups of fewer than {floor} are pooled and drawn as a range.")
    drawn = chart.render(spec)
    out = ROOT / "docs" / "chart.png"
    out.write_bytes(drawn.png)
    print(f"{out.relative_to(ROOT)}: {drawn.width}x{drawn.height}, {len(drawn.png)} bytes")


if __name__ == "__main__":
    main()

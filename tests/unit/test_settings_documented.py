"""Every setting is documented: its WAGATE_* name appears in the README, SECURITY.md or a page
under docs/ (a new setting without a word on what it does fails here)."""

from __future__ import annotations

from pathlib import Path

from wagate.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_documented() -> None:
    pages = [ROOT / "README.md", ROOT / "SECURITY.md", *sorted((ROOT / "docs").glob("*.md"))]
    text = "\n".join(page.read_text() for page in pages)
    missing = [
        f"WAGATE_{name.upper()}"
        for name in Settings.model_fields
        if f"WAGATE_{name.upper()}" not in text
    ]
    assert missing == [], f"settings with no documentation: {missing}"

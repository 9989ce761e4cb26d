"""The dashboard's privacy form offers exactly the settings and values the API takes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from wagate.engines.actions.account import PRIVACY_VALUES

ACCOUNT_JS = Path(__file__).resolve().parents[2] / "src/wagate/dashboard/static/account.js"


def test_the_privacy_table_matches_the_api() -> None:
    found = re.search(r"export const PRIVACY = (\{.*?\n\});", ACCOUNT_JS.read_text(), re.S)
    assert found is not None
    table = json.loads(found.group(1))
    assert table == {name: list(values) for name, values in PRIVACY_VALUES.items()}

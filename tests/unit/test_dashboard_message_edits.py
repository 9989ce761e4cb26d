"""The Messages tab offers an edit where the API allows one: the page declares the editable
kinds and the edit window, and they are the ones the gateway enforces."""

from __future__ import annotations

import re
from pathlib import Path

from wagate.engines.actions.edits import EDIT_WINDOW, EDITABLE_KINDS

STATIC = Path(__file__).parents[2] / "src" / "wagate" / "dashboard" / "static"


def test_the_page_declares_the_gateways_edit_rules() -> None:
    page = (STATIC / "index.html").read_text()
    table = re.search(r'<table[^>]*id="msg-table"[^>]*>', page)
    assert table is not None
    kinds = re.search(r'data-editable-kinds="([^"]*)"', table.group(0))
    window = re.search(r'data-edit-window-s="(\d+)"', table.group(0))
    assert kinds is not None and window is not None
    assert kinds.group(1).split() == list(EDITABLE_KINDS)
    assert int(window.group(1)) == EDIT_WINDOW.total_seconds()
    script = (STATIC / "message_actions.js").read_text()
    assert "editableKinds" in script and "editWindowS" in script

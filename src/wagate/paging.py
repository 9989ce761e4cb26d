"""Page cursors that name a row by its id (messages, dead letters, instances)."""

from __future__ import annotations

import re

from wagate.errors import ValidationFailed

# The cursor is a row id: a BIGINT. Checked here because a larger number fails in the
# database driver (500), and str.isdigit() also says yes to digits int() refuses ("²").
CURSOR = re.compile(r"[0-9]{1,19}")
MAX_BIGINT = 2**63 - 1


def id_cursor(cursor: str) -> int:
    """The id a cursor this API gave names; anything else is a 422 on `cursor`."""
    if CURSOR.fullmatch(cursor) is None or int(cursor) > MAX_BIGINT:
        raise ValidationFailed.field("cursor", "not a cursor this API gave")
    return int(cursor)

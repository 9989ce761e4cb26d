"""The admin token: from WAGATE_ADMIN_TOKEN, or generated once, kept hashed, printed once."""

from __future__ import annotations

import sys

from sqlalchemy.exc import IntegrityError

from wagate.auth.tokens import ADMIN_PREFIX, hash_token, new_token
from wagate.config import Settings
from wagate.db import Database
from wagate.models import KeyValue

ADMIN_KEY = "admin_token_hash"


async def admin_token_hash(settings: Settings, db: Database) -> str:
    if settings.admin_token is not None and settings.admin_token.get_secret_value():
        return hash_token(settings.admin_token.get_secret_value())
    async with db.session() as session:
        stored = await session.get(KeyValue, ADMIN_KEY)
        if stored is not None:
            return stored.value
    token = new_token(ADMIN_PREFIX)
    try:
        async with db.transaction() as session:
            session.add(KeyValue(key=ADMIN_KEY, value=hash_token(token)))
    except IntegrityError:
        # Another node started on the same database at the same moment and won: its token
        # (printed there) is the admin token; this one was never valid.
        async with db.session() as session:
            winner = await session.get(KeyValue, ADMIN_KEY)
        if winner is None:
            raise
        return winner.value
    # Printed, never logged: the one and only time the token is shown.
    print(
        "\n  wagate: generated an admin token (it is stored hashed and shown only this once):\n"
        f"  {token}\n  Set WAGATE_ADMIN_TOKEN to choose your own.\n",
        file=sys.stdout,
        flush=True,
    )
    return hash_token(token)

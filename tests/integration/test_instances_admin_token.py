"""The generated admin token: made once, stored hashed, printed once, shared by every node."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import make_settings
from wagate.admin import ADMIN_KEY, admin_token_hash
from wagate.auth.tokens import hash_token
from wagate.db import Database
from wagate.models import KeyValue


async def test_generated_once_and_printed_once(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(database_url, tmp_path, admin_token=None)
    db = Database(database_url)
    try:
        # several nodes starting at once on one database agree on one token
        hashes = await asyncio.gather(*(admin_token_hash(settings, db) for _ in range(4)))
        assert len(set(hashes)) == 1
        printed = [w for w in capsys.readouterr().out.split() if w.startswith("wga_")]
        assert len(printed) == 1
        assert hash_token(printed[0]) == hashes[0]  # the printed token is the valid one
        assert await admin_token_hash(settings, db) == hashes[0]
        assert "wga_" not in capsys.readouterr().out  # not printed again
        async with db.session() as session:
            stored = (
                await session.execute(select(KeyValue.value).where(KeyValue.key == ADMIN_KEY))
            ).all()
        assert stored == [(hashes[0],)]
        # WAGATE_ADMIN_TOKEN wins over the stored one
        chosen = make_settings(database_url, tmp_path)
        assert await admin_token_hash(chosen, db) == hash_token(
            chosen.admin_token.get_secret_value()
        )  # type: ignore[union-attr]
    finally:
        await db.close()

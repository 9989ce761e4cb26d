"""The generated admin token: made once, stored hashed, printed once, shared by every node."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import make_settings
from wagate.admin import (
    ADMIN_KEY,
    AdminTokenError,
    admin_token_hash,
    check_admin_token,
    read_admin_token,
    rotate_admin_token,
)
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
        printed = [w for w in capsys.readouterr().err.split() if w.startswith("wga_")]
        assert len(printed) == 1
        assert hash_token(printed[0]) == hashes[0]  # the printed token is the valid one
        assert await admin_token_hash(settings, db) == hashes[0]
        assert "wga_" not in capsys.readouterr().err  # not printed again
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


async def test_generated_token_is_kept_in_a_private_file_and_rotates(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(database_url, tmp_path, admin_token=None)
    path = tmp_path / "admin-token"
    db = Database(database_url)
    try:
        hashed = await admin_token_hash(settings, db)
        token = path.read_text().strip()
        assert hash_token(token) == hashed
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        printed = capsys.readouterr()
        assert token in printed.err and str(path) in printed.err
        assert token not in printed.out
        assert read_admin_token(settings) == token

        new, written = await rotate_admin_token(settings, db)
        assert written == path and new != token
        assert path.read_text().strip() == new == read_admin_token(settings)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        # the stored hash is the new token's: the next start accepts it, not the old one
        assert await admin_token_hash(settings, db) == hash_token(new)
        async with db.session() as session:
            stored = (
                await session.execute(select(KeyValue.value).where(KeyValue.key == ADMIN_KEY))
            ).all()
        assert stored == [(hash_token(new),)]
    finally:
        await db.close()


async def test_a_lost_token_file_is_reported_with_the_way_out(tmp_path: Path) -> None:
    settings = make_settings("sqlite+aiosqlite:///unused", tmp_path, admin_token=None)
    with pytest.raises(AdminTokenError, match="--rotate"):
        read_admin_token(settings)


@pytest.mark.parametrize("length", [1, 20, 31])
async def test_a_short_configured_token_is_refused_at_start(
    database_url: str, tmp_path: Path, length: int
) -> None:
    short = "wga_" + "x" * (length - 4) if length > 4 else "x" * length
    settings = make_settings(database_url, tmp_path, admin_token=short)
    db = Database(database_url)
    try:
        with pytest.raises(AdminTokenError, match="at least 32") as refused:
            await admin_token_hash(settings, db)
    finally:
        await db.close()
    assert short not in str(refused.value)
    long_enough = make_settings(database_url, tmp_path, admin_token="x" * 32)
    check_admin_token(long_enough)

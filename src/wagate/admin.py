"""The admin token: from WAGATE_ADMIN_TOKEN, or generated once, kept hashed, printed once.

A generated token is also written to `<data dir>/admin-token` (mode 0600), so that it can be
read again (`wagate admin-token`) and replaced (`wagate admin-token --rotate`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path

import structlog
from sqlalchemy.exc import IntegrityError

from wagate.auth.tokens import ADMIN_PREFIX, hash_token, new_token
from wagate.config import Settings
from wagate.db import Database
from wagate.repository import key_values
from wagate.tasks import cancel_requested

log = structlog.get_logger(__name__)

ADMIN_KEY = "admin_token_hash"
TOKEN_FILE = "admin-token"  # noqa: S105 - a file name
# 32 characters of a random token are far past guessing; a shorter chosen one may not be.
MIN_ADMIN_TOKEN_LENGTH = 32
# How often a running node re-reads the stored hash: a rotated token (perhaps rotated because
# the old one leaked) is the only one accepted this soon after, on every node.
FOLLOW_INTERVAL_S = 2.0


class AdminTokenError(ValueError):
    """The admin token cannot be used or read; the message says what to do."""


def check_admin_token(settings: Settings) -> None:
    """Refuse a configured WAGATE_ADMIN_TOKEN that is too short (its value is never shown)."""
    if settings.admin_token is None:
        return
    length = len(settings.admin_token.get_secret_value())
    if 0 < length < MIN_ADMIN_TOKEN_LENGTH:
        raise AdminTokenError(
            f"WAGATE_ADMIN_TOKEN is {length} characters long; it must have at least "
            f'{MIN_ADMIN_TOKEN_LENGTH}. Make one with: python3 -c "import secrets; '
            "print('wga_' + secrets.token_urlsafe(32))\", or unset it to have one generated."
        )


def token_file(settings: Settings) -> Path:
    return settings.data_dir / TOKEN_FILE


def _configured(settings: Settings) -> str | None:
    if settings.admin_token is not None and settings.admin_token.get_secret_value():
        return settings.admin_token.get_secret_value()
    return None


async def admin_token_hash(settings: Settings, db: Database) -> str:
    check_admin_token(settings)
    configured = _configured(settings)
    if configured is not None:
        return hash_token(configured)
    async with db.session() as session:
        stored = await key_values.get(session, ADMIN_KEY)
        if stored is not None:
            return stored
    token = new_token(ADMIN_PREFIX)
    try:
        async with db.transaction() as session:
            key_values.add(session, ADMIN_KEY, hash_token(token))
    except IntegrityError:
        # Another node started on the same database at the same moment and won: its token
        # (printed there) is the admin token; this one was never valid.
        async with db.session() as session:
            winner = await key_values.get(session, ADMIN_KEY)
        if winner is None:
            raise
        return winner
    path = _write_token_file(settings, token)
    _announce(token, path, "generated an admin token (stored hashed, shown only this once)")
    return hash_token(token)


async def rotate_admin_token(settings: Settings, db: Database) -> tuple[str, Path]:
    """A new generated admin token: its hash replaces the stored one, the file is rewritten."""
    if _configured(settings) is not None:
        raise AdminTokenError(
            "the admin token is set by WAGATE_ADMIN_TOKEN: change that variable instead"
        )
    token = new_token(ADMIN_PREFIX)
    async with db.transaction() as session:
        await key_values.put(session, ADMIN_KEY, hash_token(token))
    return token, _write_token_file(settings, token)


async def follow_admin_token(
    settings: Settings, db: Database, current: str, adopt: Callable[[str], None]
) -> None:
    """Hands `adopt` the stored hash whenever it changes (`wagate admin-token --rotate`)."""
    if _configured(settings) is not None:
        return  # WAGATE_ADMIN_TOKEN wins over the stored hash: nothing to follow
    while not cancel_requested():
        await asyncio.sleep(FOLLOW_INTERVAL_S)
        try:
            async with db.session() as session:
                stored = await key_values.get(session, ADMIN_KEY)
        except Exception as error:  # the database away for a moment: keep the known hash
            log.warning("admin token hash not re-read", error=type(error).__name__)
            continue
        if stored is not None and stored != current:
            current = stored
            adopt(current)
            log.info("admin token rotated: the new one is now the admin token")


def read_admin_token(settings: Settings) -> str:
    """The generated admin token, from its file in the data directory."""
    if _configured(settings) is not None:
        raise AdminTokenError(
            "the admin token is set by WAGATE_ADMIN_TOKEN (it is that variable's value)"
        )
    path = token_file(settings)
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        raise AdminTokenError(
            f"no admin token file at {path}: the token was generated on another node, or the "
            "file was removed. `wagate admin-token --rotate` makes a new one."
        ) from None
    if not token:
        raise AdminTokenError(f"{path} is empty: `wagate admin-token --rotate` makes a new one")
    return token


def _write_token_file(settings: Settings, token: str) -> Path:
    path = token_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{TOKEN_FILE}.{os.getpid()}")
    # Created 0600 from the start (not chmod-ed after), then renamed over the old one, so the
    # token is never readable by others, nor half-written.
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(token + "\n")
    os.replace(temporary, path)
    return path


def _announce(token: str, path: Path, what: str) -> None:
    # Printed to stderr, never logged: logs are shipped and kept, this line is not.
    print(
        f"\n  wagate: {what}:\n  {token}\n"
        f"  It is also in {path} (mode 0600): `wagate admin-token` prints it again,\n"
        "  `wagate admin-token --rotate` replaces it. Set WAGATE_ADMIN_TOKEN to choose your own.\n",
        file=sys.stderr,
        flush=True,
    )

"""Fixtures of the end-to-end tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from wagate.db import Database


@pytest.fixture
async def db(postgres_url: str) -> AsyncIterator[Database]:
    """The test's PostgreSQL database, as the nodes under test see it."""
    database = Database(postgres_url)
    yield database
    await database.close()

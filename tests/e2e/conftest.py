"""Fixtures of the end-to-end tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.e2e.test_serve import Node
from wagate.db import Database


@pytest.fixture
async def db(postgres_url: str) -> AsyncIterator[Database]:
    """The test's PostgreSQL database, as the nodes under test see it."""
    database = Database(postgres_url)
    yield database
    await database.close()


@pytest.fixture
def nodes() -> Iterator[list[Node]]:
    """The `wagate serve` processes a test starts, killed at its end if still running."""
    started: list[Node] = []
    yield started
    for node in started:
        node.kill()

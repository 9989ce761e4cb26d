"""The account migration builds the tables the simulator's models describe, on both
databases (the templates the tests run on are made by the migrations), and goes down again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlalchemy.ext.asyncio import create_async_engine

from wagate.db import Base
from wagate.migrate import alembic_config
from wagate.models import SimulatorAccount, SimulatorBlock, SimulatorChat, SimulatorContact

TABLES = {
    model.__tablename__
    for model in (SimulatorAccount, SimulatorContact, SimulatorBlock, SimulatorChat)
}


def _differences(connection: Any) -> list[Any]:
    """What the migrated database lacks or has otherwise than the models, for these tables."""
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    found = compare_metadata(context, Base.metadata)
    return [diff for diff in found if any(f"'{table}'" in repr(diff) for table in TABLES)]


async def test_the_tables_match_the_models(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
            assert tables >= TABLES
            assert await connection.run_sync(_differences) == []
    finally:
        await engine.dispose()


def test_downgrade_drops_the_tables(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'down.db'}"
    config = alembic_config(url)
    command.upgrade(config, "head")
    command.downgrade(config, "0002")
    engine = create_engine(f"sqlite:///{tmp_path / 'down.db'}")
    try:
        with engine.connect() as connection:
            assert TABLES.isdisjoint(inspect(connection).get_table_names())
    finally:
        engine.dispose()

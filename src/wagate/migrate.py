"""Apply the Alembic migrations shipped inside the package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from wagate.config import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(database_url: str, settings: Settings | None = None) -> Config:
    config = Config()
    # A migration that moves data out of the database (received media into the media store)
    # reads where to from the node's settings; without them, from the environment.
    config.attributes["settings"] = settings
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade_to_head(database_url: str, settings: Settings | None = None) -> None:
    """Blocking: run it before the event loop starts, or in a thread (env.py runs its own loop)."""
    command.upgrade(alembic_config(database_url, settings), "head")

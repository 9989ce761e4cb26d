"""SQL lives in repository modules only (docs/architecture.md, "Where SQL lives").

A repository module is `<package>/repository.py` or a module of a `<package>/repository/`
package; the database plumbing (`db.py`, `models.py`, `migrate.py`, `migrations/`) is one too.
Every other module of `src/wagate` calls a repository function: it imports no SQLAlchemy query
construct and runs no statement on a session or connection. Types (`AsyncSession`,
`AsyncEngine`, ...) and errors (`sqlalchemy.exc`) are fine anywhere.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "wagate"

PLUMBING = {"db.py", "models.py", "migrate.py"}

# What builds or runs a statement: imported from anything under `sqlalchemy` (the dialects'
# `insert` with its ON CONFLICT among them), these make a module hold SQL.
CONSTRUCTS = frozenset(
    {
        "select",
        "insert",
        "update",
        "delete",
        "text",
        "func",
        "and_",
        "or_",
        "not_",
        "case",
        "cast",
        "literal",
        "literal_column",
        "column",
        "table",
        "bindparam",
        "exists",
        "union",
        "union_all",
        "tuple_",
        "null",
        "true",
        "false",
        "asc",
        "desc",
        "nulls_first",
        "nulls_last",
        "distinct",
        "values",
        "over",
        "lateral",
        "aliased",
        "Table",
        "Column",
        "MetaData",
    }
)

# Methods that run a statement. Each takes the statement as its first argument, which tells a
# session or connection apart from a Redis pipeline's argument-less `execute()`.
RUNNERS = frozenset({"execute", "scalar", "scalars", "stream_scalars", "exec_driver_sql"})


def is_repository(path: Path) -> bool:
    parts = path.relative_to(SRC).parts
    if parts[0] == "migrations" or (parts == (path.name,) and path.name in PLUMBING):
        return True
    return path.name == "repository.py" or "repository" in parts[:-1]


def _is_sqlalchemy(module: str | None) -> bool:
    return module is not None and (module == "sqlalchemy" or module.startswith("sqlalchemy."))


def _imported(node: ast.ImportFrom) -> list[str]:
    if not _is_sqlalchemy(node.module):
        return []
    return [
        f"{node.lineno}: from {node.module} import {name.name}"
        for name in node.names
        if name.name in CONSTRUCTS or name.name == "*"
    ]


def _aliases(tree: ast.AST) -> set[str]:
    """The names `import sqlalchemy [as sa]` binds."""
    return {
        name.asname or name.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for name in node.names
        if _is_sqlalchemy(name.name)
    }


def _runs_statement(node: ast.Call) -> bool:
    return (
        isinstance(node.func, ast.Attribute)
        and node.func.attr in RUNNERS
        and bool(node.args or node.keywords)
    )


def offences(source: str) -> list[str]:
    """Each place of `source` that holds SQL, as `line: what`."""
    tree = ast.parse(source)
    aliases = _aliases(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found += _imported(node)
        elif isinstance(node, ast.Call) and _runs_statement(node):
            found.append(f"{node.lineno}: .{ast.unparse(node.func).rsplit('.', 1)[-1]}(...)")
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in CONSTRUCTS
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
        ):
            found.append(f"{node.lineno}: {node.value.id}.{node.attr}")
    return sorted(found, key=lambda hit: int(hit.split(":", 1)[0]))


def modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if not is_repository(p))


def test_no_sql_outside_repositories() -> None:
    report = {
        str(path.relative_to(SRC)): hits
        for path in modules()
        if (hits := offences(path.read_text(encoding="utf-8")))
    }
    assert not report, "SQL outside a repository module:\n" + "\n".join(
        f"  {path}: {', '.join(hits)}" for path, hits in report.items()
    )


@pytest.mark.parametrize(
    "source",
    [
        "from sqlalchemy import select\n",
        "from sqlalchemy.dialects.postgresql import insert as pg_insert\n",
        "from sqlalchemy.sql import func\n",
        "import sqlalchemy as sa\nq = sa.update(t)\n",
        "async def f(session):\n    await session.execute(q)\n",
        "async def f(conn):\n    return await conn.scalar(q)\n",
        "async def f(s):\n    return (await s.scalars(q)).all()\n",
        "async def f(conn):\n    await conn.execute(text('SELECT 1'), {})\n",
        "from sqlalchemy import Table\n",
    ],
)
def test_the_check_sees_sql(source: str) -> None:
    assert offences(source)


@pytest.mark.parametrize(
    "source",
    [
        "from sqlalchemy.ext.asyncio import AsyncSession, AsyncEngine\n",
        "from sqlalchemy.exc import IntegrityError\n",
        "async def f(pipe):\n    await pipe.execute()\n",
        "def f(session: AsyncSession) -> None: ...\n",
    ],
)
def test_the_check_lets_types_and_errors_through(source: str) -> None:
    assert not offences(source)


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("messages/repository.py", True),
        ("history/repository/sync.py", True),
        ("repository/instances.py", True),
        ("engines/simulator/repository/groups.py", True),
        ("db.py", True),
        ("migrations/versions/0001_initial_schema.py", True),
        ("messages/service.py", False),
        ("admin.py", False),
        ("cluster/db.py", False),
    ],
)
def test_what_a_repository_is(relative: str, expected: bool) -> None:
    assert is_repository(SRC / relative) is expected

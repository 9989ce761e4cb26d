"""SQL lives in repository modules only (docs/architecture.md, "Where SQL lives").

A repository module is `<package>/repository.py` or a module of a `<package>/repository/`
package; the database plumbing (`db.py`, `models.py`, `migrate.py`, `migrations/`) is one too.
Every other module of `src/wagate` calls a repository function: it imports no SQLAlchemy query
construct, runs no statement on a session or connection, and uses no session's unit of work
(`get`, `add`, `merge`, `delete`, `flush`, ... on a session). Types (`AsyncSession`,
`AsyncEngine`, ...) and errors (`sqlalchemy.exc`) are fine anywhere.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "wagate"

PLUMBING = {"db.py", "sqlite_driver.py", "models.py", "migrate.py"}

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


# The unit of work of a session on mapped objects: loading, adding, deleting, writing. Told
# apart from `dict.get` or a set's `add` by what they are called on: a session (see
# `_session_names`).
UNIT_OF_WORK = frozenset({"get", "add", "add_all", "merge", "delete", "flush", "refresh"})

SESSION_TYPES = frozenset({"AsyncSession", "Session"})

# What opens a session in `async with db.<opener>() as name` (wagate.db.Database's, and a
# sessionmaker called directly): `name` holds a session whatever it is called.
SESSION_OPENERS = frozenset(
    {"session", "transaction", "api_session", "api_transaction", "sessions"}
)


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


def _is_session_type(annotation: ast.expr | None) -> bool:
    """`AsyncSession`, `Session`, dotted (`orm.Session`), quoted, or in a union with None."""
    if annotation is None:
        return False
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        return _is_session_type(ast.parse(annotation.value, mode="eval").body)
    if isinstance(annotation, ast.BinOp):
        return _is_session_type(annotation.left) or _is_session_type(annotation.right)
    if isinstance(annotation, ast.Attribute):
        return annotation.attr in SESSION_TYPES
    return isinstance(annotation, ast.Name) and annotation.id in SESSION_TYPES


def _opens_session(item: ast.withitem) -> bool:
    call = item.context_expr
    return (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and call.func.attr in SESSION_OPENERS
        and isinstance(item.optional_vars, ast.Name)
    )


def _session_names(tree: ast.AST) -> set[str]:
    """The names that hold a session: `session` itself, every parameter or variable annotated
    as one, and the target of a `with` that opens one."""
    names = {"session"}
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and _is_session_type(node.annotation):
            names.add(node.arg)
        elif isinstance(node, ast.withitem) and _opens_session(node):
            assert isinstance(node.optional_vars, ast.Name)
            names.add(node.optional_vars.id)
        elif (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and _is_session_type(node.annotation)
        ):
            names.add(node.target.id)
    return names


def _works_on_session(node: ast.Call, sessions: set[str]) -> bool:
    return (
        isinstance(node.func, ast.Attribute)
        and node.func.attr in UNIT_OF_WORK
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id in sessions
    )


def offences(source: str) -> list[str]:
    """Each place of `source` that holds SQL, as `line: what`."""
    tree = ast.parse(source)
    aliases = _aliases(tree)
    sessions = _session_names(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found += _imported(node)
        elif isinstance(node, ast.Call) and _runs_statement(node):
            found.append(f"{node.lineno}: .{ast.unparse(node.func).rsplit('.', 1)[-1]}(...)")
        elif isinstance(node, ast.Call) and _works_on_session(node, sessions):
            found.append(f"{node.lineno}: {ast.unparse(node.func)}(...)")
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
        "async def f(session):\n    return await session.get(Row, 1)\n",
        "async def f(session):\n    session.add(row)\n",
        "async def f(session):\n    session.add_all(rows)\n",
        "async def f(session):\n    await session.merge(row)\n",
        "async def f(session):\n    await session.delete(row)\n",
        "async def f(session):\n    await session.flush()\n",
        "async def f(session):\n    await session.refresh(row)\n",
        "async def f(s: AsyncSession):\n    s.add(row)\n",
        "async def f(s: 'AsyncSession'):\n    await s.get(Row, 1)\n",
        "def f(s: orm.Session | None):\n    s.delete(row)\n",
        "async def f(db):\n    tx: AsyncSession = db.begin()\n    tx.add(row)\n",
        "async def f(db):\n    async with db.transaction() as tx:\n        tx.add(row)\n",
        "async def f(self):\n    async with self.db.session() as s:\n        await s.get(R, 1)\n",
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
        "def f(settings: dict[str, str]):\n    return settings.get('a')\n",
        "def f(seen: set[str]):\n    seen.add('a')\n",
        "async def f(cache):\n    await cache.delete('key')\n",
        "def f(s):\n    s.add(1)\n",
        "async def f(session):\n    await repository.add(session, row)\n",
        "def f(session):\n    return session.info.get('node')\n",
        "async def f(redis):\n    async with redis.pipeline() as pipe:\n        pipe.delete('k')\n",
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

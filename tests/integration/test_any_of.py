"""`any_of`: one statement text for any number of values, right on both databases, also when
SQLAlchemy reuses the statement it compiled for another list (its cache)."""

from __future__ import annotations

from sqlalchemy import insert, select

from wagate.db import Database, any_of, utcnow
from wagate.models import Instance


async def test_any_of_matches_exactly_the_values_given(database_url: str) -> None:
    db = Database(database_url)
    try:
        now = utcnow()
        rows = [
            {
                "name": f"n{i}",
                "engine": "simulator",
                "status": "created",
                "desired_state": "disconnected",
                "token_hash": f"h{i}",
                "settings": {},
                "created_at": now,
                "updated_at": now,
            }
            for i in range(12)
        ]
        async with db.transaction() as session:
            await session.execute(insert(Instance), rows)
        async with db.session() as session:
            ids = {
                name: pk for pk, name in await session.execute(select(Instance.id, Instance.name))
            }
            for names in (["n1", "n2"], ["n3"], [], ["n0", "n11", "nobody"], ["n5", "n5"]):
                found = await session.scalars(
                    select(Instance.name).where(any_of(Instance.name, names)).order_by("name")
                )
                assert list(found) == sorted(set(names) & set(ids)), names
                wanted = [ids[n] for n in names if n in ids]
                found_ids = await session.scalars(
                    select(Instance.id).where(any_of(Instance.id, wanted)).order_by("id")
                )
                assert list(found_ids) == sorted(set(wanted)), names
            # Built once, the list given at each execution.
            prebuilt = select(Instance.name).where(any_of(Instance.name, name="names"))
            for names in (["n1"], ["n2", "n3", "n4"], []):
                found = await session.scalars(prebuilt.order_by("name"), {"names": names})
                assert list(found) == names
        statement = select(Instance.id).where(any_of(Instance.id, [1, 2, 3]))
        sql = str(statement.compile(dialect=db.engine.dialect))
        assert sql.count("?") + sql.count("$") + sql.count("%(") == 1  # one placeholder
    finally:
        await db.close()

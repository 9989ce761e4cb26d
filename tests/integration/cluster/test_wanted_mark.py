"""Placement reads the whole set of instances to hold only when its mark moved: the mark the
database counts is the one computed from the rows read, and every change of the set moves it
(on SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import delete, update

from tests.support.rows import add_instance
from wagate.cluster import repository
from wagate.db import Database
from wagate.models import Instance

ENGINES = ["simulator"]


async def marks(db: Database) -> tuple[repository.WantedMark, repository.WantedMark]:
    """The database's mark, and the one `wanted` computes from the rows it read."""
    async with db.session() as session:
        counted = await repository.wanted_mark(session, ENGINES)
        _, computed = await repository.wanted(session, ENGINES)
    return counted, computed


async def change(db: Database, statement: object) -> None:
    async with db.transaction() as session:
        await session.execute(statement)  # type: ignore[call-overload]


async def test_every_change_of_the_wanted_set_moves_its_mark(db: Database) -> None:
    empty, computed = await marks(db)
    assert empty == computed == (0, 0, 0, 0)

    ids = [
        await add_instance(db, f"w{n}", desired_state="connected", fencing_token=n)
        for n in range(4)
    ]
    await add_instance(db, "other-engine", engine="whatsmeow", desired_state="connected")
    await add_instance(db, "not-wanted", desired_state="disconnected")
    seen, computed = await marks(db)
    assert seen == computed and seen[0] == 4

    steps = [
        update(Instance).where(Instance.id == ids[0]).values(desired_state="disconnected"),
        update(Instance).where(Instance.name == "not-wanted").values(desired_state="connected"),
        update(Instance).where(Instance.id == ids[1]).values(fencing_token=41),
        delete(Instance).where(Instance.id == ids[2]),
        # Two wanted no more and two wanted again at once, the count and the ids' sum the same.
        update(Instance).where(Instance.id.in_([ids[1], ids[3]])).values(desired_state="x"),
    ]
    for step in steps:
        await change(db, step)
        mark, computed = await marks(db)
        assert mark == computed
        assert mark != seen, step
        seen = mark

    # Wanted again: the set, and so its mark, is the one of two steps before.
    await change(
        db,
        update(Instance).where(Instance.id.in_([ids[1], ids[3]])).values(desired_state="connected"),
    )
    mark, computed = await marks(db)
    assert mark == computed and mark != seen


async def test_ids_of_the_same_sum_give_other_marks(db: Database) -> None:
    """A swap that keeps the count and the sum of the ids is told apart by the scattered sum."""
    ids = [await add_instance(db, f"s{n}", desired_state="disconnected") for n in range(4)]
    first, second = [ids[0], ids[3]], [ids[1], ids[2]]
    assert sum(first) == sum(second)  # consecutive ids: a + d == b + c

    await change(
        db, update(Instance).where(Instance.id.in_(first)).values(desired_state="connected")
    )
    before, _ = await marks(db)
    await change(db, update(Instance).where(Instance.id.in_(first)).values(desired_state="no"))
    await change(
        db, update(Instance).where(Instance.id.in_(second)).values(desired_state="connected")
    )
    after, computed = await marks(db)
    assert after == computed
    assert before[:2] == after[:2] and before != after

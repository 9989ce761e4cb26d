"""The history store at scale: its reads' latency, its size per message, and its query plans.

Fills one instance's history with COUNT messages over CHATS chats (one chat holds a tenth of
them, at least 12,000, so that a page 10,000 messages back exists), through the store's own
batch write, then times through the app in-process (httpx ASGI, no network):

- GET /chats (the first page), a chat's first page of messages, the page 10,000 messages back
  in the big chat (by its cursor), a search for a common and for a rare word;
- the media sweep's pass over the media store's objects (one message in MEDIA_EVERY has
  media), each still referred to by its message;
- against a baseline measured in the same run: GET /v1/instances/{name}, one row by key.

It prints p50/p99 of each, the ratio of each p50 to the baseline's, the store's size per
message (tables and indexes, the full-text index included), and the plan of every statement
those routes ran (EXPLAIN QUERY PLAN on SQLite, EXPLAIN on PostgreSQL), failing when one of
them scans chat_messages or chats instead of an index range.

    .venv/bin/python -m bench.history --count 100000 --db both
    .venv/bin/python -m bench.history                       # 1,000,000 (long)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event, insert, text

from wagate.app import create_app
from wagate.config import Settings
from wagate.engines.base import InboundMessage
from wagate.history.repository import store
from wagate.media_store import media_key
from wagate.media_store.refs import sweep
from wagate.migrate import upgrade_to_head
from wagate.models import MediaObject

ADMIN = "wga_bench_admin_token_0123456789abcdef"
PG_SERVER = os.environ.get("WAGATE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432")
BATCH = 1000
T0 = datetime(2026, 1, 1, tzinfo=UTC)
VOCABULARY = [f"w{i}" for i in range(5000)]
RARE = "zebrafinch"
MEDIA_EVERY = 1000  # one message in this many has media (an object in the media store)


def jid(chat: int) -> str:
    return f"{4915100000000 + chat}@s.whatsapp.net"


def chat_of(index: int, count: int, chats: int, big: int) -> int:
    """The big chat (0) takes every count/big-th message; the others share the rest."""
    if index % max(1, count // big) == 0:
        return 0
    return 1 + index % (chats - 1)


def message_text(rng: random.Random, index: int) -> str:
    words = [rng.choice(VOCABULARY[:200] if rng.random() < 0.5 else VOCABULARY) for _ in range(8)]
    if index % 50_000 == 7:
        words.append(RARE)
    return " ".join(words)


async def fill(app: Any, pk: int, count: int, chats: int, big: int) -> float:
    """Writes the history; returns messages per second."""
    rng = random.Random(7)
    db = app.state.wagate.db
    started = time.perf_counter()
    for start in range(0, count, BATCH):
        rows = []
        for index in range(start, min(count, start + BATCH)):
            chat = jid(chat_of(index, count, chats, big))
            from_me = index % 3 == 0
            message = InboundMessage(
                message_id=f"M{index:09d}",
                chat=chat,
                sender=chat,
                from_me=from_me,
                timestamp=T0 + timedelta(seconds=index),
                kind="text",
                text=message_text(rng, index),
            )
            row = store.inbound_row(pk, message)
            if index % MEDIA_EVERY == MEDIA_EVERY // 2:
                key = media_key(f"bench {index}".encode())
                row["media"] = store.media_reference(key, "image/jpeg", 1000, None, "/bench")
                row["media_key"] = key
            rows.append(row)
        async with db.transaction() as session:
            await store.write_inbound(session, rows, {})
    rate = count / (time.perf_counter() - started)
    await media_objects(db, count)
    return rate


async def media_objects(db: Any, count: int) -> None:
    """The media store's objects of the messages with media, untouched for long: what the
    media sweep weighs against the messages that refer to them."""
    keys = [
        media_key(f"bench {index}".encode())
        for index in range(MEDIA_EVERY // 2, count, MEDIA_EVERY)
    ]
    values = [{"key": k, "size": 1000, "created_at": T0, "touched_at": T0} for k in keys]
    for start in range(0, len(values), BATCH):
        async with db.transaction() as session:
            await session.execute(insert(MediaObject), values[start : start + BATCH])


SWEEP = "media sweep (every object in use)"


async def timed_sweep(app: Any, samples: int) -> list[float]:
    """The media sweep's pass over the objects, each one still referred to by a message:
    its "is this object in use" must be an index lookup, not a walk over the messages."""
    state = app.state.wagate
    out = []
    for _ in range(max(1, samples // 10)):
        started = time.perf_counter()
        deleted = await sweep(state.db, state.media, grace_s=60)
        out.append((time.perf_counter() - started) * 1000)
        assert deleted == 0
    return out


REFUSED: list[int] = [0]  # samples taken again: the database server refused a connection


async def answered(call: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
    """The route's 200. A 503 (the database server out of connections, on a machine it is
    shared on) is not a figure of the store: the request is made again, and counted."""
    for _ in range(50):
        response = await call()
        if response.status_code != 503:
            assert response.status_code == 200, response.text
            return response
        REFUSED[0] += 1
        await asyncio.sleep(0.2)
    raise SystemExit("the database server refused connections for 10 s")


async def timed(call: Callable[[], Awaitable[httpx.Response]], samples: int) -> list[float]:
    out = []
    for _ in range(samples):
        while True:
            started = time.perf_counter()
            response = await call()
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 503:
                break
            REFUSED[0] += 1
            await asyncio.sleep(0.2)
        out.append(elapsed)
        assert response.status_code == 200, response.text
    return out


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Plans:
    """The statements run against the store's tables, to EXPLAIN afterwards."""

    def __init__(self, db: Any) -> None:
        self.seen: dict[str, Any] = {}
        # Both pools: the routes read through the request path's own engine.
        self.engines = list({id(e): e for e in (db.engine, db.api_engine)}.values())
        for engine in self.engines:
            event.listen(engine.sync_engine, "before_cursor_execute", self._record)

    def stop(self) -> None:
        for engine in self.engines:
            event.remove(engine.sync_engine, "before_cursor_execute", self._record)

    def _record(self, conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        lowered = statement.lower()
        reads = lowered.startswith(("select", "with"))
        if reads and ("from chat_messages" in lowered or "from chats" in lowered):
            # Also the media sweep's: it asks the messages whether an object is in use.
            self.seen.setdefault(statement, params)

    async def explain(self, db: Any) -> list[tuple[str, str, bool]]:
        sqlite = db.is_sqlite
        results = []
        async with db.engine.connect() as connection:
            for statement, params in self.seen.items():
                prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
                rows = (await connection.exec_driver_sql(prefix + statement, params)).all()
                plan = "\n".join(str(row[-1]) for row in rows)
                results.append((statement, plan, scans(plan, sqlite)))
        return results


def scans(plan: str, sqlite: bool) -> bool:
    if sqlite:
        return any(
            line.strip().startswith(f"SCAN {table}") and "INDEX" not in line
            for line in plan.splitlines()
            for table in ("chat_messages", "chats")
        )
    return "Seq Scan on chat_messages" in plan or "Seq Scan on chats" in plan


async def size_per_message(db: Any, count: int) -> float:
    async with db.engine.connect() as connection:
        if db.is_sqlite:
            pages = (await connection.exec_driver_sql("PRAGMA page_count")).scalar_one()
            size = (await connection.exec_driver_sql("PRAGMA page_size")).scalar_one()
            return float(pages * size) / count
        total = 0
        for table in ("chat_messages", "chats", "contacts"):
            total += (
                await connection.execute(text(f"SELECT pg_total_relation_size('{table}')"))
            ).scalar_one()
        return float(total) / count


async def measure(
    url: str, label: str, count: int, chats: int, samples: int, show: bool = False
) -> bool:
    settings = Settings(
        _env_file=None,
        database_url=url,
        data_dir=Path(tempfile.mkdtemp(prefix="wagate-bench-")),
        admin_token=ADMIN,
        engine="simulator",
        log_level="error",
        rate_limit_per_s=0,
    )
    app = create_app(settings, run_migrations=False)
    big = max(12_000, count // 10)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {ADMIN}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", headers=headers, timeout=60
        ) as http:
            name = f"bench-{uuid.uuid4().hex[:6]}"
            # The messages are dated from T0 on: a retention that kept them 90 days would
            # have the retention job deleting them (and its statements explained) mid-run.
            keep_all = {"history_retention_days": 36_500}
            created = await http.post("/v1/instances", json={"name": name, "settings": keep_all})
            assert created.status_code == 201, created.text
            async with app.state.wagate.db.session() as session:
                pk = (
                    await session.execute(
                        text("SELECT id FROM instances WHERE name = :n"), {"n": name}
                    )
                ).scalar_one()
            rate = await fill(app, pk, count, chats, big)
            db = app.state.wagate.db
            # Committed: on PostgreSQL the statistics ANALYZE writes roll back with its
            # transaction.
            async with db.engine.begin() as connection:
                await connection.exec_driver_sql("ANALYZE")
            base = f"/v1/instances/{name}"
            # The cursor 10,000 messages back in the big chat (found once, not timed).
            messages = f"{base}/chats/{jid(0)}/messages"
            back = (await answered(lambda: http.get(messages, params={"limit": 500}))).json()
            for _ in range(19):
                page = {"limit": 500, "before": back["before"]}
                back = (await answered(partial(http.get, messages, params=page))).json()
            cursor = back["before"]
            plans = Plans(db)
            rng = random.Random(3)
            cases: dict[str, Callable[[], Awaitable[httpx.Response]]] = {
                "baseline GET /instances/{name}": lambda: http.get(base),
                "GET /chats": lambda: http.get(f"{base}/chats"),
                "chat first page": lambda: http.get(
                    f"{base}/chats/{jid(rng.randrange(1, chats))}/messages"
                ),
                "page 10,000 back": lambda: http.get(
                    f"{base}/chats/{jid(0)}/messages", params={"before": cursor}
                ),
                "search (common word)": lambda: http.get(
                    f"{base}/messages/search", params={"q": rng.choice(VOCABULARY[:200])}
                ),
                "search (rare word)": lambda: http.get(
                    f"{base}/messages/search", params={"q": RARE}
                ),
            }
            figures = {case: await timed(call, samples) for case, call in cases.items()}
            figures[SWEEP] = await timed_sweep(app, samples)
            plans.stop()
            size = await size_per_message(db, count)
            explained = await plans.explain(db)
    baseline = statistics.median(figures["baseline GET /instances/{name}"])
    print(f"\n== {label}: {count:,} messages over {chats:,} chats (big chat {big:,})")
    print(f"   write: {rate:,.0f} messages/s through store.write_inbound, {BATCH} a batch")
    print(f"   {'case':34} {'p50 ms':>8} {'p99 ms':>8} {'x baseline':>11}")
    for case, values in figures.items():
        ratio = statistics.median(values) / baseline
        print(f"   {case:34} {p(values, 0.5):8.2f} {p(values, 0.99):8.2f} {ratio:11.1f}")
    print(f"   size: {size:,.0f} bytes per message (tables, indexes, full-text index)")
    if REFUSED[0]:
        print(f"   {REFUSED[0]} requests made again: the database server refused a connection")
    ok = True
    for statement, plan, scan in explained:
        if show and not scan:
            print(f"   --\n{statement}\n{plan}")
        if scan:
            ok = False
            print(f"   TABLE SCAN in:\n{statement}\n{plan}")
    print(f"   plans: {len(explained)} statements explained, {'no table scan' if ok else 'SCANS'}")
    return ok


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--plans", action="store_true", help="print every query plan")
    args = parser.parse_args()
    ok = True
    if args.db in ("sqlite", "both"):
        folder = tempfile.mkdtemp(prefix="wagate-bench-")
        url = f"sqlite+aiosqlite:///{folder}/history.db"
        await asyncio.to_thread(upgrade_to_head, url)
        ok &= await measure(url, "SQLite", args.count, args.chats, args.samples, args.plans)
    if args.db in ("postgres", "both"):
        import asyncpg

        name = f"wagate_bench_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(PG_SERVER + "/postgres")
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = PG_SERVER.replace("postgresql://", "postgresql+asyncpg://", 1) + "/" + name
        try:
            await asyncio.to_thread(upgrade_to_head, url)
            ok &= await measure(url, "PostgreSQL", args.count, args.chats, args.samples, args.plans)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
    if not ok:
        raise SystemExit("a page scanned a table")


if __name__ == "__main__":
    asyncio.run(main())

"""A webhook receiver for the benchmark: answers 200 at once and counts what arrives.

A raw ASGI app on uvicorn (no framework) so that the receiver is not the bottleneck.
GET /stats -> {"count": n, "by_event": {...}, "first": t, "last": t, "acks": n, "ack_last": t}
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import uvicorn

STATS: dict[str, Any] = {"count": 0, "by_event": {}, "first": None, "last": None}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["method"] == "GET":
        body = json.dumps(STATS).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})
        return
    if scope["path"] == "/reset":
        STATS.update(count=0, by_event={}, first=None, last=None)
    else:
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        event = "unknown"
        for key, value in scope["headers"]:
            if key == b"x-wagate-event":
                event = value.decode()
        now = time.time()
        STATS["count"] += 1
        STATS["by_event"][event] = STATS["by_event"].get(event, 0) + 1
        STATS["first"] = STATS["first"] or now
        STATS["last"] = now
        STATS[f"{event}_last"] = now
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_config=None,
        access_log=False,
        backlog=4096,
    )

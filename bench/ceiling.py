"""The ceiling: a bare endpoint on the gateway's ASGI server and settings.

It parses a JSON body like a text send (pydantic model, same framework) and answers 202 —
the most any endpoint can do on this machine with this stack. uvicorn runs with the very
configuration `wagate serve` builds (`wagate.cli.server_config`: the same protocol with its
request-head deadline, keep-alive and concurrency limits) and the same server class
(`wagate.cli.NodeServer`: the heap frozen once started).
"""

from __future__ import annotations

import sys

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from wagate.app import NO_TELEMETRY
from wagate.cli import NodeServer, server_config
from wagate.config import Settings

app = FastAPI(telemetry=NO_TELEMETRY)  # as the gateway's


class TextSend(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str = Field(min_length=1, max_length=128)
    text: str = Field(min_length=1, max_length=65536)


@app.post("/v1/instances/{instance}/send/text", status_code=202)
async def send_text(instance: str, body: TextSend) -> dict[str, str]:
    return {"correlation_id": "c", "status": "queued"}


if __name__ == "__main__":
    settings = Settings(_env_file=None, host="127.0.0.1", port=int(sys.argv[1]))
    NodeServer(server_config(app, settings), app).run()

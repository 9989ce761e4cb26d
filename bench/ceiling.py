"""The ceiling: a bare endpoint on the gateway's ASGI server and settings.

It parses a JSON body like a text send (pydantic model, same framework) and answers 202 —
the most any endpoint can do on this machine with this stack.
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

app = FastAPI()


class TextSend(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str = Field(min_length=1, max_length=128)
    text: str = Field(min_length=1, max_length=65536)


@app.post("/v1/instances/{instance}/send/text", status_code=202)
async def send_text(instance: str, body: TextSend) -> dict[str, str]:
    return {"correlation_id": "c", "status": "queued"}


if __name__ == "__main__":
    # The same server settings as `wagate serve` (src/wagate/cli.py).
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_config=None,
        access_log=False,
        server_header=False,
    )

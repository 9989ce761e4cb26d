"""Bodies of the cluster routes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class NodeOut(BaseModel):
    id: str
    role: str = Field(description="`all` (holds instances) or `api` (serves the API only)")
    address: str | None = Field(description="where the other nodes forward lifecycle calls")
    live: bool = Field(
        description="its leases renewed within the lease TTL (its liveness key in Redis) and not"
        " stopped"
    )
    started_at: datetime
    last_seen_at: datetime
    stopped_at: datetime | None
    instances: list[str] = Field(description="names of the instances whose lease it holds")


class ClusterOut(BaseModel):
    mode: Literal["single", "cluster"]
    node: str = Field(description="the node that answered")
    nodes: list[NodeOut]
    unheld: list[str] = Field(description="instances wanted connected that no node holds now")

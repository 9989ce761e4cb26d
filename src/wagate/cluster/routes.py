"""GET /v1/cluster: the nodes, the instances each holds, when each was last seen."""

from __future__ import annotations

from typing import Annotated, Protocol

import structlog
from fastapi import APIRouter, Depends
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from wagate.auth.dependencies import AdminPrincipal
from wagate.errors import Unavailable, error_responses
from wagate.node import HasDb, get_node

from . import service
from .schemas import ClusterOut
from .service import HasCluster

log = structlog.get_logger(__name__)


class ClusterRoutesNode(HasCluster, HasDb, Protocol):
    """What GET /v1/cluster reads of the node."""


State = Annotated[ClusterRoutesNode, Depends(get_node)]
router = APIRouter(prefix="/v1/cluster", tags=["cluster"])


@router.get("", response_model=ClusterOut, responses=error_responses(401, 403, 503))
async def get_cluster(state: State, _: AdminPrincipal) -> ClusterOut:
    if state.cluster is None:
        raise Unavailable("the node is starting")
    try:
        return await service.describe(state, state.cluster)
    except (RedisError, SQLAlchemyError, OSError) as exc:
        log.warning("cluster state unreachable", error=repr(exc))
        raise Unavailable("the cluster state cannot be reached; retry later") from exc

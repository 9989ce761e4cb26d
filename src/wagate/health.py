"""Health, readiness and metrics routes."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from wagate import __version__
from wagate.auth.dependencies import bearer_token
from wagate.auth.tokens import hash_token, token_matches
from wagate.db import ping
from wagate.errors import ErrorBody, Unauthorized
from wagate.metrics import INSTANCES_BY_STATUS, REGISTRY
from wagate.node import HasAdminToken, HasDb, HasManager, HasMessaging, HasSettings, get_node


class HealthNode(HasAdminToken, HasDb, HasManager, HasMessaging, HasSettings, Protocol):
    """What the probes and the metrics read of the node."""


State = Annotated[HealthNode, Depends(get_node)]
router = APIRouter(tags=["health"])


@router.get("/")
async def node_info() -> dict[str, str]:
    """What this node is and where its parts are: the address a person tries first."""
    return {
        "name": "wagate",
        "version": __version__,
        "docs": "/docs",
        "redoc": "/redoc",
        "openapi": "/openapi.json",
        "dashboard": "/dashboard",
        "healthz": "/healthz",
        "readyz": "/readyz",
        "metrics": "/metrics",
    }


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


async def _check_database(state: State) -> str:
    try:
        async with state.db.session() as session:
            await asyncio.wait_for(ping(session), 5)
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


async def _check_queue(state: State) -> str:
    if state.messaging is None:  # not started yet
        return "ok"
    try:
        result: str = await asyncio.wait_for(state.messaging.queue.health(), 5)
        return result
    except Exception as exc:
        return f"error: {type(exc).__name__}"


@router.get("/readyz")
async def readyz(state: State) -> JSONResponse:
    engines: dict[str, Any] = {}
    for name, engine in state.manager.engines.items():
        try:
            health = await asyncio.wait_for(engine.health(), 5)
            engines[name] = "ok" if health.ok else f"error: {health.detail}"
        except Exception as exc:
            engines[name] = f"error: {type(exc).__name__}"
    body = {
        "database": await _check_database(state),
        "queue": await _check_queue(state),
        "engines": "ok" if all(v == "ok" for v in engines.values()) else engines,
    }
    ready = body["database"] == "ok" and body["queue"] == "ok"
    return JSONResponse(body, status_code=200 if ready else 503)


def _check_metrics_token(request: Request, state: State) -> None:
    secret = state.settings.metrics_token
    if secret is None:
        return
    token = bearer_token(request)
    if token is None:
        raise Unauthorized("missing token: /metrics needs WAGATE_METRICS_TOKEN or the admin token")
    if not (
        token_matches(token, hash_token(secret.get_secret_value()))
        or token_matches(token, state.admin_token_hash)
    ):
        raise Unauthorized("invalid token")


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"description": "Prometheus text format", "content": {"text/plain": {}}},
        401: {"model": ErrorBody, "description": "WAGATE_METRICS_TOKEN is set: no or wrong token"},
    },
)
async def metrics(request: Request, state: State) -> Response:
    _check_metrics_token(request, state)
    INSTANCES_BY_STATUS.clear()
    for status, count in state.manager.statuses().items():
        INSTANCES_BY_STATUS.labels(status=status).set(count)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

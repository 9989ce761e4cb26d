"""The application factory and its lifespan: every client and worker is made here."""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.telemetry import TelemetryConfig
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wagate import __version__, api_docs, health
from wagate.account.events import PeopleEvents
from wagate.account.routes import router as account_router
from wagate.account.simulator_routes import router as account_simulator_router
from wagate.admin import admin_token_hash, follow_admin_token
from wagate.auth.edge import EdgeAuthMiddleware
from wagate.cluster.forwarding import ForwardingMiddleware
from wagate.cluster.routes import router as cluster_router
from wagate.cluster.service import build_relay, start_cluster
from wagate.config import Settings
from wagate.dashboard.routes import router as dashboard_router
from wagate.db import Database
from wagate.engines.base import Engine
from wagate.engines.manager import ClientManager
from wagate.engines.simulator.engine import SimulatorEngine
from wagate.engines.whatsmeow.engine import WhatsmeowEngine
from wagate.errors import install_error_handlers
from wagate.events.bus import EventBus
from wagate.events.openapi import document_events
from wagate.files import prepare_data_dir
from wagate.groups.events import GroupEvents
from wagate.groups.routes import router as groups_router
from wagate.history.simulator_routes import router as history_simulator_router
from wagate.history.sync import HistoryImporter
from wagate.instances.cache import InstanceCache
from wagate.instances.routes import router as instances_router
from wagate.instances.simulator_groups import router as simulator_groups_router
from wagate.instances.simulator_routes import router as simulator_router
from wagate.instances.ws import router as events_ws_router
from wagate.limits import RateLimitMiddleware, RequestLimitsMiddleware, TokenBuckets
from wagate.logs import configure_logging
from wagate.mcp_server.http import PATH as MCP_PATH
from wagate.mcp_server.http import McpEndpoint
from wagate.media_store.build import build_media_store
from wagate.messages.direct import DirectSendMiddleware
from wagate.messages.edits import router as edits_router
from wagate.messages.inbound import InboundHandler
from wagate.messages.openapi import document_send_bodies
from wagate.messages.routes import routers as messaging_routers
from wagate.metrics import HTTP_LATENCY, HTTP_REQUESTS
from wagate.migrate import upgrade_to_head
from wagate.openapi import document_security, operation_id
from wagate.policy.routes import router as send_policy_router
from wagate.policy.service import build_send_policies
from wagate.secretbox import SecretKeyError, open_box
from wagate.sinks.routes import instance_router as instance_sinks_router
from wagate.sinks.routes import router as sinks_router
from wagate.sinks.service import build_sinks
from wagate.state import AppState
from wagate.tasks import bounded, stop_tasks
from wagate.webhooks.at_rest import seal_webhook_secrets
from wagate.webhooks.delivery import DeliveryWorker
from wagate.webhooks.outbox import Outbox
from wagate.webhooks.routes import router as webhooks_router
from wagate.worker.runtime import start_messaging

log = structlog.get_logger(__name__)

# The longest each step of the shutdown may take (see the lifespan). Each step bounds its own
# waits well inside these (a client's stop: STOP_TIMEOUT_S, 70 s, for neonize's stop()).
STOP_S = {
    "messaging": 30.0,
    "cluster": 120.0,
    "clients": 100.0,
    "engine": 60.0,
    "batch": 15.0,
    # The durable sinks: the broker workers give their publishes in hand one timeout.
    "events": 45.0,
    "webhooks": 40.0,
    "database": 15.0,
}


def build_engines(settings: Settings, db: Database) -> dict[str, Engine]:
    engines: dict[str, Engine] = {"simulator": SimulatorEngine(settings, db)}
    if importlib.util.find_spec("neonize") is not None:  # the optional [whatsmeow] extra
        engines["whatsmeow"] = WhatsmeowEngine(settings, db)
    return engines


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    configure_logging(settings)
    prepare_data_dir(settings.data_dir)
    if app.state.run_migrations:
        await asyncio.to_thread(upgrade_to_head, settings.effective_database_url, settings)
    db = Database(settings.effective_database_url)
    try:
        # A key that cannot open the stored secrets stops the start here, with the reason,
        # rather than failing every signed delivery later.
        secrets = open_box(settings)
        await seal_webhook_secrets(db, secrets)
    except SecretKeyError as exc:
        log.error("cannot start: webhook secret key", error=str(exc))
        await db.close()
        raise
    except BaseException:
        await db.close()
        raise
    media = build_media_store(settings)
    try:
        # A store that cannot be reached stops the start, with its reason, rather than every
        # received media later.
        await media.start()
    except BaseException:
        await db.close()
        raise
    bus = EventBus(settings.events_resume_window)
    engines = build_engines(settings, db)
    manager = ClientManager(settings, db, bus, engines, secrets)
    send_policy = build_send_policies(settings, db, bus)
    state = AppState(
        settings=settings,
        db=db,
        bus=bus,
        manager=manager,
        admin_token_hash=await admin_token_hash(settings, db),
        secrets=secrets,
        media=media,
        send_policy=send_policy,
        instances=InstanceCache(settings.instance_cache_ttl_s),
    )
    app.state.wagate = state
    # An instance whose streams end (token rotated, logout, deleted), by this node's order or
    # another's: this node forgets its cached token at once rather than after the cache TTL.
    bus.watch_end_streams(state.instances.invalidate)
    state.webhooks = webhooks = DeliveryWorker(settings, db, secrets)
    # The event sinks besides the bus's own live streams: the webhook outbox (durable) and,
    # with Redis, the relay to the other nodes (live). Started before the node serves.
    bus.add_sink(Outbox(settings, db, webhooks, state.instances))
    # The broker transports (RabbitMQ, NATS), each a durable sink with its outbox rows and
    # its worker, started and stopped with the bus.
    for sink in build_sinks(settings, db):
        bus.add_sink(sink)
    relay = build_relay(settings, bus)
    if relay is not None:
        bus.add_sink(relay)
    await bus.start()
    await webhooks.start()
    inbound = InboundHandler(state)
    manager.add_message_hook(inbound)
    history_import = HistoryImporter(state)
    manager.add_history_hook(history_import)
    manager.add_people_hook(PeopleEvents(bus))
    manager.add_group_hook(GroupEvents(state))
    for engine in engines.values():
        await engine.open()
    state.messaging = messaging = await start_messaging(state)
    # With Redis, the cluster decides who resumes what.
    state.cluster = await start_cluster(state, relay)
    if settings.role == "all" and not settings.redis_url:
        resumed = await manager.resume_all()
        log.info("node started", node=settings.node_id, resumed=resumed)
    admin_follower = asyncio.create_task(
        follow_admin_token(
            settings,
            db,
            state.admin_token_hash,
            lambda new: setattr(state, "admin_token_hash", new),
        ),
        name="admin-token-follower",
    )
    await app.state.mcp.start(app)
    try:
        yield
    finally:
        log.info("node stopping", node=settings.node_id)
        # First: no agent's call starts on a node that stops.
        await bounded("mcp", app.state.mcp.stop(), STOP_S["batch"])
        await stop_tasks([admin_follower], STOP_S["batch"], "admin token follower")
        # Every step is bounded: one that overruns is cancelled, named in a warning, and the
        # next one runs (a node that cannot stop is worse than one that stops untidily).
        await bounded("messaging", messaging.close(), STOP_S["messaging"])  # in-flight sends
        # Then this node's instances are handed over to the others.
        await bounded("cluster", state.cluster.stop(), STOP_S["cluster"])
        await bounded("clients", manager.close(), STOP_S["clients"])
        for name, engine in engines.items():
            await bounded(f"engine {name}", engine.close(), STOP_S["engine"])
        await bounded("inbound", inbound.close(), STOP_S["batch"])
        await bounded("history import", history_import.close(), STOP_S["batch"])
        await bounded("media store", media.close(), STOP_S["batch"])
        await bounded("send policy", send_policy.counters.close(), STOP_S["batch"])
        # After the last publisher: the durable sinks write the events in hand, the relay
        # stops, the live streams end.
        await bounded("event sinks", bus.stop(), STOP_S["events"])
        await bounded("webhooks", webhooks.stop(), STOP_S["webhooks"] + settings.webhook_timeout_s)
        bus.close()  # the live streams, whatever became of the sinks' stop
        await bounded("database", db.close(), STOP_S["database"])


def _route_template(scope: Scope) -> str:
    route = scope.get("route")  # set by the router on a match (the included route itself)
    if route is not None:
        return str(getattr(route, "path", None) or "other")
    # No match (404, 405): look once more, for the label only.
    for candidate in iter_route_contexts(scope["app"].router.routes):
        match, _ = candidate.matches(scope)
        if match == Match.FULL:
            return str(candidate.path or "other")
    return "unmatched"


class RequestMetricsMiddleware:
    """Counts and times requests by route template. Pure ASGI: Starlette's BaseHTTPMiddleware
    (`@app.middleware`) runs every request through a task group and memory streams, which
    cost more than the whole accept path of an async send."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            route = _route_template(scope)
            self._counter(scope["method"], route, status).inc()
            self._timer(route).observe(time.perf_counter() - started)

    # The labelled series of a route, kept: prometheus_client's labels() takes a lock and
    # builds the key on every call. The set is bounded by routes x methods x status codes.
    @staticmethod
    @functools.cache
    def _counter(method: str, route: str, status: int) -> Any:
        return HTTP_REQUESTS.labels(method, route, str(status))

    @staticmethod
    @functools.cache
    def _timer(route: str) -> Any:
        return HTTP_LATENCY.labels(route)


# FastAPI's own OpenTelemetry instrumentation, off: the gateway exports Prometheus metrics and
# structured logs instead, and the check of whether a provider is configured cost every request
# a few microseconds. The bench's bare endpoint runs with the same option.
NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def create_app(settings: Settings | None = None, *, run_migrations: bool = True) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(
        title="wagate",
        version=__version__,
        summary="Self-hosted WhatsApp HTTP API gateway",
        lifespan=lifespan,
        # Served by wagate.api_docs with their assets from the package, not from a CDN.
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=operation_id,
        telemetry=NO_TELEMETRY,
    )
    app.state.settings = settings
    app.state.run_migrations = run_migrations
    install_error_handlers(app)

    app.add_middleware(DirectSendMiddleware)  # innermost: every other middleware applies
    app.add_middleware(RequestMetricsMiddleware)
    app.add_middleware(ForwardingMiddleware)  # inside the limits: they apply before forwarding
    app.add_middleware(
        RequestLimitsMiddleware,
        max_body_bytes=settings.request_body_limit_without_media,
        media_body_bytes=settings.request_body_limit,
        body_timeout_s=settings.request_body_timeout_s,
        body_deadline_s=settings.request_body_deadline_s,
    )
    if settings.rate_limit_per_s > 0:
        app.add_middleware(
            RateLimitMiddleware,
            buckets=TokenBuckets(settings.rate_limit_per_s, settings.rate_limit_burst),
            limit_admin=settings.rate_limit_admin,
        )
    # Outermost: no body is read, no rate counted and nothing forwarded before it.
    failures = None
    if settings.auth_failure_rate_per_s > 0:
        failures = TokenBuckets(settings.auth_failure_rate_per_s, settings.auth_failure_burst)
    app.add_middleware(EdgeAuthMiddleware, failures=failures)
    app.include_router(health.router)
    app.include_router(api_docs.router)
    app.include_router(instances_router)
    app.include_router(events_ws_router)
    app.include_router(simulator_router)
    app.include_router(groups_router)
    app.include_router(simulator_groups_router)
    app.include_router(dashboard_router)
    for router in messaging_routers:
        app.include_router(router)
    app.include_router(edits_router)
    app.include_router(account_router)
    app.include_router(account_simulator_router)
    app.include_router(history_simulator_router)
    app.include_router(webhooks_router)
    app.include_router(sinks_router)
    app.include_router(instance_sinks_router)
    app.include_router(send_policy_router)
    app.include_router(cluster_router)
    # MCP's streamable HTTP, stateless: POST only. With no session there is nothing for a GET
    # stream to carry or a DELETE to end, and the transport allows a 405 for both.
    app.state.mcp = McpEndpoint()
    mcp_route = Route(MCP_PATH, app.state.mcp, methods=["POST"], include_in_schema=False)
    app.router.routes.append(mcp_route)
    document_send_bodies(app)
    document_events(app)
    document_security(app)
    return app

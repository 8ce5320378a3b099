"""The app factory: ``create_app(settings)`` builds everything and wires it together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from heurist import limits
from heurist.api import errors
from heurist.api.auth_middleware import BearerAuthMiddleware
from heurist.api.body_limit import BodyLimitMiddleware
from heurist.api.containment import ContainedFastAPI
from heurist.api.drain_wait import DrainWaiters
from heurist.api.request_guard import HostPolicy, RequestGuard
from heurist.api.routes import admin, categories, entries, health, import_pause, metrics, search
from heurist.api.ui import create_router as ui_router
from heurist.mcp.http import mount_mcp
from heurist.observability.http import HttpMetricsMiddleware
from heurist.observability.metrics import Metrics
from heurist.runtime import Runtime
from heurist.settings import Settings
from heurist.tokens import ensure_admin_token


def create_app(settings: Settings, *, runtime: Runtime | None = None) -> FastAPI:
    """Build the HTTP app. Pass a prebuilt ``runtime`` to swap parts (tests)."""
    rt = runtime or Runtime.build(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(rt.start)
        try:
            async with mcp_sessions:  # assigned below, before the app can start
                yield
        finally:
            await run_in_threadpool(rt.stop)

    app = ContainedFastAPI(
        title="heurist",
        version="0.1.0",
        summary="Shared memory for code assistants",
        lifespan=lifespan,
        responses=errors.COMMON_ERRORS,
    )
    app.state.runtime = rt
    app.state.metrics = Metrics()
    app.state.metrics.watch(rt)
    app.state.drain_waiters = DrainWaiters()
    errors.install(app)
    for router in (
        health.router,
        metrics.router,
        categories.router,
        entries.experiences,
        entries.manuals,
        search.router,
        admin.router,
        import_pause.router,
    ):
        app.include_router(router)
    app.include_router(ui_router(settings))  # the dashboard at /ui
    mcp_sessions = mount_mcp(app, settings)
    admin_token = ensure_admin_token(settings.admin_token, settings.data_dir)
    rules = [("/admin", admin_token, "the admin API")]
    if settings.api_token:
        rules.append(("/api", settings.api_token, "the data API"))
        rules.append(("/mcp", settings.api_token, "the MCP endpoint"))
    app.add_middleware(BearerAuthMiddleware, rules=rules)
    app.add_middleware(BodyLimitMiddleware, max_bytes=limits.REQUEST_BODY_MAX_BYTES)
    app.add_middleware(RequestGuard, hosts=HostPolicy(settings.host, settings.allowed_hosts))
    # Outermost, so requests refused by auth or the body limit are timed too.
    app.add_middleware(
        HttpMetricsMiddleware,
        metrics=app.state.metrics,
        templates=lambda: list(app.openapi().get("paths", {})),
    )
    return app

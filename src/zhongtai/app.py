"""create_app(settings): routers, middleware, error handlers. Wiring only."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import anyio.to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException

from zhongtai import __version__
from zhongtai.auth.permissions import Perm
from zhongtai.auth.principal import Principal
from zhongtai.db import Database
from zhongtai.errors import DomainError, NotFound, ValidationFailed, from_pydantic, http_error
from zhongtai.http import require
from zhongtai.idempotency import IdempotencyMiddleware
from zhongtai.jobs import Worker
from zhongtai.observability import Metrics, RequestContextMiddleware, configure_logging, request_id_var
from zhongtai.settings import Settings, get_settings

log = logging.getLogger("zhongtai.app")
PROBLEM_JSON = "application/problem+json"
API_PREFIX = "/api/v1"


def register_tasks() -> None:
    # Importing a context's tasks module registers its job handlers and named schedules.
    import zhongtai.analytics.tasks
    import zhongtai.catalog.tasks
    import zhongtai.channels.tasks
    import zhongtai.forecasting.tasks
    import zhongtai.inventory.tasks
    import zhongtai.members.tasks
    import zhongtai.orders.tasks
    import zhongtai.platform_tasks
    import zhongtai.replenishment.tasks
    import zhongtai.service.tasks
    import zhongtai.touchpoints.tasks  # noqa: F401


def problem_response(error: DomainError, request: Request) -> JSONResponse:
    return JSONResponse(
        error.problem(request.url.path, request_id_var.get()),
        status_code=error.status,
        media_type=PROBLEM_JSON,
    )


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path in ("/metrics", "/healthz")


def validation_problem(exc: RequestValidationError) -> ValidationFailed:
    return from_pydantic(exc, prefix=())


def create_app(settings: Settings | None = None, *, db: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_json)
    database = db or Database.from_settings(settings)
    metrics = Metrics()
    register_tasks()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Sync endpoints and dependencies run in this pool, one hop at a time; a request between
        # hops may hold database locks. With fewer requests in flight than threads (serve's
        # limit_concurrency), the holder always finds a free thread, so it can never starve.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threadpool_size
        worker = Worker(database, settings.worker_poll_s) if settings.run_worker else None
        if worker:
            worker.start()
        # The customer-service bot's first reply would load jieba and the published model (~5 s)
        # inside its write transaction: load them now, without blocking startup.
        if settings.service_warm_up:
            from zhongtai.service.dialogue import warm_up

            threading.Thread(target=warm_up, args=(database,), name="service-warm-up", daemon=True).start()
        try:
            yield
        finally:
            if worker:
                worker.stop()
            if db is None:
                database.dispose()

    app = FastAPI(
        title="Zhongtai 中台",
        version=__version__,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = database
    from zhongtai.analytics.lake import Lake

    app.state.lake = Lake.for_settings(settings)
    from zhongtai.analytics.tasks import register_lake

    register_lake(database, app.state.lake, settings)
    app.state.metrics = metrics
    app.state.key_touches = {}

    from zhongtai.web import console

    @app.exception_handler(DomainError)
    async def _domain_error(request: Request, exc: DomainError) -> Response:
        if _is_api(request):
            return problem_response(exc, request)
        return console.error_page(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        problem = validation_problem(exc)
        if _is_api(request):
            return problem_response(problem, request)
        return console.error_page(request, problem)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        error: DomainError
        if exc.status_code == 404:
            error = NotFound(f"no such path {request.url.path}")
        else:
            error = http_error(exc.status_code, f"http_{exc.status_code}", str(exc.detail))
        if _is_api(request):
            return problem_response(error, request)
        return console.error_page(request, error)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        error = http_error(500, "internal_error", "Internal error", "quote the request id when reporting it")
        return problem_response(error, request) if _is_api(request) else console.error_page(request, error)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        try:
            with database.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            log.warning("health check failed: %s", exc)
            return JSONResponse({"status": "fail", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "database": database.engine.dialect.name, "version": __version__})

    @app.get("/metrics", include_in_schema=False)
    def metrics_endpoint(_: Annotated[Principal, Depends(require(Perm.METRICS_READ))]) -> PlainTextResponse:
        return PlainTextResponse(generate_latest(metrics.registry).decode(), media_type=CONTENT_TYPE_LATEST)

    from zhongtai.analytics.api_members import router as analytics_members_router
    from zhongtai.analytics.api_sales import router as analytics_sales_router
    from zhongtai.analytics.api_status import router as analytics_status_router
    from zhongtai.analytics.api_touchpoints import router as analytics_touchpoints_router
    from zhongtai.auth.api import router as auth_router
    from zhongtai.catalog.api import router as catalog_router
    from zhongtai.channels.api import router as channels_router
    from zhongtai.forecasting.api import router as forecasting_router
    from zhongtai.inventory.api import router as inventory_router
    from zhongtai.jobs_api import router as jobs_router
    from zhongtai.members.api import router as members_router
    from zhongtai.members.api_cards import router as member_cards_router
    from zhongtai.members.api_engagement import router as member_engagement_router
    from zhongtai.members.api_points import router as member_points_router
    from zhongtai.orders.api import router as orders_router
    from zhongtai.replenishment.api import router as replenishment_router
    from zhongtai.service.api_agent import router as service_agent_router
    from zhongtai.service.api_chat import router as service_chat_router
    from zhongtai.service.api_insight import router as service_insight_router
    from zhongtai.service.api_kb import router as service_kb_router
    from zhongtai.service.api_trainer import router as service_trainer_router
    from zhongtai.service.api_wecom import router as service_wecom_router
    from zhongtai.touchpoints.api import router as touchpoints_router

    for router in (
        auth_router,
        channels_router,
        catalog_router,
        inventory_router,
        orders_router,
        members_router,
        member_cards_router,
        member_points_router,
        member_engagement_router,
        forecasting_router,
        replenishment_router,
        service_kb_router,
        service_chat_router,
        service_agent_router,
        service_wecom_router,
        service_insight_router,
        service_trainer_router,
        touchpoints_router,
        analytics_sales_router,
        analytics_members_router,
        analytics_touchpoints_router,
        analytics_status_router,
        jobs_router,
    ):
        app.include_router(router, prefix=API_PREFIX)
    console.mount(app)

    # Outermost first: request id and metrics wrap everything, idempotency wraps the app.
    app.add_middleware(IdempotencyMiddleware, db=database, session_cookie=settings.session_cookie)
    # The chat widget runs on retailers' pages: CORS for the conversation API only.
    from zhongtai.service.widget import WidgetCorsMiddleware

    app.add_middleware(WidgetCorsMiddleware, origins=settings.service_widget_origins)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    return app

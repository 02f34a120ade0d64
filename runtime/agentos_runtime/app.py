"""The FastAPI application: ``create_app(settings, config)`` and the lifespan that opens it.

Nothing connects at import or in ``create_app``: the lifespan opens the databases and model
clients, builds the agents, puts one ``RuntimeContext`` on ``app.state`` and, on shutdown,
lets in-flight runs finish (or records them cancelled) before closing connections.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from agentos_runtime import __version__
from agentos_runtime.api.assembly import Connectors, close_context, open_context, warm_up_models
from agentos_runtime.api.authz import authorize, build_access_policy
from agentos_runtime.api.errors import install_error_handlers
from agentos_runtime.api.middleware import BodyLimit, LimitBodySize, StripTrailingSlash
from agentos_runtime.api.routes import (
    agent_runs,
    agents,
    evals,
    health,
    home,
    knowledge,
    memories,
    metrics,
    sessions,
    teams,
    workflows,
)
from agentos_runtime.api.routes import config as config_routes
from agentos_runtime.api.text_checks import check_request_parameters, check_request_text
from agentos_runtime.config import ConfigError, RuntimeConfig
from agentos_runtime.errors import AgentOSError
from agentos_runtime.observability.http import RecordRequests
from agentos_runtime.observability.runtime_metrics import RuntimeMetrics
from agentos_runtime.observability.storage import observe_opener
from agentos_runtime.settings import Settings


class StartupFailed(RuntimeError):
    """A database (or another dependency) could not be opened; the server does not start."""


def default_connectors() -> Connectors:
    from agentos_runtime.storage.factory import open_database

    return Connectors(environ=dict(os.environ), open_database=open_database)


def create_app(
    settings: Settings,
    config: RuntimeConfig,
    *,
    os_id: str | None = None,
    connectors: Connectors | None = None,
    after_warm_up: Callable[[], None] | None = None,
) -> FastAPI:
    """The AgentOS-compatible API for ``config``; connections open when the app starts.

    ``after_warm_up`` is called once the model clients are built (``serving`` freezes what is
    loaded by then out of the garbage collector's walks).
    """
    connect_with = connectors or default_connectors()
    # Metrics are kept whenever they are served (``serving`` starts their port).
    telemetry = RuntimeMetrics() if settings.metrics_port else None
    # Runs are logged as they are saved, with or without metrics.
    opener = observe_opener(connect_with.open_database, metrics=telemetry)
    connect_with = replace(
        connect_with,
        open_database=opener,
        mcp_metrics=telemetry.mcp if telemetry else None,
        knowledge_metrics=telemetry.knowledge if telemetry else None,
    )
    resolved_os_id = config.os_id or os_id or "agentos"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            context = await open_context(settings, config, os_id=resolved_os_id, connectors=connect_with)
        except AgentOSError as error:
            # The cause chain is the driver's; the detail already says what failed, without URLs.
            raise StartupFailed(f"cannot start: {error.detail}") from None
        except ConfigError as error:
            raise StartupFailed(f"cannot start: {error}") from None
        app.state.context = context
        warming = warm_up_models(context, then=after_warm_up)
        app.state.models_warming = warming  # ``/ready`` waits for it
        try:
            yield
        finally:
            await warming
            # A server being stopped (``serving``) says until when runs in the background may go on.
            deadline = getattr(app.state, "stop_deadline", None)
            if deadline is not None:
                await context.runs.settle_background_runs(timeout=deadline - asyncio.get_running_loop().time())
            await close_context(context)

    app = FastAPI(
        title=config.name or "AgentOS",
        description=config.description or "",
        version=__version__,
        lifespan=lifespan,
    )
    app.state.security_key = settings.security_key
    app.state.access_policy = build_access_policy(settings, config, os_id=resolved_os_id)
    app.state.telemetry = telemetry
    install_error_handlers(app)
    # Authorized first, then input no backend can store is refused before any route runs.
    protected = [Depends(authorize), Depends(check_request_text)]
    app.include_router(home.router)
    app.include_router(health.router)
    app.include_router(config_routes.router, dependencies=protected)
    app.include_router(agents.router, dependencies=protected)
    app.include_router(agent_runs.router, dependencies=protected)
    app.include_router(teams.router, dependencies=protected)
    app.include_router(workflows.router, dependencies=protected)
    app.include_router(sessions.router, dependencies=protected)
    app.include_router(memories.router, dependencies=protected)
    app.include_router(metrics.router, dependencies=protected)
    app.include_router(evals.router, dependencies=protected)
    app.include_router(knowledge.router, dependencies=protected)
    if config.mcp_server:
        from agentos_runtime.api.routes.mcp import build_router as mcp_router  # loads the MCP SDK

        # Its body is checked by the route, which answers a JSON-RPC error, not FastAPI's 422.
        app.include_router(mcp_router(), dependencies=[Depends(authorize), Depends(check_request_parameters)])
    if telemetry is not None:
        # Innermost, so the router's matched route is on the scope it sees.
        app.add_middleware(RecordRequests, metrics=telemetry)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.allowed_origins,
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=["*"],
    )
    app.add_middleware(
        LimitBodySize,
        default=BodyLimit(settings.max_body_bytes, "AGENTOS_MAX_BODY_BYTES"),
        paths=upload_limits(settings, config),
    )
    app.add_middleware(StripTrailingSlash)
    return app


# Room beside a knowledge upload's document for its other form fields (metadata: 64 KiB at most).
UPLOAD_FORM_BYTES = 1024 * 1024


def upload_limits(settings: Settings, config: RuntimeConfig) -> dict[str, BodyLimit]:
    """The knowledge upload's body limit: its largest base's ``max_content_bytes`` and room for the
    form's other fields, when that is more than ``AGENTOS_MAX_BODY_BYTES`` (a document a base takes
    must not be refused before it reaches the base)."""
    largest = max((base.max_content_bytes for base in config.knowledge_bases), default=0)
    if largest + UPLOAD_FORM_BYTES <= settings.max_body_bytes:
        return {}
    set_by = "the largest knowledge base's max_content_bytes, and 1 MiB for the form's other fields"
    return {"/knowledge/content": BodyLimit(largest + UPLOAD_FORM_BYTES, set_by)}

"""The FastAPI application: ``create_app(settings, config)`` and the lifespan that opens it.

Nothing connects at import or in ``create_app``: the lifespan opens the databases and model
clients, builds the agents, puts one ``RuntimeContext`` on ``app.state`` and, on shutdown,
lets in-flight runs finish (or records them cancelled) before closing connections.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from agentos_runtime import __version__
from agentos_runtime.api.auth import require_security_key
from agentos_runtime.api.context import AgentEntry, OpenDatabase, RuntimeContext
from agentos_runtime.api.errors import install_error_handlers
from agentos_runtime.api.middleware import LimitBodySize, StripTrailingSlash
from agentos_runtime.api.routes import config as config_routes
from agentos_runtime.api.routes import health, home, sessions, teams, workflows
from agentos_runtime.config import ConfigError, DatabaseConfig, Problem, RuntimeConfig, load_config
from agentos_runtime.errors import AgentOSError
from agentos_runtime.llm.ports import ChatModel
from agentos_runtime.settings import Settings
from agentos_runtime.storage.ports import Database

logger = logging.getLogger("agentos_runtime")

DatabaseOpener = Callable[..., Awaitable[Database]]

# Without any database declared, sessions go to one embedded SQLite file in the data dir,
# so the runtime works with nothing installed.
DEFAULT_DB_ID = "agentos-db"
DEFAULT_DB_FILE = "agentos.db"

# How long shutdown waits for in-flight runs before cancelling them (Kubernetes gives a pod
# 30 s between SIGTERM and SIGKILL by default; leave room to record the cancellations).
DRAIN_SECONDS = 20.0


class StartupFailed(RuntimeError):
    """A database (or another dependency) could not be opened; the server does not start."""


@dataclass(frozen=True)
class AppDependencies:
    """What the lifespan connects with; tests replace parts (an in-memory database opener)."""

    environ: Mapping[str, str]
    open_database: DatabaseOpener


def default_dependencies() -> AppDependencies:
    from agentos_runtime.storage.factory import open_database

    return AppDependencies(environ=dict(os.environ), open_database=open_database)


def create_app(
    settings: Settings,
    config: RuntimeConfig,
    *,
    os_id: str | None = None,
    dependencies: AppDependencies | None = None,
) -> FastAPI:
    """The AgentOS-compatible API for ``config``; connections open when the app starts."""
    deps = dependencies or default_dependencies()
    resolved_os_id = config.os_id or os_id or "agentos"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            context = await open_context(settings, config, os_id=resolved_os_id, dependencies=deps)
        except AgentOSError as error:
            # The cause chain is the driver's; the detail already says what failed, without URLs.
            raise StartupFailed(f"cannot start: {error.detail}") from None
        app.state.context = context
        try:
            yield
        finally:
            await close_context(context)

    app = FastAPI(
        title=config.name or "AgentOS",
        description=config.description or "",
        version=__version__,
        lifespan=lifespan,
    )
    app.state.security_key = settings.security_key
    install_error_handlers(app)
    protected = [Depends(require_security_key)]
    app.include_router(home.router)
    app.include_router(health.router)
    app.include_router(config_routes.router, dependencies=protected)
    app.include_router(teams.router, dependencies=protected)
    app.include_router(workflows.router, dependencies=protected)
    app.include_router(sessions.router, dependencies=protected)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.allowed_origins,
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=["*"],
    )
    app.add_middleware(LimitBodySize, max_bytes=settings.max_body_bytes)
    app.add_middleware(StripTrailingSlash)
    return app


def database_configs(config: RuntimeConfig, data_dir: Path) -> list[DatabaseConfig]:
    """The databases to open: those declared, else one embedded SQLite file."""
    if config.databases:
        return list(config.databases)
    return [DatabaseConfig(id=DEFAULT_DB_ID, type="sqlite", path=str(data_dir / DEFAULT_DB_FILE))]


def default_db_id(config: RuntimeConfig, databases: list[DatabaseConfig]) -> str:
    """``db``, else the first database of the sessions page, else the first declared."""
    if config.db is not None:
        return config.db
    if config.session is not None and config.session.dbs:
        return config.session.dbs[0].db_id
    return databases[0].id


async def open_databases(
    configs: list[DatabaseConfig], *, dependencies: AppDependencies, data_dir: Path
) -> dict[str, OpenDatabase]:
    """Open every database concurrently; if one fails, close the others and raise its error."""
    results = await asyncio.gather(
        *(dependencies.open_database(c, environ=dependencies.environ, data_dir=data_dir) for c in configs),
        return_exceptions=True,
    )
    opened = {
        c.id: OpenDatabase(c, r) for c, r in zip(configs, results, strict=True) if not isinstance(r, BaseException)
    }
    failure = next((r for r in results if isinstance(r, BaseException)), None)
    if failure is not None:
        await close_databases(opened)
        raise failure
    return opened


async def close_databases(databases: Mapping[str, OpenDatabase]) -> None:
    for database in databases.values():
        try:
            await database.database.close()
        except Exception:  # shutdown: closing the others matters more than one failure
            logger.exception("closing database %s failed", database.config.id)


async def open_context(
    settings: Settings, config: RuntimeConfig, *, os_id: str, dependencies: AppDependencies
) -> RuntimeContext:
    from agentos_runtime.llm.factory import build_models

    configs = database_configs(config, settings.data_dir)
    if any(c.type == "sqlite" for c in configs):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    databases = await open_databases(configs, dependencies=dependencies, data_dir=settings.data_dir)
    models = build_models(config, dependencies.environ)
    default_db = default_db_id(config, configs)
    return RuntimeContext(
        os_id=os_id,
        config=config,
        started_at=datetime.now(tz=UTC),
        databases=databases,
        default_db_id=default_db,
        models=models,
        agents=build_agents(config, models, default_db=default_db),
        runs=None,
    )


def load_runtime_config(path: str | Path) -> RuntimeConfig:
    """``load_config`` plus the checks only building the components makes, reported together.

    Raises ``ConfigError`` listing every problem: schema problems alone when the file does not
    validate, otherwise reference problems and tool problems at once.
    """
    try:
        config = load_config(path)
    except ConfigError as error:
        document = _schema_valid_document(path)
        if document is None:
            raise
        raise ConfigError([*error.problems, *check_components(document)]) from error
    problems = check_components(config)
    if problems:
        raise ConfigError(problems)
    return config


def _schema_valid_document(path: str | Path) -> RuntimeConfig | None:
    """The file as a ``RuntimeConfig`` when it validates, ignoring references; else ``None``."""
    import pydantic
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        return RuntimeConfig.model_validate(data or {}, by_alias=False, by_name=True)
    except (OSError, yaml.YAMLError, pydantic.ValidationError):
        return None


def check_components(config: RuntimeConfig) -> list[Problem]:
    """Problems only building the components reveals (unknown tool names, bad tool settings)."""
    from agentos_runtime.tools import resolve_tools

    problems: list[Problem] = []
    for index, agent in enumerate(config.agents):
        try:
            resolve_tools(agent.tools, agent.tool_config, path=("agents", index))
        except ConfigError as error:
            problems.extend(error.problems)
    return problems


def build_agents(config: RuntimeConfig, models: Mapping[str, ChatModel], *, default_db: str) -> dict[str, AgentEntry]:
    first_model = config.models[0].id if config.models else ""
    return {
        agent.id: AgentEntry(
            config=agent,
            db_id=agent.db or default_db,
            model=models[agent.model or first_model],
            tool_schemas=(),
            engine=None,
        )
        for agent in config.agents
    }


async def close_context(context: RuntimeContext) -> None:
    from agentos_runtime.llm.factory import close_models

    try:
        await close_models(context.models)
    finally:
        await close_databases(context.databases)

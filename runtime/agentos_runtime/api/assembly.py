"""Opening and closing the runtime context: databases, model clients, agents, runs.

``open_context`` is what the app's lifespan runs at start-up; ``close_context`` at shutdown
first winds down the runs in flight (each is recorded, CANCELLED if it had to be stopped),
then closes model clients and database connections. What connects is passed in as
``Connectors`` so tests can swap a database opener without patching.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from agentos_runtime.api.context import OpenDatabase, RuntimeContext
from agentos_runtime.config import DatabaseConfig, RuntimeConfig
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.evals.slots import EvalSlots
from agentos_runtime.settings import Settings
from agentos_runtime.storage.deferred import DeferredDatabase
from agentos_runtime.storage.ports import Database

if TYPE_CHECKING:
    from agentos_runtime.knowledge.hub import KnowledgeHub
    from agentos_runtime.knowledge.metrics import KnowledgeMetrics
    from agentos_runtime.tools.mcp.hub import McpHub
    from agentos_runtime.tools.mcp.metrics import McpMetrics

logger = logging.getLogger("agentos_runtime")

DatabaseOpener = Callable[..., Awaitable[Database]]

# Without any database declared, sessions go to one embedded SQLite file in the data dir,
# so the runtime works with nothing installed.
DEFAULT_DB_ID = "agentos-db"
DEFAULT_DB_FILE = "agentos.db"

# How long shutdown waits for runs still in flight to be recorded once cancelled. uvicorn has
# already let open requests finish for its graceful window; Kubernetes kills at 30 s.
DRAIN_SECONDS = 5.0


@dataclass(frozen=True)
class Connectors:
    """What opening the context connects with: the environment (URLs, keys) and a database opener."""

    environ: Mapping[str, str]
    open_database: DatabaseOpener
    mcp_metrics: McpMetrics | None = None
    """Where MCP tool calls are counted (the app's metrics, when it keeps them)."""
    knowledge_metrics: KnowledgeMetrics | None = None
    """Where knowledge bases are measured (the app's metrics, when it keeps them)."""


def database_configs(config: RuntimeConfig, data_dir: Path) -> list[DatabaseConfig]:
    """The databases to open: those declared, else one embedded SQLite file."""
    if config.databases:
        return list(config.databases)
    return [DatabaseConfig(id=DEFAULT_DB_ID, type="sqlite", path=str(data_dir / DEFAULT_DB_FILE))]


async def open_context(
    settings: Settings, config: RuntimeConfig, *, os_id: str, connectors: Connectors
) -> RuntimeContext:
    """Open everything ``config`` needs; on failure, close what was opened and raise.

    Raises ``StorageUnavailable`` for a database that does not answer and ``ConfigError`` for
    components that cannot be built.
    """
    from agentos_runtime.llm.factory import build_models, close_models
    from agentos_runtime.runs import RunRegistry, build_agents, default_db_id
    from agentos_runtime.runs.composing import build_teams, build_workflows
    from agentos_runtime.runs.registry import CANCEL_POLL_SECONDS

    configs = database_configs(config, settings.data_dir)
    if any(c.type == "sqlite" and c.path is None for c in configs):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    databases = await open_databases(configs, connectors=connectors, data_dir=settings.data_dir)
    models = build_models(config, connectors.environ)
    registry = RunRegistry(max_background=settings.max_background_runs, cancel_poll_seconds=CANCEL_POLL_SECONDS)
    mcp = None
    knowledge = None
    try:
        stores = {db_id: opened.database for db_id, opened in databases.items()}
        default_db = default_db_id(config, stores) or configs[0].id
        knowledge = await open_knowledge_hub(config, configs, default_db, settings.data_dir, connectors)
        mcp = await open_mcp(config, connectors.environ, metrics=connectors.mcp_metrics)
        agents = build_agents(config, models=models, databases=stores, registry=registry, mcp=mcp, knowledge=knowledge)
        teams = build_teams(
            config, agents=agents, models=models, databases=stores, registry=registry, mcp=mcp, knowledge=knowledge
        )
        workflows = build_workflows(config, agents=agents, teams=teams, databases=stores, registry=registry)
    except BaseException:
        if mcp is not None:
            await mcp.close()
        if knowledge is not None:
            await knowledge.close()
        await close_models(models)
        await close_databases(databases)
        raise
    return RuntimeContext(
        os_id=os_id,
        config=config,
        started_at=datetime.now(tz=UTC),
        databases=databases,
        default_db_id=default_db,
        models=models,
        agents=agents,
        runs=registry,
        eval_slots=EvalSlots(limit=settings.max_eval_runs),
        teams=teams,
        workflows=workflows,
        mcp=mcp,
        knowledge=knowledge,
    )


async def open_knowledge_hub(
    config: RuntimeConfig, databases: list[DatabaseConfig], default_db: str, data_dir: Path, connectors: Connectors
) -> KnowledgeHub | None:
    """Open and start the declared knowledge bases (``None`` when there are none: nothing of
    them is loaded). Start-up does not wait for their sources, nor for a database that is down."""
    if not config.knowledge_bases:
        return None
    from agentos_runtime.knowledge.hub import open_knowledge

    hub = await open_knowledge(
        config.knowledge_bases,
        databases,
        default_db_id=default_db,
        environ=connectors.environ,
        data_dir=data_dir,
        metrics=connectors.knowledge_metrics,
    )
    if hub is None:
        return None
    try:
        await hub.start()
    except BaseException:
        await hub.close()
        raise
    return hub


async def open_mcp(
    config: RuntimeConfig, environ: Mapping[str, str], *, metrics: McpMetrics | None = None
) -> McpHub | None:
    """Connect to the declared MCP servers (``None`` when there are none: the SDK is not loaded)."""
    if not config.mcp_servers:
        return None
    from agentos_runtime.tools.mcp.hub import McpHub

    hub = McpHub(config.mcp_servers, environ, metrics=metrics)
    await hub.start()
    return hub


def warm_up_models(context: RuntimeContext, *, then: Callable[[], None] | None = None) -> asyncio.Task[None]:
    """Build the model clients in a worker thread, after start-up; call ``then`` when done.

    For an ``https://`` endpoint that imports ``httpx2`` and loads CA certificates (about
    70 ms), kept out of the cold start and of the first request. A failure here is only
    logged: the first request that needs the model reports it properly.
    """
    from agentos_runtime.llm.factory import prepare_models

    async def prepare() -> None:
        try:
            await asyncio.to_thread(prepare_models, context.models)
        except Exception:  # background warm-up: the request path raises the real error later
            logger.exception("preparing the model clients failed")
        if then is not None:
            then()

    return asyncio.get_running_loop().create_task(prepare())


async def close_context(context: RuntimeContext, *, drain_seconds: float = DRAIN_SECONDS) -> None:
    """Record the runs still in flight, then close model clients and databases."""
    from agentos_runtime.llm.factory import close_models

    try:
        if not await context.runs.shutdown(timeout=drain_seconds):
            logger.warning("some runs were still being saved after %.0f s; closing anyway", drain_seconds)
        await close_models(context.models)
        if context.mcp is not None:
            await context.mcp.close()
    finally:
        try:
            if context.knowledge is not None:
                await context.knowledge.close()
        finally:
            await close_databases(context.databases)


async def open_databases(
    configs: list[DatabaseConfig], *, connectors: Connectors, data_dir: Path
) -> dict[str, OpenDatabase]:
    """Open every database concurrently; if one fails, close the others and raise its error."""
    results = await asyncio.gather(
        *(connectors.open_database(c, environ=connectors.environ, data_dir=data_dir) for c in configs),
        return_exceptions=True,
    )
    opened: dict[str, OpenDatabase] = {}
    for config, result in zip(configs, results, strict=True):
        if isinstance(result, StorageUnavailable):
            # Down at start-up: serve anyway, not ready, and open it once it answers.
            logger.warning("database %s is unavailable, retrying on use: %s", config.id, result.detail)
            opened[config.id] = OpenDatabase(config, _deferred(config, connectors, data_dir, result))
        elif not isinstance(result, BaseException):
            opened[config.id] = OpenDatabase(config, result)
    failure = next((r for r in results if isinstance(r, BaseException) and not isinstance(r, StorageUnavailable)), None)
    if failure is not None:
        await close_databases(opened)
        raise failure
    return opened


def _deferred(config: DatabaseConfig, connectors: Connectors, data_dir: Path, error: StorageUnavailable) -> Database:
    def opener() -> Awaitable[Database]:
        return connectors.open_database(config, environ=connectors.environ, data_dir=data_dir)

    return DeferredDatabase(config.id, opener, first_error=error)


async def close_databases(databases: Mapping[str, OpenDatabase]) -> None:
    for database in databases.values():
        try:
            await database.database.close()
        except Exception:  # shutdown: closing the others matters more than one failure
            logger.exception("closing database %s failed", database.config.id)

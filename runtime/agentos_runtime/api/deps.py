"""Route dependencies: the runtime context, one agent, and the database a request targets.

Database selection follows Agno's rules for every database route: ``db_id`` picks a
database (unknown ids are 404), and may only be left out when exactly one is open;
``table`` needs ``db_id`` and must name one of that database's tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import Depends, Query, Request

from agentos_runtime.api.context import OpenDatabase, RuntimeContext
from agentos_runtime.errors import BadRequest, NotFound
from agentos_runtime.runs import Agent


async def get_context(request: Request) -> RuntimeContext:
    context: RuntimeContext = request.app.state.context
    return context


ContextDep = Annotated[RuntimeContext, Depends(get_context)]


async def get_agent(agent_id: str, context: ContextDep) -> Agent:
    agent = context.agents.get(agent_id)
    if agent is None:
        raise NotFound("Agent not found")
    return agent


AgentDep = Annotated[Agent, Depends(get_agent)]


def select_database(databases: Mapping[str, OpenDatabase], db_id: str | None, table: str | None) -> OpenDatabase:
    """The database a request names, by Agno's rules; raises ``BadRequest`` or ``NotFound``."""
    if table and not db_id:
        raise BadRequest("The db_id query parameter is required when passing a table")
    if db_id:
        database = databases.get(db_id)
        if database is None:
            raise NotFound(f"No database found with id '{db_id}'")
        if table and table not in database.table_names:
            raise NotFound(f"No database with id '{db_id}' has table '{table}'")
        return database
    if len(databases) > 1:
        raise BadRequest("The db_id query parameter is required when using multiple databases")
    if not databases:
        raise BadRequest("No database is configured on this AgentOS")
    return next(iter(databases.values()))


async def get_database(
    context: ContextDep,
    db_id: Annotated[str | None, Query(description="Database to use; required when several are open.")] = None,
    table: Annotated[str | None, Query(description="Table to use; requires db_id.")] = None,
) -> OpenDatabase:
    return select_database(context.databases, db_id, table)


DatabaseDep = Annotated[OpenDatabase, Depends(get_database)]

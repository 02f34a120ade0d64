"""Teams built from a config on one in-memory database ``db``, and the run they stored, for
the engine tests that drive a team without a server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentos_runtime.config.document import RuntimeConfig
from agentos_runtime.llm.ports import ChatModel
from agentos_runtime.runs import RunRegistry, build_agents
from agentos_runtime.runs.composing import build_teams
from agentos_runtime.runs.teams import Team
from agentos_runtime.storage.memory import InMemoryDatabase

JSON = dict[str, Any]


def teams_in_memory(config: RuntimeConfig, models: Mapping[str, ChatModel]) -> tuple[dict[str, Team], InMemoryDatabase]:
    """The config's teams, by id, storing their runs in a new in-memory database ``db``."""
    database = InMemoryDatabase(id="db")
    registry = RunRegistry()
    agents = build_agents(config, models=models, databases={"db": database}, registry=registry)
    teams = build_teams(config, agents=agents, models=models, databases={"db": database}, registry=registry)
    return dict(teams), database


async def stored_run(database: InMemoryDatabase, session_id: str = "s1") -> JSON:
    """The one run stored in ``session_id``."""
    row = await database.sessions.get_session(session_id)
    assert row is not None and row.runs is not None
    [run] = row.runs
    return run

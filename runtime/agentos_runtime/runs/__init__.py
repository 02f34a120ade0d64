"""Runs: the agent loop, prompts, tool execution and run events.

``build_agents(config, models=..., databases=..., registry=..., mcp=..., knowledge=...)`` gives
each declared ``Agent`` (``mcp``: the connected MCP servers, when the config declares some;
``knowledge``: the opened knowledge bases, searched as ``runs.knowledge`` says);
``Agent.run(RunRequest(...))`` yields ``RunEvent``s (``.to_sse()`` is the wire frame) and
``Agent.complete(...)`` returns the ``RunOutput`` dict. ``RunRegistry.cancel(run_id)`` stops a
run in flight; ``RunRegistry.shutdown(timeout=...)`` winds every run down and waits for its save.
"""

from agentos_runtime.runs.building import build_agents, default_db_id
from agentos_runtime.runs.events import RunEvent
from agentos_runtime.runs.loop import Agent
from agentos_runtime.runs.registry import RunRegistry
from agentos_runtime.runs.requests import RunRequest

__all__ = ["Agent", "RunEvent", "RunRegistry", "RunRequest", "build_agents", "default_db_id"]

"""Agno's blocking ``AgentOSClient.get_team`` and ``get_workflow`` (the async variants are
driven in the team and workflow suites) parse the runtime's answers into Agno's schemas."""

from __future__ import annotations

import asyncio

from tests.runtime.api.agno_client import client_for
from tests.runtime.api.harness import Served
from tests.runtime.conformance.conftest import SECURITY_KEY

AUTH = {"Authorization": f"Bearer {SECURITY_KEY}"}


async def test_the_blocking_get_team_and_get_workflow_parse_into_agnos_schemas(components_runtime: Served) -> None:
    client = client_for(components_runtime)
    team = await asyncio.to_thread(client.get_team, "crew", AUTH)
    assert (team.id, team.name) == ("crew", "Crew")
    assert team.members is not None and [member.id for member in team.members] == ["assistant"]
    workflow = await asyncio.to_thread(lambda: client.get_workflow("flow", headers=AUTH))
    assert (workflow.id, workflow.name) == ("flow", "Flow")
    assert workflow.steps is not None and [step["name"] for step in workflow.steps] == ["answer"]

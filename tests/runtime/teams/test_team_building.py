"""Teams and workflows built from the config: wired to what was built, problems with field paths."""

from __future__ import annotations

import pytest
from agentos_runtime.config import ConfigError
from agentos_runtime.runs import RunRegistry, build_agents
from agentos_runtime.runs.composing import build_teams, build_workflows
from agentos_runtime.runs.workflow_steps import ConditionPlan, LeafPlan, ParallelPlan
from agentos_runtime.storage.memory import InMemoryDatabase

from tests.runtime.engine.fakes import FakeChatModel, runtime_config

DOCUMENT = {
    "models": [{"id": "m", "api_key_env": None}, {"id": "lead", "api_key_env": None}],
    "databases": [{"id": "main", "type": "sqlite"}, {"id": "other", "type": "sqlite"}],
    "agents": [{"id": "a"}, {"id": "b", "db": "other"}],
    "teams": [
        {"id": "outer", "model": "lead", "members": ["inner", "a"]},
        {"id": "inner", "members": ["b"], "db": "other"},
    ],
    "workflows": [
        {
            "id": "w",
            "steps": [
                {"name": "s1", "team": "outer"},
                {"name": "s2", "parallel": [{"name": "p1", "agent": "a"}, {"name": "p2", "agent": "b"}]},
                {"name": "s3", "condition": {"contains": "x"}, "steps": [{"name": "c1", "agent": "a"}]},
            ],
        }
    ],
}


def build(models: dict[str, FakeChatModel], databases: dict[str, InMemoryDatabase]):  # type: ignore[no-untyped-def]
    config = runtime_config(**DOCUMENT)
    registry = RunRegistry()
    agents = build_agents(config, models=models, databases=databases, registry=registry)
    teams = build_teams(config, agents=agents, models=models, databases=databases, registry=registry)
    workflows = build_workflows(config, agents=agents, teams=teams, databases=databases, registry=registry)
    return agents, teams, workflows


def test_teams_are_wired_to_their_members_model_and_database_and_workflows_to_their_executors() -> None:
    models = {"m": FakeChatModel(), "lead": FakeChatModel()}
    databases = {"main": InMemoryDatabase(id="main"), "other": InMemoryDatabase(id="other")}
    agents, teams, workflows = build(models, databases)

    outer, inner = teams["outer"], teams["inner"]
    assert list(teams) == ["outer", "inner"]
    assert outer.members == [inner, agents["a"]] and inner.members == [agents["b"]]
    assert outer.model is models["lead"] and inner.model is models["m"]
    assert (outer.db_id, outer.sessions) == ("main", databases["main"].sessions)
    assert (inner.db_id, inner.sessions) == ("other", databases["other"].sessions)
    s1, s2, s3 = workflows["w"].steps
    assert isinstance(s1, LeafPlan) and (s1.executor, s1.kind) == (outer, "team")
    assert isinstance(s2, ParallelPlan) and [leaf.executor for leaf in s2.leaves] == [agents["a"], agents["b"]]
    assert isinstance(s3, ConditionPlan) and s3.condition.contains == "x" and s3.else_steps == []
    assert workflows["w"].sessions is databases["main"].sessions


def test_a_team_whose_model_was_not_built_is_reported_with_its_path() -> None:
    models = {"m": FakeChatModel()}
    databases = {"main": InMemoryDatabase(id="main"), "other": InMemoryDatabase(id="other")}
    config = runtime_config(**DOCUMENT)
    agents = build_agents(config, models=models, databases=databases, registry=RunRegistry())
    with pytest.raises(ConfigError) as caught:
        build_teams(config, agents=agents, models=models, databases=databases, registry=RunRegistry())
    assert [str(p) for p in caught.value.problems] == ["teams[0].model: no model 'lead' was built for this team"]


def test_a_workflow_step_whose_team_was_not_built_is_reported_with_its_path() -> None:
    models = {"m": FakeChatModel(), "lead": FakeChatModel()}
    databases = {"main": InMemoryDatabase(id="main"), "other": InMemoryDatabase(id="other")}
    config = runtime_config(**DOCUMENT)
    agents = build_agents(config, models=models, databases=databases, registry=RunRegistry())
    with pytest.raises(ConfigError) as caught:
        build_workflows(config, agents=agents, teams={}, databases=databases, registry=RunRegistry())
    assert [str(p) for p in caught.value.problems] == ["workflows[0].steps[0].team: team 'outer' was not built"]


def test_a_team_leaders_tool_may_wait_for_a_confirmation_as_an_agents_does() -> None:
    from agentos_runtime.config_checks import check_components

    confirming = {"tools": ["calculator"], "tool_config": {"calculator": {"requires_confirmation": True}}}
    document = {
        **DOCUMENT,
        "agents": [{"id": "a", **confirming}, {"id": "b", "db": "other"}],
        "teams": [{**DOCUMENT["teams"][0], **confirming}, DOCUMENT["teams"][1]],
    }
    config = runtime_config(**document)
    models = {"m": FakeChatModel(), "lead": FakeChatModel()}
    databases = {"main": InMemoryDatabase(id="main"), "other": InMemoryDatabase(id="other")}
    agents = build_agents(config, models=models, databases=databases, registry=RunRegistry())

    teams = build_teams(config, agents=agents, models=models, databases=databases, registry=RunRegistry())

    assert check_components(config) == []
    leader = teams[document["teams"][0]["id"]]
    assert [tool.requires_confirmation for tool in leader.tools.tools] == [True]
    assert agents["a"].tools.tools[0].requires_confirmation

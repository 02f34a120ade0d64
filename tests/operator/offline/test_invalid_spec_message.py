"""The InvalidSpec condition names every problem of a spec at once, not one pass at a time."""

from __future__ import annotations

from typing import Any

import pytest
from agentos_operator.reconcile import invalid_spec_message
from agentos_operator.resources import parse_resource
from agentos_runtime.config import ConfigError


def resource(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "agentos.dev/v1alpha1",
        "kind": "AgentOSConfig",
        "metadata": {"name": "demo", "namespace": "team-a"},
        "spec": spec,
    }


def test_an_unknown_field_does_not_hide_an_unknown_model() -> None:
    body = resource(
        {
            "models": [{"id": "gpt", "apiKeySecretRef": {"name": "openai", "key": "key"}}],
            "agents": [{"id": "a", "model": "gpt-5", "temprature": 0.3}],
        }
    )
    with pytest.raises(ConfigError) as caught:
        parse_resource(body)
    assert [str(p) for p in caught.value.problems] == [
        "spec.agents[0].temprature: unknown field: remove it or check its spelling"
    ]
    message = invalid_spec_message(body, caught.value.problems)
    assert message.split("; ") == [
        "spec.agents[0].temprature: unknown field: remove it or check its spelling",
        "spec.agents[0].model: unknown model 'gpt-5': declare it in models or fix the id",
    ]


def invalid(body: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_resource(body)
    return invalid_spec_message(body, caught.value.problems).split("; ")


def test_a_rule_across_fields_does_not_hide_references_or_tools() -> None:
    body = resource(
        {
            "models": [{"id": "gpt", "apiKeySecretRef": {"name": "openai", "key": "key"}}],
            "authorization": {"userIsolation": True},
            "replicas": 2,
            "agents": [{"id": "a", "model": "gpt-5"}, {"id": "b", "tools": ["calculater"]}],
        }
    )
    assert invalid(body) == [
        "spec.replicas: an embedded SQLite database allows one replica only, not 2: use postgres or redis to scale out",
        "spec.agents[0].model: unknown model 'gpt-5': declare it in models or fix the id",
        "spec.agents[1].tools[0]: unknown tool 'calculater': known tools are calculator, current_time, http_get: fix"
        " the name, or, for a tool of your own (an agentos.tools entry point), set spec.image to the runtime image"
        " that installs it",
        # One rule hid the other (pydantic stops at the first): found once replicas is set aside.
        "spec.jwtVerificationKeySecretRef: authorization turns on JWT access control, which needs a verification key:"
        " set jwtVerificationKeySecretRef to a Secret key holding it, or jwtJwksSecretRef to one holding a JWKS"
        " document",
    ]


def test_a_step_without_its_name_does_not_hide_the_rest() -> None:
    body = resource(
        {
            "models": [{"id": "gpt", "apiKeySecretRef": {"name": "openai", "key": "key"}}],
            "authorization": {"userIsolation": True},
            "agents": [{"id": "a"}, {"id": "a"}],
            "workflows": [{"id": "w", "steps": [{"agent": "ghost"}]}],
        }
    )
    assert invalid(body) == [
        "spec.workflows[0].steps[0].name: required field is missing",
        "spec.jwtVerificationKeySecretRef: authorization turns on JWT access control, which needs a verification key:"
        " set jwtVerificationKeySecretRef to a Secret key holding it, or jwtJwksSecretRef to one holding a JWKS"
        " document",
        "spec.agents[1].id: duplicate id 'a': ids must be unique",
        "spec.workflows[0].steps[0].agent: unknown agent 'ghost': declare it in agents or fix the id",
    ]


def test_a_bad_mcp_server_field_does_not_make_its_server_unknown() -> None:
    body = resource(
        {
            "models": [{"id": "gpt", "apiKeySecretRef": {"name": "openai", "key": "key"}}],
            "mcpServers": [{"id": "github", "url": "https://mcp.example.com/mcp", "bogus": 1}],
            "agents": [{"id": "a", "tools": ["mcp:github"]}],
        }
    )
    assert invalid(body) == ["spec.mcpServers[0].bogus: unknown field: remove it or check its spelling"]


def test_a_bad_image_field_does_not_make_the_image_entry_points_unknown() -> None:
    body = resource(
        {
            "models": [{"id": "gpt", "apiKeySecretRef": {"name": "openai", "key": "key"}}],
            "image": 5,
            "agents": [{"id": "a", "tools": ["weather"]}],
        }
    )
    problems = invalid(body)
    assert [p.split(":")[0] for p in problems] == ["spec.image"]


def test_every_refused_variable_of_spec_env_is_named_whichever_comes_first() -> None:
    """An env rule names a variable's ``name`` or ``value``: setting that aside leaves an item
    without a name, which hides the rest of ``spec.env``; so each variable is judged in one pass."""
    from_a_secret = {"secretKeyRef": {"name": "openai", "key": "key"}}
    env = [
        {"name": "OPENAI_API_KEY", "valueFrom": from_a_secret},
        {"name": "TEAM", "value": "support"},
        {"name": "DB_PASSWORD", "value": "hunter2"},
        {"name": "AGENTOS_METRICS_PORT", "value": "9999"},
    ]
    body = resource(
        {
            "models": [{"id": "gpt", "apiKeySecretRef": {"name": "openai", "key": "key"}}],
            "agents": [{"id": "a", "model": "gpt-5"}],
            "env": env,
        }
    )

    said = invalid(body)

    assert [problem.split(":")[0] for problem in said] == [
        "spec.env[0].name",
        "spec.env[2].value",
        "spec.env[3].name",
        "spec.agents[0].model",
    ]
    assert all("hunter2" not in problem for problem in said)

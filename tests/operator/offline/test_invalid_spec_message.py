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

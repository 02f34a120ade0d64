"""The settings ``/agents/{id}`` shows of an agent's system message, as AgentOS shows them."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from agentos_runtime.api.routes.agent_schemas import agent_detail

from tests.runtime.engine.fakes import FakeChatModel, make_agent

DATABASE: Any = SimpleNamespace(config=SimpleNamespace(tables=SimpleNamespace(sessions="s", memories="m")))


def test_the_system_message_settings_that_differ_from_agnos_defaults_are_shown() -> None:
    agent = make_agent(
        FakeChatModel(),
        expected_output="A haiku.",
        additional_context="Prices in EUR.",
        add_name_to_context=True,
        add_datetime_to_context=True,
        timezone_identifier="Europe/Paris",
    )

    assert agent_detail(agent, DATABASE)["system_message"] == {
        "expected_output": "A haiku.",
        "additional_context": "Prices in EUR.",
        "add_name_to_context": True,
        "add_datetime_to_context": True,
        "timezone_identifier": "Europe/Paris",
    }
    assert "system_message" not in agent_detail(make_agent(FakeChatModel()), DATABASE)

"""What the runtime refuses at its start of a rendered config is refused of the resource, at its field.

The runtime checks its tools when it starts; a resource whose rendered config it refuses was
Ready=True and its pods in a crash loop. These are the cases a reviewer found.
"""

from __future__ import annotations

from typing import Any

import pytest
from agentos_operator import render
from agentos_operator.reconcile import invalid_spec_message
from agentos_operator.render.runtime_checks import resource_path
from agentos_operator.resources import parse_resource, validate_resource
from agentos_runtime.config import ConfigError

from tests.operator.offline.inputs import resource_body
from tests.runtime.engine.test_tool_resolving import installed_plugin  # noqa: F401 (a fixture)

KNOWN = "known tools are calculator, current_time, http_get"
OWN_TOOL = (
    "fix the name, or, for a tool of your own (an agentos.tools entry point), set spec.image to the runtime image"
    " that installs it"
)


def spec(*agents: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {
        "models": [{"id": "gpt", "apiKeySecretRef": {"name": "openai", "key": "key"}}],
        "mcpServers": [{"id": "github", "url": "https://mcp.example.com/mcp"}],
        "agents": list(agents),
        **more,
    }


def problems_of(body: dict[str, Any]) -> list[str]:
    return [str(problem) for problem in validate_resource(body)]


def test_a_misspelt_tool_is_refused_at_its_field_with_the_known_names() -> None:
    assert problems_of(resource_body(spec({"id": "a", "tools": ["calculator", "calculater"]}))) == [
        f"spec.agents[0].tools[1]: unknown tool 'calculater': {KNOWN}: {OWN_TOOL}"
    ]


def test_http_get_without_allowed_hosts_is_refused() -> None:
    assert problems_of(resource_body(spec({"id": "a", "tools": ["http_get"]}))) == [
        "spec.agents[0].toolConfig.http_get.allowed_hosts: required field is missing"
    ]


def test_a_camel_case_setting_names_its_snake_case_spelling_and_the_rest_is_still_checked() -> None:
    body = resource_body(
        spec(
            {
                "id": "a",
                "tools": ["http_get", "mcp:github"],
                "toolConfig": {
                    "http_get": {"allowedHosts": ["api.example.com"], "maxBytes": 0},
                    "mcp:github": {"includeTools": ["search"], "exclude_tools": ["search"]},
                },
            }
        )
    )
    assert problems_of(body) == [
        "spec.agents[0].toolConfig.http_get.allowedHosts: 'allowedHosts' is camelCase: toolConfig holds each tool's"
        " settings as the runtime reads them, in snake_case: write allowed_hosts",
        "spec.agents[0].toolConfig.http_get.maxBytes: 'maxBytes' is camelCase: toolConfig holds each tool's"
        " settings as the runtime reads them, in snake_case: write max_bytes",
        "spec.agents[0].toolConfig.mcp:github.includeTools: 'includeTools' is camelCase: toolConfig holds each"
        " tool's settings as the runtime reads them, in snake_case: write include_tools",
        "spec.agents[0].toolConfig.http_get.max_bytes: Input should be greater than 0",
        "spec.agents[0].toolConfig.mcp:github: tools both included and excluded: search",
    ]


def test_snake_case_settings_and_every_example_shape_pass() -> None:
    body = resource_body(
        spec(
            {
                "id": "a",
                "tools": ["http_get", "mcp:github", "calculator"],
                "toolConfig": {
                    "http_get": {"allowed_hosts": ["api.example.com"], "requires_confirmation": True},
                    "mcp:github": {"include_tools": ["search"], "tool_name_prefix": "gh"},
                },
            }
        )
    )
    assert problems_of(body) == []


def test_settings_of_a_tool_not_listed_and_a_tool_listed_twice_are_refused_on_a_team_too() -> None:
    body = resource_body(
        spec(
            {"id": "a"},
            teams=[
                {"id": "t", "members": ["a"], "tools": ["calculator", "calculator"], "toolConfig": {"clock": {}}},
            ],
        )
    )
    assert problems_of(body) == [
        "spec.teams[0].tools[1]: tool 'calculator' is listed twice",
        "spec.teams[0].toolConfig.clock: settings for 'clock', which is not in tools",
    ]


def test_the_operators_own_entry_points_do_not_count_for_the_runtime_image(installed_plugin: None) -> None:  # noqa: F811
    """``weather`` is installed beside the checking process, not in the operator's runtime image."""
    problems = problems_of(resource_body(spec({"id": "a", "tools": ["weather"]})))
    assert problems == [f"spec.agents[0].tools[0]: unknown tool 'weather': {KNOWN}: {OWN_TOOL}"]


def test_with_an_image_of_your_own_other_names_are_its_entry_points_with_their_own_settings() -> None:
    body = resource_body(
        spec(
            {"id": "a", "tools": ["weather", "http_get"], "toolConfig": {"weather": {"apiBase": "https://w.example"}}},
            image="registry.example.com/team/runtime-with-tools:1.2",
        )
    )
    assert problems_of(body) == ["spec.agents[0].toolConfig.http_get.allowed_hosts: required field is missing"]


def test_an_operator_whose_default_image_is_another_leaves_other_names_to_that_images_runtime() -> None:
    """The chart's runtimeImage set to a team's image with tools of its own: resources naming no
    spec.image run it, so its tools are no fault; the bundled image, named or by default, has none."""
    body = resource_body(spec({"id": "a", "tools": ["weather"]}))
    custom = "registry.example.com/team/runtime-with-tools:1.2"

    assert [str(p) for p in validate_resource(body, default_image=custom)] == []
    parse_resource(body, default_image=custom)
    refused = [f"spec.agents[0].tools[0]: unknown tool 'weather': {KNOWN}: {OWN_TOOL}"]
    assert [str(p) for p in validate_resource(body, default_image=render.DEFAULT_RUNTIME_IMAGE)] == refused
    named = resource_body(spec({"id": "a", "tools": ["weather"]}, image=render.DEFAULT_RUNTIME_IMAGE))
    assert [str(p) for p in validate_resource(named, default_image=custom)] == refused
    message = invalid_spec_message(body, [], default_image=render.DEFAULT_RUNTIME_IMAGE)
    assert message == refused[0] and invalid_spec_message(body, [], default_image=custom) == ""


def test_the_reconciles_invalid_spec_names_the_runtimes_refusal() -> None:
    body = resource_body(spec({"id": "a", "tools": ["calculater"]}))
    with pytest.raises(ConfigError) as caught:
        parse_resource(body)
    message = invalid_spec_message(body, caught.value.problems)
    assert message == f"spec.agents[0].tools[0]: unknown tool 'calculater': {KNOWN}: {OWN_TOOL}"


def test_a_tool_problem_shows_with_a_reference_problem_in_one_run() -> None:
    body = resource_body(spec({"id": "a", "model": "gpt-5", "tools": ["calculater"]}))
    with pytest.raises(ConfigError) as caught:
        parse_resource(body)
    assert invalid_spec_message(body, caught.value.problems).split("; ") == [
        "spec.agents[0].model: unknown model 'gpt-5': declare it in models or fix the id",
        f"spec.agents[0].tools[0]: unknown tool 'calculater': {KNOWN}: {OWN_TOOL}",
    ]


def test_runtime_paths_become_the_resources_with_data_keys_as_written() -> None:
    assert resource_path(("agents", 2, "tool_config", "http_get", "allowed_hosts")) == (
        "spec",
        "agents",
        2,
        "toolConfig",
        "http_get",
        "allowed_hosts",
    )
    assert resource_path(("teams", 0, "session_state", "my_key")) == ("spec", "teams", 0, "sessionState", "my_key")
    assert resource_path(("manifest", "my-agent", "display_name")) == ("spec", "manifest", "my-agent", "displayName")

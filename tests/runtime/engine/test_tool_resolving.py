"""Tool names to tools: built-ins, a third-party package's entry points, config problems."""

from __future__ import annotations

import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from agentos_runtime.config import ConfigError
from agentos_runtime.llm.ports import ToolCall
from agentos_runtime.tools import execute_tool_call, resolve_tools

PLUGIN_MODULE = "acme_agent_tools"

PLUGIN_SOURCE = """
import threading
from agentos_runtime.tools import Tool

CALLER_THREADS = []

async def forecast(city: str) -> str:
    return f"sunny in {city}"

weather_tool = Tool(
    "weather",
    "Weather forecast.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    forecast,
)

def build_greeter(settings):
    greeting = settings.get("greeting", "hello")

    def greet(name: str) -> str:  # sync on purpose: runs in a worker thread
        CALLER_THREADS.append(threading.get_ident())
        return f"{greeting}, {name}"

    return Tool("greeter", "Greets.", {"type": "object", "properties": {"name": {"type": "string"}}}, greet)

def build_strict(settings):
    raise ValueError("strict needs an api_base")

def build_wrong(settings):
    return "not a tool"

not_callable = 42
"""

ENTRY_POINTS = f"""
[agentos.tools]
weather = {PLUGIN_MODULE}:weather_tool
greeter = {PLUGIN_MODULE}:build_greeter
strict = {PLUGIN_MODULE}:build_strict
wrong = {PLUGIN_MODULE}:build_wrong
constant = {PLUGIN_MODULE}:not_callable
broken = acme_missing_module:thing
calculator = {PLUGIN_MODULE}:weather_tool
"""


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A third-party distribution declaring ``agentos.tools`` entry points, importable from sys.path."""
    (tmp_path / f"{PLUGIN_MODULE}.py").write_text(textwrap.dedent(PLUGIN_SOURCE))
    dist_info = tmp_path / "acme_agent_tools-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-agent-tools\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop(PLUGIN_MODULE, None)


def test_built_ins_resolve_in_the_order_named() -> None:
    tools = resolve_tools(
        ["http_get", "calculator", "current_time"], {"http_get": {"allowed_hosts": ["api.example.com"]}}
    )

    assert [tool.name for tool in tools] == ["http_get", "calculator", "current_time"]
    assert all(tool.schema()["type"] == "function" for tool in tools)


def test_an_unknown_tool_is_reported_at_its_path_with_the_known_names() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_tools(["calculator", "calculater"], path=("agents", 3))

    assert [str(problem) for problem in caught.value.problems] == [
        "agents[3].tools[1]: unknown tool 'calculater': known tools are calculator, current_time, http_get"
    ]


def test_tool_settings_problems_are_reported_at_their_path() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_tools(
            ["http_get", "calculator", "calculator"],
            {"http_get": {"timeout": 5}, "calculator": {"precision": 3}, "weather": {"city": "Oslo"}},
            path=("agents", 0),
        )

    assert [str(problem) for problem in caught.value.problems] == [
        "agents[0].tool_config.http_get.allowed_hosts: required field is missing",
        "agents[0].tool_config.calculator: the 'calculator' tool takes no settings",
        "agents[0].tools[2]: tool 'calculator' is listed twice",
        "agents[0].tool_config.weather: settings for 'weather', which is not in tools",
    ]


@pytest.mark.usefixtures("installed_plugin")
async def test_an_entry_point_tool_object_is_used_as_is() -> None:
    (weather,) = resolve_tools(["weather"])

    assert weather.name == "weather"
    assert await weather.call({"city": "Oslo"}) == "sunny in Oslo"


@pytest.mark.usefixtures("installed_plugin")
async def test_an_entry_point_factory_gets_its_settings_and_a_sync_tool_runs_in_a_worker_thread() -> None:
    (greeter,) = resolve_tools(["greeter"], {"greeter": {"greeting": "hej"}})

    outcome = await execute_tool_call(ToolCall("c1", "greeter", '{"name": "Ada"}'), {"greeter": greeter})

    assert (outcome.result, outcome.error) == ("hej, Ada", False)
    caller_threads = sys.modules[PLUGIN_MODULE].CALLER_THREADS
    assert caller_threads and caller_threads[0] != threading.get_ident()


@pytest.mark.usefixtures("installed_plugin")
def test_entry_point_failures_are_config_problems() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_tools(["strict", "wrong", "constant", "broken"], {"strict": {}}, path=("agents", 1))

    messages = [str(problem) for problem in caught.value.problems]
    assert messages[0] == "agents[1].tool_config.strict: tool 'strict' rejected its settings: strict needs an api_base"
    assert messages[1] == f"agents[1].tools[1]: entry point '{PLUGIN_MODULE}:build_wrong' returned str, not a Tool"
    assert messages[2] == (
        f"agents[1].tools[2]: entry point '{PLUGIN_MODULE}:not_callable' is neither a Tool nor a factory returning one"
    )
    assert messages[3].startswith("agents[1].tools[3]: tool 'broken' from entry point 'acme_missing_module:thing'")
    assert "ModuleNotFoundError" in messages[3]


@pytest.mark.usefixtures("installed_plugin")
def test_an_unknown_tool_lists_installed_entry_points_too() -> None:
    with pytest.raises(ConfigError, match="known tools are broken, calculator, constant, current_time, greeter"):
        resolve_tools(["nope"])


@pytest.mark.usefixtures("installed_plugin")
async def test_a_plugin_cannot_replace_a_built_in() -> None:
    (calculator,) = resolve_tools(["calculator"])

    assert await calculator.call({"expression": "1 + 1"}) == "2"


@pytest.mark.usefixtures("installed_plugin")
def test_requires_confirmation_marks_a_tool_and_is_not_passed_to_its_factory() -> None:
    calculator, greeter, clock = resolve_tools(
        ["calculator", "greeter", "current_time"],
        {"calculator": {"requires_confirmation": True}, "greeter": {"requires_confirmation": True, "greeting": "hej"}},
    )

    assert (calculator.requires_confirmation, greeter.requires_confirmation) == (True, True)
    assert clock.requires_confirmation is False


def test_requires_confirmation_must_be_true_or_false() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_tools(["calculator"], {"calculator": {"requires_confirmation": "yes"}}, path=("agents", 0))

    assert [str(problem) for problem in caught.value.problems] == [
        "agents[0].tool_config.calculator.requires_confirmation: must be true or false"
    ]


def test_without_entry_points_an_installed_one_is_an_unknown_tool(installed_plugin: None) -> None:
    """``entry_points="none"``: the image holds the runtime only, whatever this process has installed."""
    resolve_tools(["weather"])  # installed here
    with pytest.raises(ConfigError) as caught:
        resolve_tools(["weather", "calculator"], path=("agents", 0), entry_points="none")

    assert [str(problem) for problem in caught.value.problems] == [
        "agents[0].tools[0]: unknown tool 'weather': known tools are calculator, current_time, http_get"
    ]


def test_unseen_entry_points_are_taken_unchecked_and_built_ins_still_checked() -> None:
    """``entry_points="unseen"``: another image's entry points; their settings are their own."""
    tools = resolve_tools(
        ["forecast", "calculator"], {"forecast": {"apiBase": "x"}}, path=("teams", 1), entry_points="unseen"
    )
    assert [tool.name for tool in tools] == ["calculator"]

    with pytest.raises(ConfigError) as caught:
        resolve_tools(
            ["forecast", "http_get", "forecast"],
            {"forecast": {"requires_confirmation": "yes"}},
            path=("teams", 1),
            entry_points="unseen",
        )
    assert [str(problem) for problem in caught.value.problems] == [
        "teams[1].tool_config.forecast.requires_confirmation: must be true or false",
        "teams[1].tool_config.http_get.allowed_hosts: required field is missing",
        "teams[1].tools[2]: tool 'forecast' is listed twice",
    ]


def test_the_settings_a_tool_takes_are_known_for_built_ins_and_mcp_entries_only() -> None:
    from agentos_runtime.tools.resolving import setting_names

    assert setting_names("http_get") == {"allowed_hosts", "timeout", "max_bytes", "requires_confirmation"}
    assert setting_names("calculator") == {"requires_confirmation"}
    assert setting_names("mcp:github") == {
        "include_tools",
        "exclude_tools",
        "tool_name_prefix",
        "requires_confirmation",
    }
    assert setting_names("weather") is None

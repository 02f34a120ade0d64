"""Building models and agents from the runtime config."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from agentos_runtime.config import ConfigError
from agentos_runtime.errors import ModelAuthenticationError
from agentos_runtime.llm.factory import build_models, close_models, prepare_models
from agentos_runtime.llm.openai import OpenAIChatModel
from agentos_runtime.runs import RunRegistry, RunRequest, build_agents, default_db_id
from agentos_runtime.storage.memory import InMemoryDatabase

from tests.runtime.engine.fakes import FakeChatModel, runtime_config, say
from tests.support.fake_openai import FakeOpenAIServer, Reply

DOCUMENT = {
    "models": [
        {"id": "main", "model": "gpt-test", "api_key_env": "TEAM_KEY"},
        {"id": "local", "model": "llama", "base_url": "http://127.0.0.1:9/v1", "api_key_env": None},
    ],
    "databases": [{"id": "sessions-db", "type": "sqlite"}, {"id": "memories-db", "type": "sqlite"}],
    "agents": [
        {"id": "helper", "tools": ["calculator"], "memory_db": "memories-db"},
        {"id": "local-helper", "model": "local", "db": "memories-db", "tool_call_limit": 2},
    ],
}


def databases() -> dict[str, InMemoryDatabase]:
    return {"sessions-db": InMemoryDatabase(id="sessions-db"), "memories-db": InMemoryDatabase(id="memories-db")}


def test_models_are_built_per_id() -> None:
    models = build_models(runtime_config(**DOCUMENT), {"TEAM_KEY": "sk-team"})

    assert set(models) == {"main", "local"}
    assert all(isinstance(model, OpenAIChatModel) for model in models.values())
    assert (models["main"].model, models["main"].name, models["main"].provider) == ("gpt-test", "OpenAIChat", "OpenAI")


def test_building_models_and_agents_does_not_import_the_openai_sdk() -> None:
    script = """
import asyncio
import subprocess
import sys
from agentos_runtime.config import parse_config
from agentos_runtime.llm.factory import build_models
from agentos_runtime.runs import RunRegistry, build_agents
from agentos_runtime.storage.memory import InMemoryDatabase
config = parse_config({"models": [{"id": "m"}], "agents": [{"id": "a", "tools": ["calculator", "http_get"],
    "tool_config": {"http_get": {"allowed_hosts": ["x.example"]}}}]})
build_agents(config, models=build_models(config, {}), databases={"db": InMemoryDatabase(id="db")},
    registry=RunRegistry())
print(sorted(m for m in ("openai", "httpx", "httpx2") if m in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "[]"


def test_a_model_request_goes_through_the_openai_sdk(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.say("answered"), Reply.say("streamed"))
    script = f"""
import asyncio
import sys
from agentos_runtime.config import parse_config
from agentos_runtime.llm.factory import build_models
config = parse_config({{"models": [{{"id": "m", "base_url": "{fake_openai.base_url}", "api_key_env": None}}]}})
model = build_models(config, {{}})["m"]
async def ask():
    print((await model.complete([{{"role": "user", "content": "hi"}}], None)).content)
    print([item async for item in model.stream([{{"role": "user", "content": "hi"}}], None)][0])
    await model.close()
asyncio.run(ask())
print("openai" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)

    assert result.stdout.split() == ["answered", "streamed", "True"]
    assert fake_openai.requests[0].headers["user-agent"].startswith("AsyncOpenAI/Python")


async def test_an_unset_key_variable_fails_the_models_first_request_naming_it() -> None:
    config = runtime_config(models=[{"id": "main", "api_key_env": "TEAM_KEY"}])
    models = build_models(config, {"TEAM_KEY": ""})

    with pytest.raises(ModelAuthenticationError, match="set the environment variable TEAM_KEY"):
        await models["main"].complete([{"role": "user", "content": "hi"}], None)
    await close_models(models)


async def test_a_built_model_answers_through_its_endpoint(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.say("built"))
    config = runtime_config(models=[{"id": "main", "base_url": fake_openai.base_url}])
    models = build_models(config, {"OPENAI_API_KEY": "sk-env"})

    completion = await models["main"].complete([{"role": "user", "content": "hi"}], None)

    assert completion.content == "built"
    assert fake_openai.requests[0].headers["authorization"] == "Bearer sk-env"
    await close_models(models)


def test_agents_get_their_model_database_memory_store_and_tools() -> None:
    config = runtime_config(**DOCUMENT)
    models = {"main": FakeChatModel(), "local": FakeChatModel()}
    opened = databases()

    agents = build_agents(config, models=models, databases=opened, registry=RunRegistry())

    helper, local = agents["helper"], agents["local-helper"]
    assert helper.model is models["main"] and local.model is models["local"]
    assert (helper.db_id, local.db_id) == ("sessions-db", "memories-db")
    assert helper.sessions is opened["sessions-db"].sessions
    assert helper.memories is opened["memories-db"].memories
    assert [tool.name for tool in helper.tools] == ["calculator"]
    assert local.config.tool_call_limit == 2


def test_the_default_database_follows_db_then_session_dbs_then_the_first_declared() -> None:
    opened = databases()

    assert default_db_id(runtime_config(**DOCUMENT), opened) == "sessions-db"
    assert default_db_id(runtime_config(**{**DOCUMENT, "db": "memories-db"}), opened) == "memories-db"
    with_page = {**DOCUMENT, "session": {"dbs": [{"db_id": "memories-db"}]}}
    assert default_db_id(runtime_config(**with_page), opened) == "memories-db"
    undeclared = {"models": DOCUMENT["models"], "agents": [{"id": "helper"}]}
    assert default_db_id(runtime_config(**undeclared), {"agentos": InMemoryDatabase(id="agentos")}) == "agentos"


async def test_agents_share_one_registry_so_any_run_can_be_cancelled() -> None:
    registry = RunRegistry()
    config = runtime_config(**DOCUMENT)
    model = FakeChatModel(say("never"))
    agents = build_agents(config, models={"main": model, "local": model}, databases=databases(), registry=registry)

    registry.cancel("r1")
    events = [e.event async for e in agents["helper"].run(RunRequest(message="hi", run_id="r1"))]

    assert events == ["RunStarted", "RunCancelled"]


def test_tool_problems_of_every_agent_are_reported_together_with_their_paths() -> None:
    document = {
        **DOCUMENT,
        "agents": [
            {"id": "helper", "tools": ["calculator", "web_search"]},
            {"id": "fetcher", "tools": ["http_get"], "tool_config": {"http_get": {"allowed_hosts": []}}},
        ],
    }

    with pytest.raises(ConfigError) as caught:
        build_agents(
            runtime_config(**document),
            models={"main": FakeChatModel(), "local": FakeChatModel()},
            databases=databases(),
            registry=RunRegistry(),
        )

    assert [str(p).split(":")[0] for p in caught.value.problems] == [
        "agents[0].tools[1]",
        "agents[1].tool_config.http_get.allowed_hosts",
    ]


def test_a_model_or_database_that_was_not_built_is_a_config_problem() -> None:
    with pytest.raises(ConfigError) as caught:
        build_agents(
            runtime_config(**DOCUMENT),
            models={"main": FakeChatModel()},
            databases={"sessions-db": InMemoryDatabase(id="sessions-db")},
            registry=RunRegistry(),
        )

    assert [str(p) for p in caught.value.problems] == [
        "agents[1].model: no model 'local' was built for this agent",
        "agents[1].db: database 'memories-db' is not open",
    ]


async def test_prepare_builds_the_client_in_a_worker_thread_once(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.say("prepared"))
    config = runtime_config(
        models=[{"id": "main", "base_url": fake_openai.base_url}, {"id": "unkeyed", "api_key_env": "UNSET_KEY"}]
    )
    models = build_models(config, {"OPENAI_API_KEY": "sk-env"})

    await asyncio.to_thread(prepare_models, models)

    main = models["main"]
    assert isinstance(main, OpenAIChatModel)
    client = main._client
    assert client is not None
    assert (await main.complete([{"role": "user", "content": "hi"}], None)).content == "prepared"
    assert main._client is client
    await close_models(models)

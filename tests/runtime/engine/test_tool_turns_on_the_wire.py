"""An assistant turn that only calls tools, as Agno stores it and sends it back to the model."""

from __future__ import annotations

from typing import Any

from agentos_runtime.config import AgentConfig
from agentos_runtime.config.llm import ModelConfig
from agentos_runtime.llm.openai import OpenAIChatModel
from agentos_runtime.runs import Agent, RunRequest
from agentos_runtime.storage.memory import InMemoryDatabase
from agentos_runtime.tools import Tool
from agno.agent import Agent as AgnoAgent
from agno.models.openai import OpenAIChat

from tests.support.fake_openai import FakeOpenAIServer, FakeToolCall, Reply

ADD_PARAMETERS = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"],
}


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def script(server: FakeOpenAIServer) -> None:
    server.script(Reply.call(FakeToolCall(id="call_1", name="add", arguments='{"a": 1, "b": 2}')), Reply.say("3"))


def assistant_turns(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in body["messages"] if m["role"] == "assistant"]


async def test_a_turn_that_only_calls_tools_is_stored_without_content_and_sent_back_with_an_empty_one_as_on_agno(
    fake_openai: FakeOpenAIServer,
) -> None:
    script(fake_openai)
    agno = AgnoAgent(model=OpenAIChat(id="gpt-test", api_key="unused", base_url=fake_openai.base_url), tools=[add])
    agno_output = await agno.arun("Add 1 and 2")
    (agno_sent,) = assistant_turns(fake_openai.bodies[1])

    script(fake_openai)
    model = OpenAIChatModel(ModelConfig(id="m", model="gpt-test", base_url=fake_openai.base_url), api_key="unused")
    agent = Agent(
        AgentConfig(id="a"),
        model=model,
        tools=[Tool("add", "Add two numbers.", ADD_PARAMETERS, add)],
        sessions=InMemoryDatabase(id="db").sessions,
    )
    output = await agent.complete(RunRequest(message="Add 1 and 2"))
    (sent,) = assistant_turns(fake_openai.bodies[3])
    await model.close()

    assert agno_sent["content"] == ""
    assert sent["content"] == agno_sent["content"]
    stored = [m for m in output["messages"] if m["role"] == "assistant"]
    agno_stored = [m.to_dict() for m in agno_output.messages or [] if m.role == "assistant"]
    assert [m.get("content") for m in stored] == [m.get("content") for m in agno_stored] == [None, "3"]

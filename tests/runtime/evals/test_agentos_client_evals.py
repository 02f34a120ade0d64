"""Agno's own ``AgentOSClient`` eval calls against the runtime under uvicorn, on every backend."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from agno.client import AgentOSClient
from agno.db.schemas.evals import EvalFilterType, EvalType
from agno.os.routers.evals.schemas import EvalSchema

from tests.runtime.api.agno_client import client_for, serve_for_agno
from tests.runtime.api.harness import agent_config
from tests.support.fake_openai import FakeOpenAIServer, FakeToolCall, Reply

KEY = "evals-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
async def client(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[AgentOSClient]:
    config = agent_config(fake_openai.base_url)
    async with serve_for_agno(backend, config, tmp_path, security_key=KEY) as running:
        yield client_for(running)


async def test_an_accuracy_eval_run_through_agnos_client_parses_with_the_judges_score(
    client: AgentOSClient, fake_openai: FakeOpenAIServer
) -> None:
    verdict = {"accuracy_score": 8, "accuracy_reason": "Right city, extra words."}
    fake_openai.script(Reply.say("The capital is Paris."), Reply.say(json.dumps(verdict)))

    run = await client.run_eval(
        EvalType.ACCURACY, "Capital of France?", agent_id="assistant", expected_output="Paris", headers=AUTH
    )

    assert isinstance(run, EvalSchema)
    assert (run.eval_type, run.agent_id, run.model_id, run.model_provider) == (
        EvalType.ACCURACY,
        "assistant",
        "fake-model",
        "OpenAI",
    )
    assert run.eval_data["avg_score"] == 8 and run.eval_data["passed"] is True
    assert run.eval_data["results"][0]["reason"] == "Right city, extra words."
    assert run.created_at is not None

    listed = await client.list_eval_runs(filter_type=EvalFilterType.AGENT, eval_types=[EvalType.ACCURACY], headers=AUTH)
    assert [item.id for item in listed.data] == [run.id] and listed.meta.total_count == 1
    fetched = await client.get_eval_run(run.id, headers=AUTH)
    assert fetched.eval_data == run.eval_data
    renamed = await client.update_eval_run(run.id, "Capitals", headers=AUTH)
    assert renamed.name == "Capitals"

    await client.delete_eval_runs([run.id], headers=AUTH)
    assert (await client.list_eval_runs(headers=AUTH)).data == []
    with pytest.raises(httpx.HTTPStatusError) as caught:
        await client.get_eval_run(run.id, headers=AUTH)
    assert caught.value.response.status_code == 404


async def test_a_performance_eval_run_through_agnos_client_parses(
    client: AgentOSClient, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.app.default = Reply.say("ok")

    run = await client.run_eval(EvalType.PERFORMANCE, "hi", agent_id="assistant", num_iterations=2, headers=AUTH)

    assert run is not None and run.eval_type == EvalType.PERFORMANCE
    assert len(run.eval_data["runs"]) == 2 and run.eval_data["result"]["avg_run_time"] > 0
    assert run.eval_input == {"num_iterations": 2, "warmup_runs": 0}


async def test_a_reliability_eval_run_through_agnos_client_parses(
    client: AgentOSClient, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.call(FakeToolCall("calculator", '{"expression": "6 * 7"}')), Reply.say("42"))

    run = await client.run_eval(
        EvalType.RELIABILITY,
        "What is 6 * 7?",
        agent_id="assistant",
        expected_tool_calls=["calculator"],
        expected_tool_call_arguments={"calculator": {"expression": "6 * 7"}},
        headers=AUTH,
    )

    assert run is not None and run.eval_type == EvalType.RELIABILITY
    assert (run.eval_data["eval_status"], run.eval_data["passed_tool_calls"]) == ("PASSED", ["calculator"])
    assert run.eval_data["passed_argument_checks"] == ["calculator"]
    listed = await client.list_eval_runs(eval_types=[EvalType.RELIABILITY], headers=AUTH)
    assert [item.id for item in listed.data] == [run.id]

"""A model's answer is input too: whatever the endpoint sends, the run ends, is stored and reads back, on every backend.

Before these checks, a NUL in an answer or an endpoint's error message lost the run on
PostgreSQL (it refuses NUL), a lone surrogate answered 500 on every backend, NaN in a tool's
arguments poisoned the metrics of every later refresh, a token count that was text failed the
run, and arguments nested 600 levels deep were stored and then answered 500 on every read of
the session.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.api.harness import Served, agent_config, parse_frames, serve_on
from tests.runtime.engine.model_servers import answering
from tests.support.fake_openai import FakeOpenAIServer, FakeToolCall, Reply

NUL, SURROGATE = "\x00", "\ud800"


@pytest.fixture
async def app(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    async with serve_on(backend, agent_config(fake_openai.base_url), tmp_path) as running:
        yield running


@pytest.fixture(params=[False, True], ids=["json", "streamed"])
def streamed(request: pytest.FixtureRequest) -> bool:
    value: bool = request.param
    return value


async def run(app: Served, session_id: str, *, streamed: bool) -> dict[str, Any]:
    """Run the agent once; the stored run as the sessions API reads it back."""
    form = {"message": "hi", "session_id": session_id, "stream": str(streamed).lower()}
    response = await app.client.post("/agents/assistant/runs", data=form)
    assert response.status_code == 200, response.text
    if streamed:
        assert parse_frames(response.text)[-1].event in {"RunCompleted", "RunError"}
    runs = await app.client.get(f"/sessions/{session_id}/runs")
    assert runs.status_code == 200, runs.text
    [stored] = runs.json()
    assert (await app.client.get(f"/sessions/{session_id}")).status_code == 200
    assert (await app.client.get("/sessions")).status_code == 200
    return dict(stored)


async def test_nul_and_lone_surrogates_in_the_answer_are_stored_replaced(
    app: Served, fake_openai: FakeOpenAIServer, streamed: bool
) -> None:
    fake_openai.script(Reply.say(f"a{NUL}b {SURROGATE} \U0001f600", chunks=3))

    stored = await run(app, "odd-text", streamed=streamed)

    assert (stored["status"], stored["content"]) == ("COMPLETED", "a\ufffdb \ufffd \U0001f600")


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        ('{"expression": "1+1\\u0000"}', "expression: Text may not contain a NUL character"),
        ('{"expression": "1+1\\ud800"}', "expression: Text may not contain a lone surrogate"),
        ('{"expression": NaN}', "expression: Numbers must be finite"),
        ('{"expression": 1e400}', "expression: Numbers must be finite"),
        ('{"expression": "1", "x": ' + "[" * 600 + "]" * 600 + "}", "JSON may be nested at most 64 levels deep"),
    ],
    ids=["nul", "surrogate", "nan", "infinity", "600-deep"],
)
async def test_tool_arguments_no_backend_can_store_are_an_error_the_model_reads(
    app: Served, fake_openai: FakeOpenAIServer, streamed: bool, arguments: str, words: str
) -> None:
    fake_openai.script(Reply.call(FakeToolCall("calculator", arguments)), Reply.say("sorry"))

    stored = await run(app, "odd-arguments", streamed=streamed)

    assert (stored["status"], stored["content"]) == ("COMPLETED", "sorry")
    [tool] = stored["tools"]
    assert tool["tool_call_error"] is True and tool["tool_args"] == {}
    assert tool["result"].startswith("Error: the arguments of calculator are not a valid JSON object: ")
    assert words in tool["result"]
    tool_message = fake_openai.bodies[-1]["messages"][-1]
    assert tool_message["role"] == "tool" and words in tool_message["content"]
    refresh = await app.client.post("/metrics/refresh")
    assert refresh.status_code == 200, refresh.text


@pytest.mark.parametrize(
    "usage",
    [
        '{"prompt_tokens": NaN, "completion_tokens": Infinity, "total_tokens": -5}',
        '{"prompt_tokens": "12", "completion_tokens": 100000000000000000000000000000, "total_tokens": [1]}',
        '{"prompt_tokens": 3, "completion_tokens": 2, "prompt_tokens_details": "none"}',
        '"not an object"',
    ],
    ids=["non-finite", "text-and-huge", "odd-details", "not-an-object"],
)
async def test_token_counts_that_cannot_be_trusted_are_not_counted_and_metrics_still_refresh(
    app: Served, fake_openai: FakeOpenAIServer, streamed: bool, usage: str
) -> None:
    fake_openai.script(Reply(text="done", usage_json=usage))

    stored = await run(app, "odd-usage", streamed=streamed)

    assert (stored["status"], stored["content"]) == ("COMPLETED", "done")
    counted = json.loads(usage)
    if isinstance(counted, dict) and counted.get("prompt_tokens") == 3:
        assert stored["metrics"]["input_tokens"] == 3 and stored["metrics"]["total_tokens"] == 5
    else:
        assert "input_tokens" not in stored["metrics"] and "total_tokens" not in stored["metrics"]
    refresh = await app.client.post("/metrics/refresh")
    assert refresh.status_code == 200, refresh.text


async def test_an_endpoints_error_message_with_nul_ends_a_stored_failed_run(
    app: Served, fake_openai: FakeOpenAIServer, streamed: bool
) -> None:
    fake_openai.script(Reply.fail(400, f"bad {NUL} request {SURROGATE}"))

    stored = await run(app, "odd-error", streamed=streamed)

    assert stored["status"] == "ERROR"
    assert "bad \ufffd request \ufffd" in stored["content"]


async def html_page(writer: asyncio.StreamWriter) -> None:
    page = b"<html><body>Welcome to nginx!</body></html>"
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: %d\r\n\r\n" % len(page) + page)
    await writer.drain()


async def test_an_endpoint_answering_a_web_page_ends_a_stored_failed_run_asking_about_base_url(
    backend: str, tmp_path: Path, streamed: bool
) -> None:
    async with answering(html_page) as base_url, serve_on(backend, agent_config(base_url), tmp_path) as app:
        stored = await run(app, "web-page", streamed=streamed)

    assert stored["status"] == "ERROR"
    assert stored["content"] == (
        "model 'fake': the endpoint answered with no completion chunks: is base_url an OpenAI-compatible endpoint?"
        if streamed
        else "model 'fake': the endpoint answered with a body that is not JSON: Expecting value: line 1 column 1 (char 0)"
    )

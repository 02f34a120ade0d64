"""Bodies over the limit are refused with 413 ``{"detail": ...}``, declared or streamed, whatever
their form: a run form's field may be as large as the whole body limit. A body that stops
coming is refused with 408."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from agentos_runtime.api.middleware import BodyLimit, LimitBodySize
from fastapi import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from tests.runtime.api.harness import BASIC_CONFIG, agent_config, serve
from tests.support.fake_openai import FakeOpenAIServer, Reply

LIMIT = 1000


async def test_a_declared_oversized_body_is_413_and_nothing_is_written(tmp_path: Path) -> None:
    async with serve(BASIC_CONFIG, data_dir=tmp_path, max_body_bytes=LIMIT) as running:
        body = {"session_id": "big", "session_state": {"blob": "x" * (LIMIT * 2)}}
        response = await running.client.post("/sessions", json=body)
        assert response.status_code == 413
        assert response.json() == {"detail": "Request body too large: at most 1000 bytes here (AGENTOS_MAX_BODY_BYTES)"}
        assert await running.database().sessions.get_session("big") is None


async def test_a_streamed_oversized_body_is_413(tmp_path: Path) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"session_id": "big", "session_state": {"blob": "'
        for _ in range(10):
            yield b"x" * 500
        yield b'"}}'

    async with serve(BASIC_CONFIG, data_dir=tmp_path, max_body_bytes=LIMIT) as running:
        response = await running.client.post(
            "/sessions", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413
        assert response.json() == {"detail": "Request body too large: at most 1000 bytes here (AGENTOS_MAX_BODY_BYTES)"}
        assert await running.database().sessions.get_session("big") is None


async def test_a_body_under_the_limit_is_accepted(tmp_path: Path) -> None:
    async with serve(BASIC_CONFIG, data_dir=tmp_path, max_body_bytes=LIMIT) as running:
        response = await running.client.post("/sessions", json={"session_id": "small"})
        assert response.status_code == 201


async def test_a_trailing_slash_on_a_post_is_tolerated(tmp_path: Path) -> None:
    async with serve(BASIC_CONFIG, data_dir=tmp_path) as running:
        response = await running.client.post("/sessions/", json={"session_id": "slashed"})
        assert response.status_code == 201


async def test_a_multipart_message_over_one_mib_is_run_and_one_over_the_limit_is_413(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    two_mib = "x" * (2 * 1024 * 1024)
    fake_openai.script(Reply.say("Long indeed."))
    async with serve(agent_config(fake_openai.base_url), data_dir=tmp_path, max_body_bytes=3 * 1024 * 1024) as running:
        accepted = await running.client.post(
            "/agents/assistant/runs", files={"message": (None, two_mib), "stream": (None, "false")}
        )
        refused = await running.client.post(
            "/agents/assistant/runs", files={"message": (None, two_mib * 2), "stream": (None, "false")}
        )

    assert accepted.status_code == 200 and accepted.json()["status"] == "COMPLETED"
    assert fake_openai.bodies[0]["messages"][-1]["content"] == two_mib
    assert refused.status_code == 413
    assert refused.json() == {"detail": "Request body too large: at most 3 MiB here (AGENTOS_MAX_BODY_BYTES)"}
    assert len(fake_openai.bodies) == 1


class HalfSentBody:
    """The ASGI ``receive`` of a client that sends part of its body, then nothing."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = list(chunks)

    async def __call__(self) -> dict[str, Any]:
        if self.chunks:
            return {"type": "http.request", "body": self.chunks.pop(0), "more_body": True}
        await asyncio.get_running_loop().create_future()  # the rest never comes
        raise AssertionError("unreachable")


async def body_reader(scope: Scope, receive: Receive, send: Send) -> None:
    """A route reading its whole body, as FastAPI's do."""
    try:
        await Request(scope, receive).body()
    except HTTPException as error:
        response = JSONResponse({"detail": error.detail}, status_code=error.status_code)
        await response(scope, receive, send)


async def test_a_body_whose_next_bytes_never_come_is_refused_with_408() -> None:
    limited = LimitBodySize(body_reader, default=BodyLimit(LIMIT, "AGENTOS_MAX_BODY_BYTES"), idle_seconds=0.05)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/sessions", "headers": []}
    await asyncio.wait_for(limited(scope, HalfSentBody(b'{"session_id": '), send), 5)

    assert sent[0]["status"] == 408
    assert json.loads(sent[1]["body"]) == {
        "detail": "Request body incomplete: no bytes came for 0.05s; send the whole body"
    }


async def test_once_the_body_is_in_waiting_for_the_client_has_no_deadline() -> None:
    seen: list[str] = []

    async def streaming_route(scope: Scope, receive: Receive, send: Send) -> None:
        await Request(scope, receive).body()
        seen.append((await receive())["type"])  # as a streamed answer waits for a disconnect

    messages = [{"type": "http.request", "body": b"{}", "more_body": False}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.sleep(0.2)  # longer than the idle limit: a client reading a long answer
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        return None

    limited = LimitBodySize(streaming_route, default=BodyLimit(LIMIT, "AGENTOS_MAX_BODY_BYTES"), idle_seconds=0.05)
    scope = {"type": "http", "method": "POST", "path": "/agents/a/runs", "headers": []}
    await asyncio.wait_for(limited(scope, receive, send), 5)

    assert seen == ["http.disconnect"]


TEAM_AND_WORKFLOW = """
os_id: limits-os
models:
  - id: fake
    model: fake-model
    base_url: http://127.0.0.1:9/v1
    api_key_env: null
agents:
  - id: assistant
teams:
  - id: crew
    members: [assistant]
workflows:
  - id: pipeline
    steps: [{name: first, agent: assistant}]
"""

FORM_ROUTES = [
    f"/{kind}/{component}/runs{action}"
    for kind, component in (("agents", "assistant"), ("teams", "crew"), ("workflows", "pipeline"))
    for action in ("", "/some-run/continue", "/some-run/resume")
]


@pytest.mark.parametrize("path", FORM_ROUTES)
async def test_every_run_form_route_refuses_a_field_past_the_body_limit_with_413(tmp_path: Path, path: str) -> None:
    async with serve(TEAM_AND_WORKFLOW, data_dir=tmp_path, max_body_bytes=LIMIT) as running:
        refused = await running.client.post(
            path, files={"session_id": (None, "s"), "tools": (None, "x" * (LIMIT * 2)), "stream": (None, "false")}
        )
        assert refused.status_code == 413, refused.text
        assert refused.json() == {"detail": "Request body too large: at most 1000 bytes here (AGENTOS_MAX_BODY_BYTES)"}
        assert await running.database().sessions.get_session("s") is None

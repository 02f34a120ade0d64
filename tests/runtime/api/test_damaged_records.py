"""A damaged stored session through the API, on every server backend: the listing answers the
others, a read of it answers 500 with a detail naming it, its database and what to do (never a
traceback), and a run on it ends with that message (a RunError when streamed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.runtime.api.harness import Served, agent_config, models_built, parse_frames, serve_on
from tests.support.damage import Damage
from tests.support.databases import SERVER_BACKENDS
from tests.support.fake_openai import FakeOpenAIServer, Reply


@pytest.fixture(params=SERVER_BACKENDS)
async def served(
    request: pytest.FixtureRequest, fake_openai: FakeOpenAIServer, tmp_path: Path
) -> AsyncIterator[tuple[Served, Damage]]:
    async with serve_on(request.param, agent_config(fake_openai.base_url), tmp_path) as served:
        await models_built(served)
        yield served, Damage(request.param, served.context.config.databases[0], tmp_path)


async def test_a_damaged_session_is_left_out_and_a_run_on_it_ends_saying_which(
    served: tuple[Served, Damage], fake_openai: FakeOpenAIServer
) -> None:
    app, damage = served
    fake_openai.app.default = Reply.say("hello")
    first = await app.client.post("/agents/assistant/runs", data={"message": "hi", "stream": "false"})
    text = await damage.session("wt")
    expected = "stored session 'wt' in database 'main-db' cannot be read ("

    listed = await app.client.get("/sessions")
    read = await app.client.get("/sessions/wt")
    plain = await app.client.post(
        "/agents/assistant/runs", data={"message": "again", "stream": "false", "session_id": "wt"}
    )
    streamed = await app.client.post("/agents/assistant/runs", data={"message": "again", "session_id": "wt"})

    assert listed.status_code == 200, listed.text
    assert [item["session_id"] for item in listed.json()["data"]] == [first.json()["session_id"]]
    for answer in (read, plain):
        assert answer.status_code == 500, answer.text
        detail = answer.json()["detail"]
        assert detail.startswith(expected) and detail.endswith("): delete it or restore it"), detail
        assert text not in detail and "Traceback" not in detail
    last = parse_frames(streamed.text)[-1]
    assert last.event == "RunError" and last.data["content"].startswith(expected), streamed.text
    assert last.data["error_type"] == "unreadable_record"
    assert (await app.client.delete("/sessions/wt")).status_code == 204
    assert (await app.client.get("/sessions/wt")).status_code == 404


async def test_a_resume_of_a_run_whose_stored_record_is_damaged_ends_with_an_error_frame(
    served: tuple[Served, Damage], fake_openai: FakeOpenAIServer
) -> None:
    # The stream was answered 200 before the stored run was read: the error escaped mid-stream
    # and the client got a cut connection ("incomplete chunked read").
    app, damage = served
    fake_openai.app.default = Reply.say("hello")
    first = (await app.client.post("/agents/assistant/runs", data={"message": "hi", "stream": "false"})).json()
    text = await damage.run(first["run_id"])

    resumed = await app.client.post(
        f"/agents/assistant/runs/{first['run_id']}/resume", data={"session_id": first["session_id"]}
    )

    assert resumed.status_code == 200
    [frame] = parse_frames(resumed.text)
    assert frame.event == "error" and frame.data["error"].startswith(f"stored session '{first['session_id']}'")
    assert text not in resumed.text

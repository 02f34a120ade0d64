"""Tool calls that wait for a person: a run pauses, is stored PAUSED, and goes on through
``POST /agents/{id}/runs/{run_id}/continue`` once each held call is confirmed or rejected, on
every storage backend, against the fake OpenAI server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from agentos_runtime.errors import StorageUnavailable

from tests.runtime.api.harness import Served, agent_config, parse_frames, serve_on, serve_replicas
from tests.support.fake_openai import FakeOpenAIServer, FakeToolCall, Reply

JSON = dict[str, Any]
ADD = FakeToolCall("calculator", '{"expression": "2 + 3"}', id="call_add")
CONFIRMING = {"calculator": {"requires_confirmation": True}}


@pytest.fixture
async def app(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    config = agent_config(
        fake_openai.base_url,
        tools=["calculator", "current_time"],
        tool_config=CONFIRMING,
        add_history_to_context=True,
    )
    async with serve_on(backend, config, tmp_path, over_sockets=True) as running:
        yield running


async def pause(app: Served, fake_openai: FakeOpenAIServer, *calls: FakeToolCall, session_id: str = "s1") -> JSON:
    """Run the agent with ``stream=false`` on a model answer calling ``calls``; the paused output."""
    fake_openai.script(Reply.call(*(calls or (ADD,))))
    response = await app.client.post(
        "/agents/assistant/runs", data={"message": "add 2 and 3", "stream": "false", "session_id": session_id}
    )
    assert response.status_code == 200
    output: JSON = response.json()
    assert output["status"] == "PAUSED"
    return output


async def go_on(app: Served, run: JSON, tools: list[JSON] | str, *, stream: bool = False, **form: str) -> Any:
    data = {
        "tools": tools if isinstance(tools, str) else json.dumps(tools),
        "session_id": run["session_id"],
        "stream": str(stream).lower(),
        **form,
    }
    return await app.client.post(f"/agents/assistant/runs/{run['run_id']}/continue", data=data)


def decided(run: JSON, confirmed: bool, **fields: Any) -> list[JSON]:
    """The run's tools sent back as Agno's client does, each held call decided."""
    return [
        {**tool, "confirmed": confirmed, **fields} if tool["requires_confirmation"] else tool for tool in run["tools"]
    ]


async def stored_runs(app: Served, session_id: str = "s1") -> list[JSON]:
    response = await app.client.get("/agents/assistant/runs", params={"session_id": session_id})
    runs: list[JSON] = response.json()
    return runs


async def test_the_agent_shows_which_tools_wait_for_a_confirmation_as_agno_does(app: Served) -> None:
    tools = (await app.client.get("/agents/assistant")).json()["tools"]["tools"]
    assert [(t["name"], t.get("requires_confirmation")) for t in tools] == [
        ("calculator", True),
        ("current_time", None),
    ]


async def test_a_call_needing_confirmation_pauses_the_run_without_calling_the_tool(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    paused = await pause(app, fake_openai)
    assert paused["content"] == "I have tools to execute, but I need confirmation."
    [tool] = paused["tools"]
    assert tool["tool_call_id"] == "call_add" and tool["tool_name"] == "calculator"
    assert tool["tool_args"] == {"expression": "2 + 3"}
    assert tool["requires_confirmation"] is True and tool["confirmed"] is None and tool["result"] is None
    assert [r["tool_execution"]["tool_call_id"] for r in paused["requirements"]] == ["call_add"]
    assert len(fake_openai.requests) == 1
    [stored] = await stored_runs(app)
    assert stored["run_id"] == paused["run_id"] and stored["status"] == "PAUSED"


async def test_a_confirmed_call_runs_and_the_model_answers_with_its_result(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    paused = await pause(app, fake_openai)
    fake_openai.script(Reply.say("2 + 3 is 5."))
    response = await go_on(app, paused, decided(paused, True))
    assert response.status_code == 200
    output = response.json()
    assert output["run_id"] == paused["run_id"] and output["status"] == "COMPLETED"
    assert output["content"] == "2 + 3 is 5."
    [tool] = output["tools"]
    assert tool["confirmed"] is True and tool["requires_confirmation"] is False and tool["result"] == "5"
    sent = fake_openai.bodies[-1]["messages"]
    assert sent[-1] == {"role": "tool", "content": "5", "tool_call_id": "call_add"}
    assert sent[-2]["tool_calls"][0]["id"] == "call_add" and sent[-3] == {"role": "user", "content": "add 2 and 3"}
    [stored] = await stored_runs(app)
    assert stored["status"] == "COMPLETED" and stored["content"] == "2 + 3 is 5."


async def test_a_rejected_call_is_not_made_and_the_model_reads_the_rejection(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    paused = await pause(app, fake_openai)
    fake_openai.script(Reply.say("Fine, I will not."))
    response = await go_on(app, paused, decided(paused, False, confirmation_note="Not today."), stream=True)
    frames = parse_frames(response.text)
    names = [frame.event for frame in frames]
    assert names[0] == "RunContinued" and names[-1] == "RunCompleted"
    assert "ToolCallStarted" not in names
    assert fake_openai.bodies[-1]["messages"][-1] == {
        "role": "tool",
        "content": "Not today.",
        "tool_call_id": "call_add",
    }
    [stored] = await stored_runs(app)
    [tool] = stored["tools"]
    assert tool["confirmed"] is False and tool["tool_call_error"] is True and tool["result"] is None
    assert tool["confirmation_note"] == "Not today."


async def test_a_rejection_without_a_note_reads_as_agnos(app: Served, fake_openai: FakeOpenAIServer) -> None:
    paused = await pause(app, fake_openai)
    fake_openai.script(Reply.say("ok"))
    assert (await go_on(app, paused, decided(paused, False))).json()["status"] == "COMPLETED"
    assert fake_openai.bodies[-1]["messages"][-1]["content"] == "Function call was rejected by the user"


async def test_a_streamed_run_ends_with_run_paused_and_the_held_call(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.call(ADD))
    response = await app.client.post("/agents/assistant/runs", data={"message": "add", "session_id": "s1"})
    frames = parse_frames(response.text)
    assert [f.event for f in frames][-2:] == ["RunContentCompleted", "RunPaused"]
    paused = frames[-1].data
    assert [(t["tool_call_id"], t["requires_confirmation"], t["confirmed"]) for t in paused["tools"]] == [
        ("call_add", True, None)
    ]
    assert paused["content"] == "I have tools to execute, but I need confirmation."


async def test_the_other_calls_of_the_answer_run_before_the_pause(app: Served, fake_openai: FakeOpenAIServer) -> None:
    clock = FakeToolCall("current_time", "{}", id="call_time")
    paused = await pause(app, fake_openai, clock, ADD)
    ran, held = paused["tools"]
    assert ran["tool_call_id"] == "call_time" and ran["result"] and ran["requires_confirmation"] is None
    assert held["tool_call_id"] == "call_add" and held["requires_confirmation"] is True
    fake_openai.script(Reply.say("done"))
    output = (await go_on(app, paused, decided(paused, True))).json()
    assert output["status"] == "COMPLETED" and [t["result"] for t in output["tools"]][1] == "5"
    tool_messages = [m for m in fake_openai.bodies[-1]["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_messages] == ["call_time", "call_add"]


async def test_a_run_pausing_again_is_stored_paused_again(app: Served, fake_openai: FakeOpenAIServer) -> None:
    paused = await pause(app, fake_openai)
    again = FakeToolCall("calculator", '{"expression": "5 * 2"}', id="call_double")
    fake_openai.script(Reply.call(again))
    output = (await go_on(app, paused, decided(paused, True))).json()
    assert output["status"] == "PAUSED" and output["run_id"] == paused["run_id"]
    assert [(t["tool_call_id"], t["confirmed"]) for t in output["tools"]] == [("call_add", True), ("call_double", None)]
    fake_openai.script(Reply.say("10"))
    final = (await go_on(app, output, decided(output, True))).json()
    assert final["status"] == "COMPLETED" and [t["result"] for t in final["tools"]] == ["5", "10"]


async def test_a_paused_run_is_not_replayed_as_history(app: Served, fake_openai: FakeOpenAIServer) -> None:
    await pause(app, fake_openai)
    fake_openai.script(Reply.say("hello"))
    await app.client.post("/agents/assistant/runs", data={"message": "next", "stream": "false", "session_id": "s1"})
    roles = [m["role"] for m in fake_openai.bodies[-1]["messages"]]
    assert roles == ["user"] and fake_openai.bodies[-1]["messages"][0]["content"] == "next"


async def test_continuing_goes_on_with_the_history_the_run_was_paused_with(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.say("I am here."))
    await app.client.post("/agents/assistant/runs", data={"message": "hello", "stream": "false", "session_id": "s1"})
    paused = await pause(app, fake_openai)
    fake_openai.script(Reply.say("5"))
    await go_on(app, paused, decided(paused, True))
    contents = [m["content"] for m in fake_openai.bodies[-1]["messages"]]
    assert contents[:3] == ["hello", "I am here.", "add 2 and 3"]
    stored = await stored_runs(app)
    assert not any(m.get("from_history") for m in stored[-1]["messages"])


@pytest.mark.parametrize(
    ("tools", "detail"),
    [
        ("{not json", "Invalid tools parameter: not valid JSON"),
        ('{"tool_call_id": "call_add"}', "expected a JSON list"),
        ("[]", "tool call call_add waits for a decision"),
        ('[{"tool_call_id": "call_other", "confirmed": true}]', "names tool_call_id call_other, which is no tool call"),
        ('[{"tool_call_id": "call_add", "confirmed": "yes"}]', "needs confirmed true or false"),
        (
            '[{"tool_call_id": "call_add", "confirmed": true}, {"tool_call_id": "call_add", "confirmed": false}]',
            "twice",
        ),
        ("[" * 100_000 + "]" * 100_000, "Invalid tools parameter"),
        ('[{"tool_call_id": "call_add", "confirmed": false, "confirmation_note": "a\\u0000b"}]', "NUL"),
        (
            '[{"tool_call_id": "call_add", "confirmed": false, "confirmation_note": "%s"}]' % ("n" * 10_001),
            "longer than",
        ),
        (
            json.dumps([{"tool_call_id": "call_add", "confirmed": False, "confirmation_note": "x" * 2_000_000}]),
            "longer than",
        ),
    ],
)
async def test_decisions_that_do_not_fit_the_paused_run_are_refused_and_nothing_runs(
    app: Served, fake_openai: FakeOpenAIServer, tools: str, detail: str
) -> None:
    paused = await pause(app, fake_openai)
    response = await go_on(app, paused, tools)
    assert response.status_code == 400 and detail in response.json()["detail"]
    assert len(fake_openai.requests) == 1
    [stored] = await stored_runs(app)
    assert stored["status"] == "PAUSED"


async def test_a_tools_field_over_the_form_parsers_1_mib_is_read_as_the_body_limit_allows(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    paused = await pause(app, fake_openai)
    fake_openai.script(Reply.say("5"))
    # Agno's client sends each tool back whole: fields the runtime does not read may be large.
    tools = decided(paused, True, result_preview="x" * 2_000_000)

    response = await go_on(app, paused, tools)

    assert response.status_code == 200 and response.json()["status"] == "COMPLETED"
    assert response.json()["content"] == "5"


async def test_a_confirmation_cannot_change_the_arguments_of_the_call(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    paused = await pause(app, fake_openai)
    changed = decided(paused, True, tool_args={"expression": "6 * 7"})
    response = await go_on(app, paused, changed)
    assert response.status_code == 400
    assert "the tool_args of tool call call_add differ from the model's" in response.json()["detail"]
    fake_openai.script(Reply.say("5"))
    same = decided(paused, True, tool_args={"expression": "2 + 3"})
    assert (await go_on(app, paused, same)).json()["tools"][0]["result"] == "5"


async def test_only_a_paused_run_of_the_agent_in_the_session_is_continued(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    paused = await pause(app, fake_openai)
    fake_openai.script(Reply.say("5"))
    tools = decided(paused, True)
    assert (await go_on(app, paused, tools)).status_code == 200
    again = await go_on(app, paused, tools)
    assert again.status_code == 409 and again.json() == {
        "detail": f"run '{paused['run_id']}' is COMPLETED: only a PAUSED run can be continued"
    }
    unknown = await go_on(app, {**paused, "run_id": "nope"}, tools)
    elsewhere = await go_on(app, {**paused, "session_id": "other"}, tools)
    assert unknown.status_code == elsewhere.status_code == 404
    assert unknown.json() == elsewhere.json() == {"detail": "Run not found"}
    no_session = await app.client.post(f"/agents/assistant/runs/{paused['run_id']}/continue", data={"tools": "[]"})
    assert no_session.status_code == 400 and "session_id is required" in no_session.json()["detail"]
    assert (await app.client.post("/agents/nope/runs/r/continue", data={"session_id": "s1"})).status_code == 404


async def test_options_of_agnos_route_this_runtime_does_not_act_on_are_refused(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    paused = await pause(app, fake_openai)
    for option in ({"background": "true"}, {"fork": "true"}, {"input": "and more"}, {"continue_from": "last_user"}):
        response = await go_on(app, paused, decided(paused, True), **option)
        assert response.status_code == 400 and f"Unsupported {next(iter(option))} parameter" in response.text


async def test_team_and_workflow_runs_are_not_continued(app: Served) -> None:
    # The app declares neither: an unknown team or workflow is 404 as on every route.
    assert (await app.client.post("/teams/crew/runs/r/continue")).json() == {"detail": "Team not found"}
    assert (await app.client.post("/workflows/flow/runs/r/continue")).json() == {"detail": "Workflow not found"}


async def test_a_background_run_that_pauses_is_stored_paused_and_continued(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.call(ADD))
    form = {"message": "add", "session_id": "s1", "stream": "false", "background": "true"}
    started = await app.client.post("/agents/assistant/runs", data=form)
    assert started.status_code == 202
    assert await app.context.runs.settle_background_runs(timeout=10.0)
    run_id = started.json()["run_id"]
    paused = (await app.client.get(f"/agents/assistant/runs/{run_id}", params={"session_id": "s1"})).json()
    assert paused["status"] == "PAUSED" and paused["tools"][0]["requires_confirmation"] is True
    fake_openai.script(Reply.say("5"))
    output = (await go_on(app, paused, decided(paused, True))).json()
    assert output["status"] == "COMPLETED" and output["tools"][0]["result"] == "5"


async def test_a_held_call_whose_id_the_model_used_before_in_the_run_is_decided_on_the_whole_tools_list(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    # Some OpenAI-compatible servers number calls per answer: a later answer reuses an earlier id.
    first = FakeToolCall("calculator", '{"expression": "2 + 3"}', id="call_1")
    again = FakeToolCall("calculator", '{"expression": "5 * 2"}', id="call_1")
    paused = await pause(app, fake_openai, first)
    fake_openai.script(Reply.call(again))
    twice = (await go_on(app, paused, decided(paused, True))).json()
    assert [(t["tool_call_id"], t["confirmed"]) for t in twice["tools"]] == [("call_1", True), ("call_1", None)]
    fake_openai.script(Reply.say("10"))
    rejected = [{**t, "confirmed": False} if t["requires_confirmation"] else t for t in twice["tools"]]
    response = await go_on(app, twice, rejected)
    assert response.status_code == 200, response.text
    final = response.json()
    assert final["status"] == "COMPLETED"
    assert [(t["confirmed"], t["result"]) for t in final["tools"]] == [(True, "5"), (False, None)]


def outcome(answer: Any) -> str:
    """How a continue ended: ``went on``, or ``refused`` (409, or, once streaming, a run_conflict RunError)."""
    if answer.status_code == 409:
        return "refused"
    assert answer.status_code == 200
    if answer.headers["content-type"].startswith("application/json"):
        assert answer.json()["status"] == "COMPLETED"
        return "went on"
    last = parse_frames(answer.text)[-1]
    if last.event == "RunError":
        assert last.data["error_type"] == "run_conflict"
        return "refused"
    assert last.event == "RunCompleted"
    return "went on"


@pytest.mark.parametrize("stream", [False, True])
async def test_a_paused_run_continued_on_two_replicas_at_once_goes_on_once(
    backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path, stream: bool
) -> None:
    config = agent_config(fake_openai.base_url, tools=["calculator"], tool_config=CONFIRMING)
    async with serve_replicas(backend, config, tmp_path, count=2) as replicas:
        paused = await pause(replicas[0], fake_openai)
        fake_openai.script(Reply.say("2 + 3 is 5."))

        answers = await asyncio.gather(
            *(go_on(replica, paused, decided(paused, True), stream=stream) for replica in replicas)
        )

        assert sorted(outcome(answer) for answer in answers) == ["refused", "went on"]
        assert len(fake_openai.requests) == 2  # the pause, then the one run that went on
        [stored] = await stored_runs(replicas[1])
        assert stored["status"] == "COMPLETED" and stored["content"] == "2 + 3 is 5."
        assert [tool["result"] for tool in stored["tools"]] == ["5"]


async def test_a_continued_run_whose_final_save_failed_is_stored_later_not_left_running(
    app: Served, fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    paused = await pause(app, fake_openai)
    sessions = app.context.agents["assistant"].sessions
    assert sessions is not None
    save_run = sessions.save_run
    refusals = iter(range(1))  # the final save finds the database away; its retry does not

    async def flaky_save_run(*args: Any, **kwargs: Any) -> Any:
        if next(refusals, None) is not None:
            raise StorageUnavailable("database 'main-db' is away for a moment")
        return await save_run(*args, **kwargs)

    monkeypatch.setattr(sessions, "save_run", flaky_save_run)
    app.context.runs.save_retry_delays = (0.0,)
    fake_openai.script(Reply.say("2 + 3 is 5."))

    response = await go_on(app, paused, decided(paused, True))
    assert response.status_code == 503
    assert await app.context.runs.shutdown(timeout=10.0)

    [stored] = await stored_runs(app)
    assert (stored["status"], stored["content"]) == ("COMPLETED", "2 + 3 is 5.")


async def test_a_continued_run_answers_with_what_the_model_said_once_it_went_on_as_agno_does(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.call(ADD, text="Let me add those."))
    response = await app.client.post(
        "/agents/assistant/runs", data={"message": "add 2 and 3", "stream": "false", "session_id": "s1"}
    )
    paused = response.json()
    assert paused["status"] == "PAUSED"
    fake_openai.script(Reply.say("2 + 3 is 5."))

    output = (await go_on(app, paused, decided(paused, True))).json()

    assert output["content"] == "2 + 3 is 5."
    assert [m["content"] for m in output["messages"] if m["role"] == "assistant"][0] == "Let me add those."


async def test_a_resume_after_a_continue_replays_the_run_as_it_goes_on_not_its_pause(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    # The streamed background start left its log ended PAUSED; a resume replayed that pause for
    # minutes, while the continued run was going on or already COMPLETED.
    fake_openai.script(Reply.call(ADD), Reply.say("5"))
    started = await app.client.post(
        "/agents/assistant/runs",
        data={"message": "add 2 and 3", "session_id": "s1", "background": "true", "stream": "true"},
    )
    paused_event = parse_frames(started.text)[-1]
    assert paused_event.event == "RunPaused", started.text
    run_id = paused_event.data["run_id"]
    [paused] = [run for run in await stored_runs(app) if run["run_id"] == run_id]

    answer = await go_on(app, {**paused, "session_id": "s1"}, decided(paused, True))
    assert answer.status_code == 200 and answer.json()["status"] == "COMPLETED", answer.text
    resumed = await app.client.post(f"/agents/assistant/runs/{run_id}/resume", data={"session_id": "s1"})

    frames = parse_frames(resumed.text)
    assert (frames[0].event, frames[0].data["status"]) == ("replay", "COMPLETED"), resumed.text
    assert frames[-1].event == "RunCompleted"

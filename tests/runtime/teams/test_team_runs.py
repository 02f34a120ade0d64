"""Team runs over HTTP, on every storage backend, with the local OpenAI-compatible server
scripting the leader's choices (which member it delegates to, and its answer).

Streams are read frame by frame as a client reads them; stored runs are read back through
``/sessions`` and ``/teams/{id}/runs``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.runtime.api.harness import Frame, Served, read_frames, serve_on, stream_frames
from tests.runtime.teams.configs import LEADER_MODEL, MEMBER_MODEL, delegate, team_config
from tests.support.fake_openai import FakeOpenAIServer, Reply


@pytest.fixture
async def app(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    async with serve_on(backend, team_config(fake_openai.base_url), tmp_path, over_sockets=True) as running:
        yield running


async def stream_run(app: Served, team_id: str, form: dict[str, str]) -> list[Frame]:
    return await stream_frames(app, f"/teams/{team_id}/runs", form)


async def test_coordinate_leader_delegates_to_the_member_it_names_then_answers_from_its_reply(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(
        Reply.call(delegate("weather", "What is the weather in Paris?")),
        Reply.say("Sunny and 21C", chunks=2),
        Reply.say("Paris is sunny today.", chunks=3),
    )
    frames = await stream_run(app, "crew", {"message": "Weather in Paris?", "session_id": "t-1"})

    names = [frame.event for frame in frames]
    assert names[0] == "TeamRunStarted" and names[-1] == "TeamRunCompleted"
    team_run_id = frames[0].data["run_id"]
    started, completed = names.index("TeamToolCallStarted"), names.index("TeamToolCallCompleted")
    member = frames[started + 1 : completed]
    assert [f.event for f in member][0] == "RunStarted" and [f.event for f in member][-1] == "RunCompleted"
    assert {(f.data["agent_id"], f.data["parent_run_id"], f.data["session_id"]) for f in member} == {
        ("weather", team_run_id, "t-1")
    }
    assert "".join(f.data["content"] for f in member if f.event == "RunContent") == "Sunny and 21C"
    tool = frames[completed].data["tool"]
    assert tool["tool_name"] == "delegate_task_to_member"
    assert tool["tool_args"] == {"member_id": "weather", "task": "What is the weather in Paris?"}
    assert tool["result"] == "Sunny and 21C" and tool["tool_call_error"] is False
    assert tool["child_run_id"] == member[0].data["run_id"]
    own = [f for f in frames if f not in member]
    assert all((f.data["team_id"], f.data["team_name"], f.data["run_id"]) == ("crew", "Crew", team_run_id) for f in own)
    content = "".join(f.data["content"] for f in own if f.event == "TeamRunContent")
    assert content == "Paris is sunny today." == frames[-1].data["content"]

    first, asked, second = fake_openai.bodies
    assert (first["model"], asked["model"], second["model"]) == (LEADER_MODEL, MEMBER_MODEL, LEADER_MODEL)
    assert [tool["function"]["name"] for tool in first["tools"]] == ["delegate_task_to_member"]
    roster = first["messages"][0]["content"]
    assert '<member id="weather" name="Weather">' in roster and "Role: Knows the weather" in roster
    assert '<member id="poet" name="Poet">' in roster
    assert first["messages"][-1] == {"role": "user", "content": "Weather in Paris?"}
    assert asked["messages"][-1] == {"role": "user", "content": "What is the weather in Paris?"}
    assert second["messages"][-1] == {"role": "tool", "content": "Sunny and 21C", "tool_call_id": "call_1"}


async def test_route_returns_the_chosen_members_answer_without_asking_the_leader_again(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.call(delegate("poet", "A haiku about rain")), Reply.say("Rain taps the window"))
    response = await app.client.post("/teams/desk/runs", data={"message": "A rain haiku", "stream": "false"})

    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    output = response.json()
    assert (output["team_id"], output["team_name"], output["status"]) == ("desk", "Desk", "COMPLETED")
    assert output["content"] == "Rain taps the window"
    assert [body["model"] for body in fake_openai.bodies] == [LEADER_MODEL, MEMBER_MODEL]
    assert not any(body.get("stream") for body in fake_openai.bodies)
    [poet] = output["member_responses"]
    assert (poet["agent_id"], poet["parent_run_id"], poet["content"]) == (
        "poet",
        output["run_id"],
        "Rain taps the window",
    )
    assert output["tools"][0]["child_run_id"] == poet["run_id"]


async def test_route_streams_the_members_answer_as_team_content_and_no_member_events(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.call(delegate("weather", "Forecast for Oslo")), Reply.say("Snow tonight"))
    frames = await stream_run(app, "desk", {"message": "Oslo?"})

    assert [f.event for f in frames] == [
        "TeamRunStarted",
        "TeamModelRequestStarted",
        "TeamModelRequestCompleted",
        "TeamToolCallStarted",
        "TeamToolCallCompleted",
        "TeamRunContent",
        "TeamRunContentCompleted",
        "TeamRunCompleted",
    ]
    assert frames[5].data["content"] == "Snow tonight" == frames[-1].data["content"]
    assert not fake_openai.bodies[1].get("stream"), "a member whose events are not shown is not streamed"


async def test_broadcast_puts_the_message_to_every_member_and_the_leader_writes_the_answer(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.say("Answer one"), Reply.say("Answer two"), Reply.say("Both agree."))
    response = await app.client.post("/teams/panel/runs", data={"message": "Is it raining?", "stream": "false"})

    output = response.json()
    members, leader = fake_openai.bodies[:2], fake_openai.bodies[2]
    assert [body["model"] for body in members] == [MEMBER_MODEL, MEMBER_MODEL] and leader["model"] == LEADER_MODEL
    assert all(body["messages"][-1] == {"role": "user", "content": "Is it raining?"} for body in members)
    assert "tools" not in leader, "the leader only writes the answer"
    call, result = leader["messages"][-2:]
    assert call["tool_calls"][0]["function"]["name"] == "delegate_task_to_members"
    assert result["role"] == "tool" and "Answer one" in result["content"] and "Answer two" in result["content"]
    assert output["content"] == "Both agree." and output["status"] == "COMPLETED"
    assert [m["agent_id"] for m in output["member_responses"]] == ["weather", "poet"]
    assert {m["content"] for m in output["member_responses"]} == {"Answer one", "Answer two"}
    assert output["tools"][0]["tool_name"] == "delegate_task_to_members"
    assert output["tools"][0]["tool_args"] == {"task": "Is it raining?"}


async def test_a_team_of_teams_runs_the_member_team_nested_with_its_own_members(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(
        Reply.call(delegate("crew", "Ask about Rome")),
        Reply.call(delegate("weather", "Weather in Rome?")),
        Reply.say("Warm"),
        Reply.say("Rome is warm"),
        Reply.say("The crew says Rome is warm."),
    )
    response = await app.client.post("/teams/board/runs", data={"message": "Rome?", "stream": "false"})

    output = response.json()
    assert output["content"] == "The crew says Rome is warm."
    [crew] = output["member_responses"]
    assert (crew["team_id"], crew["parent_run_id"], crew["content"]) == ("crew", output["run_id"], "Rome is warm")
    [weather] = crew["member_responses"]
    assert (weather["agent_id"], weather["parent_run_id"], weather["content"]) == ("weather", crew["run_id"], "Warm")
    roster = fake_openai.bodies[0]["messages"][0]["content"]
    assert '<member id="crew" name="Crew" type="team">' in roster


async def test_a_team_run_is_stored_in_a_team_session_and_read_back(app: Served, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(
        Reply.call(delegate("poet", "Two words on autumn")), Reply.say("Golden leaves"), Reply.say("Done.")
    )
    form = {"message": "Autumn please", "stream": "false", "session_id": "t-s", "user_id": "ana"}
    run_id = (await app.client.post("/teams/crew/runs", data=form)).json()["run_id"]

    listed = (await app.client.get("/sessions", params={"type": "team"})).json()["data"]
    assert [(s["session_id"], s["session_type"], s["team_id"], s["user_id"]) for s in listed] == [
        ("t-s", "team", "crew", "ana")
    ]
    assert (await app.client.get("/sessions", params={"type": "agent"})).json()["data"] == []
    session = (await app.client.get("/sessions/t-s")).json()
    assert session["team_id"] == "crew" and session["session_name"] == "Autumn please"
    assert session["team_data"]["name"] == "Crew" and session["team_data"]["model"]["id"] == LEADER_MODEL
    assert [m["content"] for m in session["chat_history"] if m["role"] == "user"] == ["Autumn please"]

    runs = (await app.client.get("/teams/crew/runs", params={"session_id": "t-s"})).json()
    assert [(r["run_id"], r["team_id"], r["run_input"], r["content"]) for r in runs] == [
        (run_id, "crew", "Autumn please", "Done.")
    ]
    stored = (await app.client.get(f"/teams/crew/runs/{run_id}", params={"session_id": "t-s"})).json()
    assert stored["status"] == "COMPLETED" and stored["member_responses"][0]["content"] == "Golden leaves"
    assert [e["event"] for e in stored["events"]][0] == "TeamRunStarted"
    assert "TeamRunContent" not in {e["event"] for e in stored["events"]}
    assert (await app.client.get("/sessions/t-s/runs")).json()[0]["team_id"] == "crew"
    other_team = await app.client.get("/teams/desk/runs", params={"session_id": "t-s"})
    assert other_team.status_code == 404 and other_team.json() == {"detail": "Session not found"}


async def test_a_teams_second_run_in_a_session_replays_the_first_as_history(
    backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    config = team_config(fake_openai.base_url, add_history_to_context=True)
    async with serve_on(backend, config, tmp_path) as app:
        fake_openai.script(Reply.say("Hello Ana."), Reply.say("You are Ana."))
        for message in ("I am Ana", "Who am I?"):
            form = {"message": message, "stream": "false", "session_id": "h-1"}
            assert (await app.client.post("/teams/crew/runs", data=form)).status_code == 200
    second = fake_openai.bodies[1]["messages"]
    assert [(m["role"], m["content"]) for m in second[1:]] == [
        ("user", "I am Ana"),
        ("assistant", "Hello Ana."),
        ("user", "Who am I?"),
    ]


async def test_a_leader_naming_an_unknown_member_reads_an_error_and_answers_anyway(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.call(delegate("chef", "Cook")), Reply.say("No chef here."))
    output = (await app.client.post("/teams/crew/runs", data={"message": "Cook", "stream": "false"})).json()

    assert output["content"] == "No chef here." and output["member_responses"] == []
    assert output["tools"][0]["tool_call_error"] is True
    result = fake_openai.bodies[1]["messages"][-1]["content"]
    assert "no member with id 'chef'" in result and "weather, poet" in result
    assert [body["model"] for body in fake_openai.bodies] == [LEADER_MODEL, LEADER_MODEL]


async def test_a_leader_model_failure_ends_the_stream_with_team_run_error_and_is_stored(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.fail(400, "The prompt is malformed", code="bad_prompt"))
    frames = await stream_run(app, "crew", {"message": "hi", "session_id": "t-err"})

    assert [f.event for f in frames] == ["TeamRunStarted", "TeamModelRequestStarted", "TeamRunError"]
    error = frames[-1].data
    assert error["error_type"] == "model_provider_error" and "The prompt is malformed" in error["content"]
    stored = (await app.client.get("/teams/crew/runs", params={"session_id": "t-err"})).json()
    assert [run["status"] for run in stored] == ["ERROR"]


async def test_a_member_failure_is_the_tool_result_the_leader_reads(app: Served, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(
        Reply.call(delegate("weather", "Forecast")),
        Reply.fail(400, "Member prompt rejected"),
        Reply.say("The weather member failed."),
    )
    output = (await app.client.post("/teams/crew/runs", data={"message": "Forecast?", "stream": "false"})).json()

    assert output["status"] == "COMPLETED" and output["content"] == "The weather member failed."
    assert output["member_responses"][0]["status"] == "ERROR"
    assert output["tools"][0]["tool_call_error"] is True
    assert "Member prompt rejected" in fake_openai.bodies[2]["messages"][-1]["content"]


async def test_an_unknown_team_is_404_on_every_team_route(app: Served) -> None:
    responses = [
        await app.client.get("/teams/nope"),
        await app.client.post("/teams/nope/runs", data={"message": "hi"}),
        await app.client.post("/teams/nope/runs/r-1/cancel"),
        await app.client.get("/teams/nope/runs", params={"session_id": "s"}),
        await app.client.get("/teams/nope/runs/r-1", params={"session_id": "s"}),
    ]
    for response in responses:
        assert response.status_code == 404 and response.json() == {"detail": "Team not found"}


async def test_a_run_without_a_message_is_422_and_bad_state_is_400(app: Served) -> None:
    missing = await app.client.post("/teams/crew/runs", data={"stream": "false"})
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "message"]
    bad = await app.client.post("/teams/crew/runs", data={"message": "hi", "session_state": "{nope"})
    assert bad.status_code == 400 and "session_state" in bad.json()["detail"]


async def test_teams_are_listed_with_members_mode_and_delegation_tool(app: Served) -> None:
    teams = (await app.client.get("/teams")).json()
    assert [(t["id"], t["mode"]) for t in teams] == [
        ("crew", "coordinate"),
        ("desk", "route"),
        ("panel", "broadcast"),
        ("board", "coordinate"),
    ]
    crew = (await app.client.get("/teams/crew")).json()
    assert [m["id"] for m in crew["members"]] == ["weather", "poet"]
    assert crew["streaming"] == {"stream_member_events": True}
    assert crew["tools"]["tools"][0]["name"] == "delegate_task_to_member"
    assert teams[2]["tools"]["tools"][0]["name"] == "delegate_task_to_members"
    assert crew["sessions"] == {"session_table": "agno_sessions"}
    board = (await app.client.get("/teams/board")).json()
    assert board["members"][0]["id"] == "crew" and board["members"][0]["mode"] == "coordinate"


async def test_a_teams_view_shows_its_history_memory_and_prompt_settings_that_differ_from_agnos_defaults(
    backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    settings = {
        "instructions": ["Delegate weather questions."],
        "expected_output": "One sentence.",
        "markdown": True,
        "add_name_to_context": True,  # an agent's setting Agno's team view does not show
        "add_history_to_context": True,
        "num_history_runs": 5,
        "enable_user_memories": True,
    }
    async with serve_on(backend, team_config(fake_openai.base_url, **settings), tmp_path) as app:
        crew = (await app.client.get("/teams/crew")).json()
        desk = (await app.client.get("/teams/desk")).json()

    assert crew["system_message"] == {
        "instructions": ["Delegate weather questions."],
        "expected_output": "One sentence.",
        "markdown": True,
    }
    assert crew["sessions"] == {"session_table": "agno_sessions", "add_history_to_context": True, "num_history_runs": 5}
    assert crew["memory"] == {"update_memory_on_run": True, "memory_table": "agno_memories"}
    assert "system_message" not in desk and "memory" not in desk
    assert desk["sessions"] == {"session_table": "agno_sessions"}


async def test_config_lists_teams_with_mode_and_models_include_the_leaders(app: Served) -> None:
    config = (await app.client.get("/config")).json()
    assert [(t["id"], t["mode"]) for t in config["teams"]][:3] == [
        ("crew", "coordinate"),
        ("desk", "route"),
        ("panel", "broadcast"),
    ]
    assert config["teams"][0]["model"] == {"id": LEADER_MODEL, "provider": "OpenAI"}
    models = (await app.client.get("/models")).json()
    assert {"id": LEADER_MODEL, "provider": "OpenAI"} in models
    assert {"id": MEMBER_MODEL, "provider": "OpenAI"} in models


async def test_cancel_route_stops_a_streaming_team_run_and_the_run_is_stored_cancelled(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(
        Reply.call(delegate("weather", "Slow forecast")), Reply.say("one two three four", chunks=4, delay=0.5)
    )
    frames: list[Frame] = []
    form = {"message": "Forecast", "session_id": "t-c"}
    async with app.client.stream("POST", "/teams/crew/runs", data=form) as response:
        async for frame in read_frames(response):
            frames.append(frame)
            if frame.event == "RunContent" and len([f for f in frames if f.event == "RunContent"]) == 1:
                cancel = await app.client.post(f"/teams/crew/runs/{frames[0].data['run_id']}/cancel")
                assert cancel.status_code == 200 and cancel.json() == {}

    assert frames[-1].event == "TeamRunCancelled"
    assert "RunCompleted" not in {f.event for f in frames}
    assert len(fake_openai.bodies) == 2, "the leader is not asked again after the cancel"
    stored = (await app.client.get("/teams/crew/runs", params={"session_id": "t-c"})).json()
    assert [run["status"] for run in stored] == ["CANCELLED"]


async def test_cancelling_every_run_at_once_as_a_shutdown_does_ends_a_team_stream_with_team_run_cancelled(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(
        Reply.call(delegate("weather", "Slow forecast")), Reply.say("one two three four", chunks=4, delay=0.5)
    )
    frames: list[Frame] = []
    async with app.client.stream("POST", "/teams/crew/runs", data={"message": "Forecast", "session_id": "t-all"}) as r:
        async for frame in read_frames(r):
            frames.append(frame)
            if frame.event == "RunContent" and sum(f.event == "RunContent" for f in frames) == 1:
                assert app.context.runs.cancel_all() == 2, "the team run and its member's run"

    assert frames[-1].event == "TeamRunCancelled"
    stored = (await app.client.get("/teams/crew/runs", params={"session_id": "t-all"})).json()
    assert [run["status"] for run in stored] == ["CANCELLED"]


async def test_a_team_that_does_not_say_streams_its_members_events_as_agnos_teams_do(
    backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    config = team_config(fake_openai.base_url).replace("  stream_member_events: true\n", "")
    assert "stream_member_events: true" not in config
    async with serve_on(backend, config, tmp_path) as served:
        fake_openai.script(Reply.call(delegate("weather", "Forecast for Oslo")), Reply.say("Snow"), Reply.say("Snow."))
        frames = await stream_run(served, "crew", {"message": "Oslo?"})

    members = [f for f in frames if f.event == "RunStarted"]
    assert [(f.data["agent_id"], f.data["parent_run_id"]) for f in members] == [("weather", frames[0].data["run_id"])]
    assert frames[-1].event == "TeamRunCompleted"

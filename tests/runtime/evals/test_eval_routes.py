"""``/eval-runs`` on every storage backend: evaluations run against the scripted fake model.

The judge is the fake model too: its scripted verdicts are the scores asserted.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from agentos_runtime.storage.ports import EvalRow

from tests.runtime.api.harness import CONFIRMED, Served, agent_config, serve_on
from tests.runtime.teams.configs import LEADER_MODEL, delegate, team_config
from tests.support.fake_openai import FakeOpenAIServer, FakeToolCall, Reply


def config(base_url: str) -> str:
    models = [
        {"id": model_id, "model": name, "base_url": base_url, "api_key_env": None, "max_retries": 0}
        for model_id, name in (("fake", "fake-model"), ("other", "other-model"))
    ]
    agents = [{"id": "assistant", "name": "Assistant", "model": "fake", "tools": ["calculator"]}]
    return yaml.safe_dump({"os_id": "evals-os", "models": models, "agents": agents})


@pytest.fixture
async def app(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    async with serve_on(backend, config(fake_openai.base_url), tmp_path) as running:
        yield running


def verdict(score: int, reason: str = "Close enough.") -> Reply:
    return Reply.say(json.dumps({"accuracy_score": score, "accuracy_reason": reason}))


def accuracy(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "agent_id": "assistant",
        "eval_type": "accuracy",
        "input": "What is the capital of France?",
        "expected_output": "Paris",
    }
    body.update(fields)
    return body


async def test_an_accuracy_eval_stores_the_judges_score_and_lists_it(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.say("It is Paris."), verdict(9, "Matches the expected answer."))

    response = await app.client.post("/eval-runs", json=accuracy(name="capitals"))

    assert response.status_code == 200, response.text
    run = response.json()
    assert (run["eval_type"], run["name"], run["agent_id"], run["team_id"]) == (
        "accuracy",
        "capitals",
        "assistant",
        None,
    )
    assert (run["model_id"], run["model_provider"], run["evaluated_component_name"]) == (
        "fake-model",
        "OpenAI",
        "Assistant",
    )
    data = run["eval_data"]
    assert data["results"] == [
        {
            "input": "What is the capital of France?",
            "output": "It is Paris.",
            "expected_output": "Paris",
            "score": 9,
            "reason": "Matches the expected answer.",
        }
    ]
    assert (data["avg_score"], data["min_score"], data["max_score"], data["std_dev_score"]) == (9, 9, 9, 0)
    assert (data["threshold"], data["passed"], data["run_id"]) == (7, True, run["id"])
    assert run["eval_input"]["expected_output"] == "Paris" and run["eval_input"]["num_iterations"] == 1
    judge = fake_openai.bodies[1]["messages"]
    assert judge[0]["role"] == "system" and "accuracy_score" in judge[0]["content"]
    assert "<expected_output>\nParis\n</expected_output>" in judge[1]["content"]
    assert "<agent_output>\nIt is Paris.\n</agent_output>" in judge[1]["content"]

    listed = (await app.client.get("/eval-runs")).json()
    assert [item["id"] for item in listed["data"]] == [run["id"]] and listed["meta"]["total_count"] == 1
    assert (await app.client.get(f"/eval-runs/{run['id']}")).json() == run
    session = await app.database().sessions.get_session(f"eval_{run['id']}_1")
    assert session is not None and session.runs is not None and session.runs[0]["content"] == "It is Paris."


async def test_an_average_below_the_threshold_does_not_pass(app: Served, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.say("Lyon"), verdict(2), Reply.say("Paris?"), verdict(6))

    run = (await app.client.post("/eval-runs", json=accuracy(num_iterations=2, threshold=5))).json()

    data = run["eval_data"]
    assert [result["score"] for result in data["results"]] == [2, 6]
    assert (data["avg_score"], data["min_score"], data["max_score"], data["passed"]) == (4, 2, 6, False)
    assert data["std_dev_score"] == pytest.approx(2.828, abs=1e-3)


async def test_a_judge_without_a_valid_score_fails_the_eval_with_502_and_stores_nothing(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.say("Paris"), Reply.say("I would say it is quite good"))

    response = await app.client.post("/eval-runs", json=accuracy())

    assert response.status_code == 502
    assert response.json()["detail"].startswith("the judge's answer is not a score from 1 to 10")
    assert (await app.client.get("/eval-runs")).json()["data"] == []


async def test_a_judges_reason_with_an_escaped_nul_or_lone_surrogate_is_stored_cleaned(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    # The escapes are in the JSON the judge writes: they decode only when the verdict is read.
    judged = Reply.say('{"accuracy_score": 8, "accuracy_reason": "close\\u0000 but \\ud800 odd"}')
    fake_openai.script(Reply.say("Paris"), judged)

    response = await app.client.post("/eval-runs", json=accuracy())

    assert response.status_code == 200, response.text
    stored = (await app.client.get(f"/eval-runs/{response.json()['id']}")).json()
    assert stored["eval_data"]["results"][0]["reason"] == "close\ufffd but \ufffd odd"


async def test_a_failed_agent_run_fails_the_eval(app: Served, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.fail(400, "the prompt is not allowed"))

    response = await app.client.post("/eval-runs", json=accuracy())

    assert response.status_code == 502 and "the evaluated run ended ERROR" in response.json()["detail"]


async def test_a_performance_eval_measures_each_run(app: Served, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.app.default = Reply.say("fast answer")
    body = {"agent_id": "assistant", "eval_type": "performance", "input": "hi", "num_iterations": 2, "warmup_runs": 1}

    response = await app.client.post("/eval-runs", json=body)

    assert response.status_code == 200, response.text
    run = response.json()
    result, runs = run["eval_data"]["result"], run["eval_data"]["runs"]
    assert len(runs) == 2 and all(r["runtime"] > 0 and r["memory"] >= 0 for r in runs)
    runtimes = [r["runtime"] for r in runs]
    assert result["min_run_time"] == min(runtimes) and result["max_run_time"] == max(runtimes)
    assert result["avg_run_time"] == pytest.approx(sum(runtimes) / 2)
    assert {"median_memory_usage", "p95_memory_usage", "std_dev_run_time"} <= set(result)
    assert run["eval_input"] == {"num_iterations": 2, "warmup_runs": 1}
    assert len(fake_openai.bodies) == 5


async def test_model_id_runs_the_agent_on_another_declared_model_judged_by_its_own(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.say("Paris"), verdict(10))

    run = (await app.client.post("/eval-runs", json=accuracy(model_id="other", model_provider="openai"))).json()

    assert [body["model"] for body in fake_openai.bodies] == ["other-model", "fake-model"]
    assert run["model_id"] == "other-model"


async def test_model_id_naming_the_agents_own_model_keeps_it_where_another_declared_model_shares_its_name(
    backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    same = {"model": "fake-model", "api_key_env": None, "max_retries": 0}
    document = {
        "os_id": "evals-os",
        "models": [
            {"id": "old", "base_url": "http://127.0.0.1:9/v1", **same},  # nothing listens there
            {"id": "new", "base_url": fake_openai.base_url, **same},
        ],
        "agents": [{"id": "assistant", "name": "Assistant", "model": "new"}],
    }
    fake_openai.script(Reply.say("Paris"), verdict(10))
    async with serve_on(backend, yaml.safe_dump(document), tmp_path) as app:
        # As /agents and /config show the agent's model.
        body = accuracy(model_id="fake-model", model_provider="OpenAI")
        response = await app.client.post("/eval-runs", json=body)

    assert response.status_code == 200, response.text
    assert [body["model"] for body in fake_openai.bodies] == ["fake-model", "fake-model"]


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (accuracy(expected_output=None), 400, "expected_output is required for accuracy evaluation"),
        (accuracy(team_id="crew"), 400, "Only one of agent_id or team_id must be provided"),
        (accuracy(agent_id=None), 400, "One of agent_id or team_id must be provided"),
        (accuracy(agent_id="nope"), 404, "Agent with id 'nope' not found"),
        (accuracy(agent_id=None, team_id="nope"), 404, "Team with id 'nope' not found"),
        (accuracy(model_id="gpt-9"), 400, "unknown model 'gpt-9': declare it in models or fix the id"),
        (
            accuracy(input="q" * 150_000, expected_output="a" * 10_001, num_iterations=100),
            400,
            "each iteration's result stores input and expected_output again: num_iterations times their length is "
            "16,000,100 characters, over 16,000,000; lower num_iterations or shorten them",
        ),
        (accuracy(eval_type="agent_as_judge"), 400, "criteria is required for agent-as-judge evaluation"),
        (accuracy(eval_type="agent_as_judge", criteria=""), 400, "criteria is required for agent-as-judge evaluation"),
        (accuracy(eval_type="reliability"), 400, "expected_tool_calls is required for reliability evaluations"),
    ],
)
async def test_an_eval_that_cannot_run_is_refused_before_any_model_call(
    app: Served, fake_openai: FakeOpenAIServer, body: dict[str, Any], status: int, detail: str
) -> None:
    response = await app.client.post("/eval-runs", json=body)

    assert (response.status_code, response.json()) == (status, {"detail": detail})
    assert fake_openai.bodies == []


async def test_bad_bodies_are_422(app: Served) -> None:
    assert (await app.client.post("/eval-runs", json=accuracy(eval_type="vibes"))).status_code == 422
    assert (await app.client.post("/eval-runs", json=accuracy(input=""))).status_code == 422
    assert (await app.client.post("/eval-runs", json=accuracy(threshold=11))).status_code == 422
    too_long = await app.client.post("/eval-runs", json=accuracy(name="n" * 256))  # as a rename is bounded
    assert too_long.status_code == 422 and too_long.json()["detail"][0]["loc"] == ["body", "name"]


async def seed(app: Served) -> None:
    store = app.database().evals
    await store.create_eval(
        EvalRow(run_id="acc", eval_type="accuracy", eval_data={}, agent_id="assistant", created_at=1)
    )
    await store.create_eval(
        EvalRow(run_id="perf", eval_type="performance", eval_data={}, agent_id="assistant", created_at=2)
    )
    await store.create_eval(EvalRow(run_id="team", eval_type="accuracy", eval_data={}, team_id="crew", created_at=3))


async def listed_ids(app: Served, **params: Any) -> list[str]:
    response = await app.client.get("/eval-runs", params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["data"]]


async def test_listing_filters_by_component_type_and_eval_types(app: Served) -> None:
    await seed(app)

    assert await listed_ids(app) == ["team", "perf", "acc"]
    assert await listed_ids(app, type="team") == ["team"]
    assert await listed_ids(app, agent_id="assistant", sort_order="asc") == ["acc", "perf"]
    assert await listed_ids(app, eval_types="performance,accuracy", limit=1, page=2) == ["perf"]
    invalid = await app.client.get("/eval-runs", params={"eval_types": "accuracy,vibes"})
    assert invalid.status_code == 422
    [problem] = invalid.json()["detail"]
    assert problem["loc"] == ["query", "eval_types"] and "vibes" in problem["msg"]


async def test_eval_types_with_an_empty_item_name_no_type_and_answer_422_instead_of_every_eval_run(
    app: Served,
) -> None:
    await seed(app)

    answers = [
        await app.client.get("/eval-runs", params={"eval_types": given})
        for given in (",", " ", "accuracy,", "accuracy,,performance")
    ]

    assert [answer.status_code for answer in answers] == [422, 422, 422, 422]
    for answer in answers:
        [problem] = answer.json()["detail"]
        assert problem["loc"] == ["query", "eval_types"]
        assert problem["msg"].startswith("Invalid eval_type ''. Valid types: accuracy")
    assert await listed_ids(app, eval_types="") == ["team", "perf", "acc"]
    assert await listed_ids(app, eval_types=" performance ") == ["perf"]


async def test_renaming_and_deleting_eval_runs(app: Served) -> None:
    await seed(app)

    renamed = await app.client.patch("/eval-runs/acc", json={"name": "Capitals"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Capitals"
    missing = await app.client.patch("/eval-runs/nope", json={"name": "x"})
    assert missing.status_code == 404 and missing.json() == {"detail": "Eval run with id 'nope' not found"}

    deleted = await app.client.request("DELETE", "/eval-runs", json={"eval_run_ids": ["acc", "team", "nope"]})
    assert deleted.status_code == 204
    assert await listed_ids(app) == ["perf"]
    assert (await app.client.get("/eval-runs/acc")).status_code == 404


async def test_a_team_is_evaluated_on_its_answer_and_judged_by_its_leaders_model(
    backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    fake_openai.script(
        Reply.call(delegate("weather", "Capital of France?")), Reply.say("Paris, of course."), verdict(9)
    )
    async with serve_on(backend, team_config(fake_openai.base_url), tmp_path) as app:
        response = await app.client.post("/eval-runs", json=accuracy(agent_id=None, team_id="desk"))

    assert response.status_code == 200, response.text
    run = response.json()
    assert (run["team_id"], run["agent_id"], run["model_id"], run["evaluated_component_name"]) == (
        "desk",
        None,
        LEADER_MODEL,
        "Desk",
    )
    assert run["eval_data"]["results"][0]["output"] == "Paris, of course."
    assert fake_openai.bodies[-1]["model"] == LEADER_MODEL
    assert "<agent_output>\nParis, of course.\n</agent_output>" in fake_openai.bodies[-1]["messages"][1]["content"]


async def test_the_document_names_the_statuses_of_an_eval_that_conflicts_or_fails(app: Served) -> None:
    operation = (await app.client.get("/openapi.json")).json()["paths"]["/eval-runs"]["post"]

    assert {"400", "404", "409", "502", "503"} <= set(operation["responses"])


async def test_a_null_threshold_is_the_default_of_7(app: Served, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.say("Paris"), verdict(7))

    response = await app.client.post("/eval-runs", json=accuracy(threshold=None))

    assert response.status_code == 200, response.text
    assert (response.json()["eval_data"]["threshold"], response.json()["eval_data"]["passed"]) == (7, True)


def judged(eval_type: str = "agent_as_judge", **fields: Any) -> dict[str, Any]:
    body = {"agent_id": "assistant", "eval_type": eval_type, "input": "Greet me.", "criteria": "Is polite."}
    return body | fields


async def test_an_agent_as_judge_eval_holds_the_answer_to_the_criteria(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.say("Hello there!"), Reply.say('{"passed": true, "reason": "Friendly."}'))

    response = await app.client.post("/eval-runs", json=judged(name="manners", additional_guidelines="Be strict."))

    assert response.status_code == 200, response.text
    run = response.json()
    assert (run["eval_type"], run["name"], run["agent_id"], run["model_id"]) == (
        "agent_as_judge",
        "manners",
        "assistant",
        "fake-model",
    )
    assert run["eval_data"] == {
        "run_id": run["id"],
        "results": [
            {
                "input": "Greet me.",
                "output": "Hello there!",
                "criteria": "Is polite.",
                "score": None,
                "reason": "Friendly.",
                "passed": True,
            }
        ],
        "avg_score": None,
        "min_score": None,
        "max_score": None,
        "std_dev_score": None,
        "pass_rate": 100.0,
    }
    assert run["eval_input"] == {
        "criteria": "Is polite.",
        "scoring_strategy": "binary",
        "threshold": None,
        "additional_guidelines": "Be strict.",
    }
    judge = fake_openai.bodies[1]["messages"]
    assert "## Criteria\nIs polite." in judge[0]["content"] and "Be strict." in judge[0]["content"]
    assert "\nHello there!\n</output-" in judge[1]["content"]
    assert (await app.client.get(f"/eval-runs/{run['id']}")).json() == run
    assert await listed_ids(app, eval_types="agent_as_judge") == [run["id"]]


async def test_a_numeric_agent_as_judge_eval_fails_below_its_threshold(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.say("Hi."), Reply.say('{"score": 6, "reason": "Curt."}'))

    run = (await app.client.post("/eval-runs", json=judged(scoring_strategy="numeric", threshold=8))).json()

    assert run["eval_data"]["results"][0] | {"output": None} == {
        "input": "Greet me.",
        "output": None,
        "criteria": "Is polite.",
        "score": 6,
        "reason": "Curt.",
        "passed": False,
    }
    assert (run["eval_data"]["avg_score"], run["eval_data"]["pass_rate"]) == (6, 0.0)
    assert run["eval_input"]["threshold"] == 8


async def test_a_judge_answering_no_verdict_fails_the_agent_as_judge_eval_and_stores_nothing(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.say("Hi."), Reply.say('{"score": 42, "reason": "Off the scale."}'))

    response = await app.client.post("/eval-runs", json=judged(scoring_strategy="numeric"))

    assert response.status_code == 502 and "not a score from 1 to 10" in response.json()["detail"]
    assert (await app.client.get("/eval-runs")).json()["data"] == []


async def test_a_reliability_eval_checks_the_tools_the_run_called(app: Served, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.call(FakeToolCall("calculator", '{"expression": "2 + 3"}')), Reply.say("It is 5."))
    body = judged(
        "reliability",
        input="What is 2 + 3?",
        expected_tool_calls=["calculator", "current_time"],
        expected_tool_call_arguments={"calculator": {"expression": "2 + 3"}},
    )

    response = await app.client.post("/eval-runs", json=body)

    assert response.status_code == 200, response.text
    run = response.json()
    assert run["eval_data"] == {
        "run_id": run["id"],
        "eval_status": "FAILED",
        "failed_tool_calls": [],
        "passed_tool_calls": ["calculator"],
        "additional_tool_calls": [],
        "missing_tool_calls": ["current_time"],
        "failed_argument_checks": [],
        "passed_argument_checks": ["calculator"],
    }
    assert run["eval_input"] == {
        "expected_tool_calls": ["calculator", "current_time"],
        "allow_additional_tool_calls": False,
        "expected_tool_call_arguments": {"calculator": {"expression": "2 + 3"}},
    }
    assert (run["model_id"], run["evaluated_component_name"]) == ("fake-model", "Assistant")
    session = await app.database().sessions.get_session(f"eval_{run['id']}_1")
    assert session is not None and session.runs is not None and session.runs[0]["content"] == "It is 5."


async def test_a_reliability_eval_of_a_run_paused_for_a_confirmation_fails_on_the_call_that_never_ran(
    backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    fake_openai.script(Reply.call(FakeToolCall("calculator", '{"expression": "2 + 3"}')))
    body = judged("reliability", input="What is 2 + 3?", expected_tool_calls=["calculator"])
    async with serve_on(backend, agent_config(fake_openai.base_url, tool_config=CONFIRMED), tmp_path) as app:
        response = await app.client.post("/eval-runs", json=body)

    assert response.status_code == 200, response.text
    data = response.json()["eval_data"]
    assert (data["eval_status"], data["passed_tool_calls"]) == ("FAILED", [])
    assert data["missing_tool_calls"] == ["calculator (requested, but no call of it ran cleanly)"]


async def test_a_run_without_an_answer_is_timed_judged_as_empty_or_left_out_of_the_accuracy_iterations(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.say(""), Reply.say(""))  # timed, then measured for memory
    performance = {"agent_id": "assistant", "eval_type": "performance", "input": "hi", "num_iterations": 1}
    timed = await app.client.post("/eval-runs", json=performance)
    assert timed.status_code == 200, timed.text

    fake_openai.script(Reply.say(""), Reply.say(json.dumps({"score": 2, "reason": "Nothing said.", "passed": False})))
    judged_empty = await app.client.post("/eval-runs", json=judged())
    assert judged_empty.status_code == 200, judged_empty.text
    assert judged_empty.json()["eval_data"]["results"][0]["output"] == ""

    fake_openai.script(Reply.say(""), Reply.say("Paris"), verdict(8))
    scored = await app.client.post("/eval-runs", json=accuracy(num_iterations=2))
    assert scored.status_code == 200, scored.text
    results = scored.json()["eval_data"]["results"]
    assert [(result["output"], result["score"]) for result in results] == [("Paris", 8)]


async def test_a_reliability_eval_of_a_run_that_failed_is_a_502(app: Served, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.fail(500, "boom"))

    response = await app.client.post("/eval-runs", json=judged("reliability", expected_tool_calls=[]))

    assert response.status_code == 502 and "the evaluated run ended ERROR" in response.json()["detail"]
    assert (await app.client.get("/eval-runs")).json()["data"] == []


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"expected_tool_call_arguments": {"calculator": "2 + 3"}}, "expected_tool_call_arguments"),
        ({"expected_tool_calls": ["t"] * 1001}, "expected_tool_calls"),
        ({"scoring_strategy": "fuzzy"}, "scoring_strategy"),
    ],
)
async def test_malformed_judge_and_tool_expectations_are_422(
    app: Served, fake_openai: FakeOpenAIServer, fields: dict[str, Any], where: str
) -> None:
    response = await app.client.post("/eval-runs", json=judged("reliability", **fields))

    assert response.status_code == 422 and response.json()["detail"][0]["loc"][:2] == ["body", where]
    assert fake_openai.bodies == []

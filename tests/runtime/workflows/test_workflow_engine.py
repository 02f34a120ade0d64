"""The workflow engine with scripted models: conditions and joins as pure rules, parallel steps
running at the same time, cancellation reaching them, clients going away (how a workflow run
ends and is saved is the lifecycle suite's, tests/runtime/lifecycle).

Each agent has its own ``FakeChatModel``, so a test can hold a step mid-answer (a gate) and act
while it waits; nothing sleeps, every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from agentos_runtime.config import AgentConfig, ConfigError, StepCondition, WorkflowConfig, parse_config
from agentos_runtime.errors import ModelProviderError
from agentos_runtime.runs import Agent, RunRegistry, RunRequest
from agentos_runtime.runs.workflow_steps import (
    ConditionPlan,
    LeafPlan,
    ParallelPlan,
    StepPlan,
    condition_holds,
    join_outputs,
)
from agentos_runtime.runs.workflows import Workflow
from agentos_runtime.storage.memory import InMemoryDatabase

from tests.runtime.engine.fakes import FakeChatModel, Script, WatchedRun, held, say

DEADLINE = 5.0


@pytest.mark.parametrize(
    ("condition", "text", "holds"),
    [
        ({"contains": "OK"}, "all OK here", True),
        ({"contains": "OK"}, "all ok here", False),
        ({"not_contains": "error"}, "fine", True),
        ({"not_contains": "error"}, "an error", False),
        ({"matches": r"^\d+$"}, "2024", True),
        ({"matches": r"^\d+$"}, "year 2024", False),
        ({"matches": r"score: [7-9]"}, "final score: 8/10", True),
    ],
)
def test_a_condition_tests_the_previous_output(condition: dict[str, str], text: str, holds: bool) -> None:
    assert condition_holds(StepCondition(**condition), text) is holds


def test_a_pattern_that_backtracks_exponentially_in_python_is_matched_at_once() -> None:
    # Python's `re` takes minutes on this; the event loop, health checks included, would wait.
    condition = StepCondition(matches=r"^((([a-z ]*)*)*)*[0-9]$")
    started = time.perf_counter()

    assert condition_holds(condition, "hello there " * 2000) is False
    assert time.perf_counter() - started < DEADLINE


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        (r"(a)\1", "invalid escape sequence: \\1"),
        (r"(?=done)", "invalid perl operator: (?="),
        (r"(?<!not )done", "invalid perl operator: (?<!"),
        (r"(unclosed", "missing ): (unclosed"),
    ],
)
def test_a_pattern_needing_backtracking_or_not_compiling_is_refused_with_the_reason(pattern: str, words: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(workflow_matching(pattern))

    [problem] = [str(p) for p in raised.value.problems]
    assert problem.startswith("workflows[0].steps[1].condition.matches: ")
    assert words in problem and "backreferences and lookaround are not supported" in problem


def test_text_the_model_answered_with_a_lone_surrogate_is_still_tested() -> None:
    assert condition_holds(StepCondition(matches=r"^ok"), "ok \udc80") is True


def workflow_matching(pattern: str) -> dict[str, object]:
    return {
        "models": [{"id": "m", "api_key_env": None}],
        "agents": [{"id": "a", "model": "m"}],
        "workflows": [
            {
                "id": "w",
                "steps": [
                    {"name": "first", "agent": "a"},
                    {"name": "check", "condition": {"matches": pattern}, "steps": [{"name": "second", "agent": "a"}]},
                ],
            }
        ],
    }


def test_parallel_outputs_are_joined_under_their_step_names_in_declaration_order() -> None:
    outputs = [{"step_name": "one", "content": "alpha"}, {"step_name": "two", "content": None}]
    assert join_outputs(outputs) == "### one\nalpha\n\n### two"


class Flow(WatchedRun):
    """A workflow ``w`` whose steps are agents on their own scripted models."""

    def __init__(self, steps: list[StepPlan], registry: RunRegistry, *, sessions: Any = None) -> None:
        self.database = InMemoryDatabase(id="db")
        self.workflow = Workflow(
            WorkflowConfig.model_validate({"id": "w", "name": "W", "steps": [{"name": "s", "agent": "a"}]}),
            steps=steps,
            sessions=sessions if sessions is not None else self.database.sessions,
            registry=registry,
        )
        super().__init__(self.workflow.run)

    async def stored(self, session_id: str = "s1") -> dict[str, Any]:
        row = await self.database.sessions.get_session(session_id)
        assert row is not None and row.runs, "the workflow run was not stored"
        assert row.session_type == "workflow" and row.workflow_id == "w"
        return row.runs[-1]


@pytest.fixture
def registry() -> RunRegistry:
    """The registry the workflow and its agents share."""
    return RunRegistry()


def agent(agent_id: str, model: FakeChatModel, registry: RunRegistry) -> Agent:
    return Agent(AgentConfig(id=agent_id, name=agent_id.title()), model=model, registry=registry)


def leaf(name: str, agent_id: str, model: FakeChatModel, registry: RunRegistry) -> LeafPlan:
    return LeafPlan(name, agent(agent_id, model, registry), "agent")


async def test_parallel_steps_answer_at_the_same_time_then_the_next_step_gets_both(registry: RunRegistry) -> None:
    one, two = held("al", "pha"), held("be", "ta")
    merger = FakeChatModel(say("merged"))
    both = [leaf("one", "a", FakeChatModel(one), registry), leaf("two", "b", FakeChatModel(two), registry)]
    flow = Flow([ParallelPlan("both", both), leaf("merge", "c", merger, registry)], registry)
    consumer = asyncio.create_task(flow.consume(RunRequest(message="go", session_id="s1")))
    await flow.wait_for_contents(2)  # both are mid-answer: neither waited for the other

    assert {event.to_dict()["step_name"] for event in flow.contents} == {"one", "two"}
    assert one.gate is not None and two.gate is not None
    two.gate.set()
    one.gate.set()
    events = await asyncio.wait_for(consumer, DEADLINE)

    assert events[-1].event == "WorkflowCompleted" and events[-1].to_dict()["content"] == "merged"
    assert merger.prompts[0][-1]["content"] == "### one\nalpha\n\n### two\nbeta"
    stored = await flow.stored()
    assert [e["agent_id"] for e in stored["step_executor_runs"]] == ["a", "b", "c"]


async def test_cancelling_a_workflow_during_a_parallel_group_stops_every_step_and_stores_it_cancelled(
    registry: RunRegistry,
) -> None:
    later = FakeChatModel()
    both = [
        leaf("one", "a", FakeChatModel(held("x", "y")), registry),
        leaf("two", "b", FakeChatModel(held("p", "q")), registry),
    ]
    flow = Flow([ParallelPlan("both", both), leaf("after", "c", later, registry)], registry)
    consumer = asyncio.create_task(flow.consume(RunRequest(message="go", session_id="s1", run_id="wf-1")))
    await flow.wait_for_contents(2)
    step_runs = {event.to_dict()["run_id"] for event in flow.contents}

    assert registry.cancel("wf-1") is True
    events = await asyncio.wait_for(consumer, DEADLINE)

    assert events[-1].event == "WorkflowCancelled"
    told = [e.to_dict() for e in events if e.event == "RunCancelled"]
    assert {(e["run_id"], e["content"], e["step_name"]) for e in told} == {
        (run_id, content, step)
        for run_id, content, step in (
            (e.to_dict()["run_id"], e.to_dict()["content"][0], e.to_dict()["step_name"]) for e in flow.contents
        )
    }, "a client following the steps sees each one end"
    assert all(e["workflow_id"] == flow.workflow.id for e in told)
    assert not any(registry.is_running(run_id) for run_id in step_runs | {"wf-1"})
    assert later.prompts == [], "no step starts after the cancel"
    stored = await flow.stored()
    assert stored["status"] == "CANCELLED"
    kept = {run["agent_id"]: (run["status"], run["content"]) for run in stored["step_executor_runs"]}
    assert kept == {"a": ("CANCELLED", "x"), "b": ("CANCELLED", "p")}, "each step keeps its partial answer"
    assert [step["content"] for step in stored["step_results"][0]["steps"]] == ["x", "p"]


async def test_cancelling_one_steps_own_run_cancels_the_workflow(registry: RunRegistry) -> None:
    flow = Flow([leaf("only", "a", FakeChatModel(held("x", "y")), registry)], registry)
    consumer = asyncio.create_task(flow.consume(RunRequest(message="go", session_id="s1")))
    await flow.wait_for_contents(1)

    registry.cancel(flow.contents[0].to_dict()["run_id"])
    events = await asyncio.wait_for(consumer, DEADLINE)

    assert [e.event for e in events][-2:] == ["RunCancelled", "WorkflowCancelled"]
    assert [e.event for e in events].count("RunCancelled") == 1, "the step's end is told once"
    stored = await flow.stored()
    assert stored["status"] == "CANCELLED" and stored["step_executor_runs"][0]["status"] == "CANCELLED"


async def test_a_client_that_goes_away_mid_step_leaves_the_workflow_run_stored_cancelled(registry: RunRegistry) -> None:
    flow = Flow([leaf("only", "a", FakeChatModel(held("x", "y")), registry)], registry)
    stream = flow.workflow.run(RunRequest(message="go", session_id="s1", run_id="wf-2"))
    async for event in stream:
        if event.event == "RunContent":
            break
    await stream.aclose()  # type: ignore[attr-defined]

    deadline = time.monotonic() + DEADLINE
    while (row := await flow.database.sessions.get_session("s1")) is None or not row.runs:
        assert time.monotonic() < deadline, "the abandoned run was never stored"
        await asyncio.sleep(0.01)
    assert (row.runs[-1]["run_id"], row.runs[-1]["status"]) == ("wf-2", "CANCELLED")


async def test_a_condition_branch_chains_its_steps_and_hands_the_last_output_on(registry: RunRegistry) -> None:
    first, second, after = FakeChatModel(say("step one")), FakeChatModel(say("step two")), FakeChatModel(say("end"))
    branch = [leaf("s1", "a", first, registry), leaf("s2", "b", second, registry)]
    flow = Flow(
        [ConditionPlan("check", StepCondition(contains="go"), branch), leaf("after", "c", after, registry)], registry
    )
    output = await flow.workflow.complete(RunRequest(message="go now", session_id="s1"))

    assert second.prompts[0][-1]["content"] == "step one"
    assert after.prompts[0][-1]["content"] == "step two"
    check = output["step_results"][0]
    assert [(s["step_name"], s["content"]) for s in check["steps"]] == [("s1", "step one"), ("s2", "step two")]
    assert output["content"] == "end"


def test_a_failed_step_says_why_its_executor_failed_never_the_partial_answer_it_kept() -> None:
    from types import SimpleNamespace

    from agentos_runtime.runs.workflow_steps import failure_reason, leaf_view

    reason = "model 'm': the model endpoint's answer passed 1,000,000 characters of text and tool arguments"
    executed = {
        "run_id": "r1",
        "status": "ERROR",
        "content": "X" * 100_000,  # what the model had said when it was stopped
        "events": [{"event": "RunStarted"}, {"event": "RunError", "content": reason}],
    }
    plan: Any = SimpleNamespace(name="s1", kind="agent", executor=SimpleNamespace(name="Writer"))

    assert failure_reason(executed) == reason
    assert leaf_view(plan, "step-1", executed)["error"] == reason
    assert failure_reason({"status": "ERROR", "content": "partial", "events": []}) is None


async def test_a_condition_whose_branch_fails_keeps_the_steps_it_ran_in_the_stored_results(
    registry: RunRegistry,
) -> None:
    failing = FakeChatModel(Script(error=ModelProviderError("the endpoint refused", status_code=400)))
    branch = [leaf("in1", "b", FakeChatModel(say("one")), registry), leaf("in2", "c", failing, registry)]
    flow = Flow(
        [
            leaf("pre", "a", FakeChatModel(say("go")), registry),
            ConditionPlan("check", StepCondition(contains="go"), branch),
        ],
        registry,
    )

    output = await flow.workflow.complete(RunRequest(message="start", session_id="s1"))

    assert output["status"] == "ERROR"
    pre, check = output["step_results"]
    assert (pre["step_name"], check["step_name"], check["step_type"], check["success"]) == (
        "pre",
        "check",
        "Condition",
        False,
    )
    assert [(s["step_name"], s["success"]) for s in check["steps"]] == [("in1", True), ("in2", False)]
    stored = await flow.stored()
    assert [s["step_name"] for s in stored["step_results"]] == ["pre", "check"]


def test_two_steps_of_one_name_are_refused_since_events_and_results_could_not_tell_them_apart() -> None:
    document = workflow_matching("x")
    document["workflows"][0]["steps"].append(  # type: ignore[index]
        {"name": "both", "parallel": [{"name": "first", "agent": "a"}, {"name": "both", "agent": "a"}]}
    )

    with pytest.raises(ConfigError) as raised:
        parse_config(document)

    assert [str(p) for p in raised.value.problems] == [
        "workflows[0].steps[2].parallel[0].name: step name 'first' is used twice: rename one",
        "workflows[0].steps[2].parallel[1].name: step name 'both' is used twice: rename one",
    ]


def test_a_parallel_group_without_steps_is_refused() -> None:
    document = workflow_matching("x")
    document["workflows"][0]["steps"].append({"name": "none", "parallel": []})  # type: ignore[index]

    with pytest.raises(ConfigError) as raised:
        parse_config(document)

    [problem] = [str(p) for p in raised.value.problems]
    assert problem.startswith("workflows[0].steps[2].parallel: ")


async def test_a_step_after_one_that_answered_nothing_gets_the_workflows_input(registry: RunRegistry) -> None:
    silent, after = FakeChatModel(say("")), FakeChatModel(say("done"))
    flow = Flow([leaf("quiet", "a", silent, registry), leaf("after", "b", after, registry)], registry)

    await flow.workflow.complete(RunRequest(message="the question", session_id="s1"))

    assert after.prompts[0][-1] == {"role": "user", "content": "the question"}

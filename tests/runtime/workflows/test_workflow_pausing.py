"""A workflow run waits for a person: a top-level step's agent holding a call for a confirmation
pauses the workflow run; going on, the step's agent makes or answers the decided call and the
steps after it run; steps that cannot pause answer such a call unmade."""

from __future__ import annotations

import json
from typing import Any

from agentos_runtime.config.components import AgentConfig, TeamConfig, WorkflowConfig
from agentos_runtime.runs import Agent, RunRegistry, RunRequest
from agentos_runtime.runs.pausing import Decision, PausedRun
from agentos_runtime.runs.teams import Team
from agentos_runtime.runs.workflow_steps import ConditionPlan, LeafPlan, ParallelPlan
from agentos_runtime.runs.workflows import Workflow
from agentos_runtime.storage.memory import InMemoryDatabase
from agentos_runtime.tools.calculator import build_calculator

from tests.runtime.engine.fakes import FakeChatModel, call, say

ADD = json.dumps({"expression": "2 + 3"})
CONFIRMED_FIRST = build_calculator().confirmed_first()


def agent(agent_id: str, model: FakeChatModel, registry: RunRegistry, *, confirming: bool = False) -> Agent:
    tools = [CONFIRMED_FIRST] if confirming else []
    return Agent(AgentConfig(id=agent_id, name=agent_id.title()), model=model, tools=tools, registry=registry)


def workflow(steps: list[Any], database: InMemoryDatabase, registry: RunRegistry) -> Workflow:
    return Workflow(
        WorkflowConfig(id="w", steps=[{"name": "x", "agent": "x"}]),
        steps=steps,
        sessions=database.sessions,
        registry=registry,
    )


async def stored(database: InMemoryDatabase) -> dict[str, Any]:
    row = await database.sessions.get_session("s1")
    assert row is not None and row.runs is not None
    [run] = row.runs
    return run


class Flow:
    """Steps ``add`` (an agent whose calculator waits for a confirmation) then ``tell``."""

    def __init__(self, adder: FakeChatModel, teller: FakeChatModel) -> None:
        self.database = InMemoryDatabase(id="db")
        registry = RunRegistry()
        self.adder, self.teller = adder, teller
        steps = [
            LeafPlan("add", agent("adder", adder, registry, confirming=True), "agent"),
            LeafPlan("tell", agent("teller", teller, registry), "agent"),
        ]
        self.workflow = workflow(steps, self.database, registry)

    async def pause(self) -> dict[str, Any]:
        output = await self.workflow.complete(RunRequest(message="add 2 and 3", session_id="s1", run_id="wf"))
        assert output["status"] == "PAUSED"
        return await stored(self.database)

    def going_on(self, run: dict[str, Any], call_id: str, confirmed: bool) -> PausedRun:
        return PausedRun(run, {call_id: Decision(call_id, confirmed)}, session_id="s1", user_id=None)


async def test_a_steps_agent_holding_a_call_pauses_the_workflow_run_before_the_next_step() -> None:
    flow = Flow(FakeChatModel(call("calculator", ADD, call_id="c1")), FakeChatModel())

    events = [e.to_dict() async for e in flow.workflow.run(RunRequest(message="add", session_id="s1", run_id="wf"))]

    assert [e["event"] for e in events][-2:] == ["StepExecutorPaused", "WorkflowPaused"]
    executor_paused, paused = events[-2], events[-1]
    assert (executor_paused["step_name"], executor_paused["step_index"], executor_paused["executor_id"]) == (
        "add",
        0,
        "adder",
    )
    [step] = paused["step_requirements"]
    assert (paused["paused_step_index"], paused["paused_step_name"], paused["pause_kind"]) == (0, "add", "executor")
    assert step["requires_executor_input"] is True and step["executor_type"] == "agent"
    assert [r["tool_execution"]["tool_call_id"] for r in step["executor_requirements"]] == ["c1"]
    assert flow.teller.prompts == []
    run = await stored(flow.database)
    assert run["status"] == "PAUSED" and run["step_requirements"] == [step]
    assert run["step_results"] == [] and run["step_executor_runs"][0]["status"] == "PAUSED"


async def test_a_paused_workflow_run_goes_on_with_the_step_then_runs_the_steps_after_it() -> None:
    flow = Flow(FakeChatModel(call("calculator", ADD, call_id="c1"), say("5")), FakeChatModel(say("Five.")))
    run = await flow.pause()

    events = [e.to_dict() async for e in flow.workflow.continue_run(flow.going_on(run, "c1", True))]

    names = [e["event"] for e in events]
    assert names[0] == "StepExecutorContinued" and names[-1] == "WorkflowCompleted"
    assert events[0]["executor_run_id"] == run["step_executor_runs"][0]["run_id"]
    assert flow.adder.prompts[1][-1] == {"role": "tool", "tool_call_id": "c1", "content": "5"}
    assert flow.teller.prompts[0][-1]["content"] == "5"
    done = await stored(flow.database)
    assert (done["run_id"], done["status"], done["content"]) == ("wf", "COMPLETED", "Five.")
    assert [r["step_name"] for r in done["step_results"]] == ["add", "tell"]
    assert [(r["agent_id"], r["status"]) for r in done["step_executor_runs"]] == [
        ("adder", "COMPLETED"),
        ("teller", "COMPLETED"),
    ]
    assert "step_requirements" not in done


async def test_a_rejected_call_is_answered_and_the_workflow_goes_on() -> None:
    flow = Flow(FakeChatModel(call("calculator", ADD, call_id="c1"), say("I will not add.")), FakeChatModel(say("ok")))
    run = await flow.pause()

    output = await flow.workflow.complete_continued(flow.going_on(run, "c1", False))

    assert (output["status"], output["content"]) == ("COMPLETED", "ok")
    assert flow.adder.prompts[1][-1]["content"] == "Function call was rejected by the user"


async def test_a_step_pausing_again_pauses_the_workflow_run_again() -> None:
    adder = FakeChatModel(call("calculator", ADD, call_id="c1"), call("calculator", ADD, call_id="c2"), say("10"))
    flow = Flow(adder, FakeChatModel(say("Ten.")))
    run = await flow.pause()

    again = await flow.workflow.complete_continued(flow.going_on(run, "c1", True))

    assert again["status"] == "PAUSED"
    [step] = again["step_requirements"]
    assert [r["tool_execution"]["tool_call_id"] for r in step["executor_requirements"]] == ["c2"]
    done = await flow.workflow.complete_continued(flow.going_on(await stored(flow.database), "c2", True))
    assert (done["status"], done["content"]) == ("COMPLETED", "Ten.")
    assert len(done["step_executor_runs"]) == 2


async def test_a_paused_workflow_run_is_taken_up_once() -> None:
    flow = Flow(FakeChatModel(call("calculator", ADD, call_id="c1"), say("5")), FakeChatModel(say("Five.")))
    run = await flow.pause()
    await flow.workflow.complete_continued(flow.going_on(run, "c1", True))

    events = [e.to_dict() async for e in flow.workflow.continue_run(flow.going_on(run, "c1", True))]

    assert [(e["event"], e.get("error_type")) for e in events] == [("WorkflowError", "run_conflict")]


async def test_a_step_in_a_conditions_branch_pauses_and_the_branch_goes_on_from_it() -> None:
    database, registry = InMemoryDatabase(id="db"), RunRegistry()
    first = FakeChatModel(say("2 and 3"))
    adder = FakeChatModel(call("calculator", ADD, call_id="c1"), say("5"))
    teller, after = FakeChatModel(say("Five.")), FakeChatModel(say("Done: Five."))
    branch = [
        LeafPlan("first", agent("first", first, registry), "agent"),
        LeafPlan("add", agent("adder", adder, registry, confirming=True), "agent"),
        LeafPlan("tell", agent("teller", teller, registry), "agent"),
    ]
    steps = [
        ConditionPlan("maybe", condition=_always(), steps=branch),
        LeafPlan("after", agent("z", after, registry), "agent"),
    ]
    flow = workflow(steps, database, registry)

    paused = await flow.complete(RunRequest(message="add", session_id="s1", run_id="wf"))

    assert (paused["status"], paused["paused_step_index"], paused["paused_step_name"]) == ("PAUSED", 0, "maybe")
    [step] = paused["step_requirements"]
    assert (step["step_name"], step["step_index"], step["condition"]["position"]) == ("add", [0, 1], 1)
    run = await stored(database)
    done = await flow.complete_continued(PausedRun(run, {"c1": Decision("c1", True)}, session_id="s1", user_id=None))

    assert (done["status"], done["content"]) == ("COMPLETED", "Done: Five.")
    assert adder.prompts[0][-1]["content"] == "2 and 3" and teller.prompts[0][-1]["content"] == "5"
    [condition, last] = done["step_results"]
    assert [s["step_name"] for s in condition["steps"]] == ["first", "add", "tell"]
    assert condition["content"] == "Five." and last["content"] == "Done: Five."
    events = [e["event"] for e in done["events"]]
    assert events.count("ConditionExecutionStarted") == 1 and events.count("ConditionExecutionCompleted") == 1


async def test_an_agent_inside_a_parallel_group_answers_a_held_call_unmade() -> None:
    database, registry = InMemoryDatabase(id="db"), RunRegistry()
    adder = FakeChatModel(call("calculator", ADD, call_id="c1"), say("could not"))
    group = ParallelPlan("both", [LeafPlan("add", agent("adder", adder, registry, confirming=True), "agent")])
    flow = workflow([group], database, registry)

    output = await flow.complete(RunRequest(message="add", session_id="s1"))

    assert output["status"] == "COMPLETED"
    assert adder.prompts[1][-1]["content"].startswith("Tool call calculator needs a person's confirmation")


def _always() -> Any:
    from agentos_runtime.config.components import StepCondition

    return StepCondition(contains="")


async def test_a_continued_workflow_runs_duration_counts_what_it_ran_before_it_paused() -> None:
    flow = Flow(FakeChatModel(call("calculator", ADD, call_id="c1"), say("5")), FakeChatModel(say("Five.")))
    run = await flow.pause()
    run = {**run, "metrics": {**run["metrics"], "duration": 100.0}}

    output = await flow.workflow.complete_continued(flow.going_on(run, "c1", True))

    assert 100.0 <= output["metrics"]["duration"] < 200.0


def team_step(leader: FakeChatModel, member: FakeChatModel, registry: RunRegistry, **team: Any) -> LeafPlan:
    """A step run by team ``crew`` (leader ``leader``) whose member ``adder``'s calculator waits."""
    crew = Team(
        TeamConfig(id="crew", name="Crew", model="lead", members=["adder"], **team),
        model=leader,
        members=[agent("adder", member, registry, confirming=True)],
        tools=[CONFIRMED_FIRST] if team.get("tools") else [],
        registry=registry,
    )
    return LeafPlan("crew", crew, "team")


DELEGATE = json.dumps({"member_id": "adder", "task": "add 2 and 3"})


async def test_a_team_steps_member_pausing_pauses_the_workflow_and_goes_on_with_the_members_decisions() -> None:
    database, registry = InMemoryDatabase(id="db"), RunRegistry()
    leader = FakeChatModel(call("delegate_task_to_member", DELEGATE, call_id="d1"), say("The sum is 5."))
    member = FakeChatModel(call("calculator", ADD, call_id="c1"), say("5"))
    teller = FakeChatModel(say("Five."))
    steps = [team_step(leader, member, registry), LeafPlan("tell", agent("teller", teller, registry), "agent")]
    flow = workflow(steps, database, registry)
    paused = await flow.complete(RunRequest(message="add", session_id="s1", run_id="wf"))
    assert paused["status"] == "PAUSED"
    [step] = paused["step_requirements"]
    assert (step["executor_type"], step["executor_id"], step["executor_name"]) == ("team", "crew", "Crew")
    [requirement] = step["executor_requirements"]
    assert requirement["member_agent_id"] == "adder"

    run = await stored(database)
    member_run_id = requirement["member_run_id"]
    decided = {member_run_id: {"c1": Decision("c1", True)}}
    done = await flow.complete_continued(PausedRun(run, {}, session_id="s1", user_id=None, member_decisions=decided))

    assert (done["status"], done["content"]) == ("COMPLETED", "Five.")
    assert member.prompts[1][-1] == {"role": "tool", "tool_call_id": "c1", "content": "5"}
    assert teller.prompts[0][-1]["content"] == "The sum is 5."
    [crew_run, _] = done["step_executor_runs"]
    assert crew_run["status"] == "COMPLETED" and crew_run["member_responses"][0]["run_id"] == member_run_id


async def test_a_team_steps_leader_call_pauses_the_workflow_and_goes_on() -> None:
    database, registry = InMemoryDatabase(id="db"), RunRegistry()
    leader = FakeChatModel(call("calculator", ADD, call_id="c1"), say("It is 5."))
    flow = workflow([team_step(leader, FakeChatModel(), registry, tools=["calculator"])], database, registry)
    await flow.complete(RunRequest(message="add", session_id="s1", run_id="wf"))
    run = await stored(database)

    done = await flow.complete_continued(PausedRun(run, {"c1": Decision("c1", True)}, session_id="s1", user_id=None))

    assert (done["status"], done["content"]) == ("COMPLETED", "It is 5.")
    assert leader.prompts[1][-1] == {"role": "tool", "tool_call_id": "c1", "content": "5"}


async def test_a_team_steps_nested_team_pausing_pauses_the_workflow_and_goes_on_with_the_deep_members_decisions() -> (
    None
):
    database, registry = InMemoryDatabase(id="db"), RunRegistry()
    crew_leader = FakeChatModel(call("delegate_task_to_member", DELEGATE, call_id="d1"), say("The sum is 5."))
    member = FakeChatModel(call("calculator", ADD, call_id="c1"), say("5"))
    crew = team_step(crew_leader, member, registry).executor
    to_crew = json.dumps({"member_id": "crew", "task": "add 2 and 3"})
    board_leader = FakeChatModel(call("delegate_task_to_member", to_crew, call_id="b1"), say("The board says 5."))
    board = Team(
        TeamConfig(id="board", name="Board", model="lead", members=["crew"]),
        model=board_leader,
        members=[crew],
        registry=registry,
    )
    flow = workflow([LeafPlan("board", board, "team")], database, registry)
    paused = await flow.complete(RunRequest(message="add", session_id="s1", run_id="wf"))
    assert paused["status"] == "PAUSED"
    [step] = paused["step_requirements"]
    [requirement] = step["executor_requirements"]
    assert (step["executor_id"], requirement["member_agent_id"]) == ("board", "adder")

    run = await stored(database)
    decided = {requirement["member_run_id"]: {"c1": Decision("c1", True)}}
    done = await flow.complete_continued(PausedRun(run, {}, session_id="s1", user_id=None, member_decisions=decided))

    assert (done["status"], done["content"]) == ("COMPLETED", "The board says 5.")
    assert member.prompts[1][-1] == {"role": "tool", "tool_call_id": "c1", "content": "5"}
    # What the board's leader reads of its delegation once the crew went on: Agno's text for a nested team.
    went_on = "Member results after human-in-the-loop resolution:\n[Crew]: The sum is 5."
    assert board_leader.prompts[1][-1] == {"role": "tool", "tool_call_id": "b1", "content": went_on}
    [board_run] = done["step_executor_runs"]
    [crew_run] = board_run["member_responses"]
    assert (board_run["status"], crew_run["status"]) == ("COMPLETED", "COMPLETED")
    assert crew_run["member_responses"][0]["run_id"] == requirement["member_run_id"]

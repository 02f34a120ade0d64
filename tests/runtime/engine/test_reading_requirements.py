"""The decisions a team's or a workflow's continue sends, read against the run that waits:
anything else than text or null naming a member's run is refused with 400 naming the entry; a
stored run that holds nothing left to decide is refused with 409."""

from __future__ import annotations

from typing import Any

import pytest
from agentos_runtime.errors import BadRequest, Conflict
from agentos_runtime.runs.pausing import check_waiting, read_requirements, read_step_requirements

HELD = {"tool_call_id": "c1", "tool_name": "calculator", "tool_args": {}, "requires_confirmation": True}
WAITING: dict[str | None, list[dict[str, Any]]] = {None: [], "m1": [HELD]}


@pytest.mark.parametrize("member_run_id", [["m1"], {"m1": 1}, 1, True])
def test_a_member_run_id_that_is_not_text_is_refused_naming_the_entry(member_run_id: Any) -> None:
    sent = [{"member_run_id": member_run_id, "tool_execution": {**HELD, "confirmed": True}}]

    with pytest.raises(BadRequest) as refused:
        read_requirements(sent, WAITING)

    assert "entry 0 names member_run_id" in str(refused.value.detail)
    assert "which is no member run this run waits on" in str(refused.value.detail)


def test_a_step_requirements_executor_requirement_naming_a_member_run_by_a_list_is_refused() -> None:
    step = {"step_id": "s1", "step_name": "add"}
    sent = [
        {**step, "executor_requirements": [{"member_run_id": ["x"], "tool_execution": {**HELD, "confirmed": True}}]}
    ]

    with pytest.raises(BadRequest) as refused:
        read_step_requirements(sent, step, {None: [HELD]})

    assert "step_requirements parameter: executor_requirements: entry 0 names member_run_id" in str(
        refused.value.detail
    )


def test_a_member_run_id_naming_the_waiting_member_run_decides_its_calls() -> None:
    sent = [{"member_run_id": "m1", "tool_execution": {**HELD, "confirmed": True}}]

    decided = read_requirements(sent, WAITING)

    assert decided["m1"]["c1"].confirmed is True and decided[None] == {}


def test_a_stored_paused_run_holding_no_call_to_decide_cannot_go_on() -> None:
    settled = {**HELD, "requires_confirmation": False, "confirmed": True}

    with pytest.raises(Conflict) as nothing_held:
        check_waiting("r1", {None: [settled]})
    with pytest.raises(Conflict) as member_holds_nothing:
        check_waiting("r1", {None: [HELD], "m1": []})

    assert nothing_held.value.detail == (
        "run 'r1' is stored PAUSED but holds no call waiting for a confirmation: it cannot go on"
    )
    assert member_holds_nothing.value.detail == (
        "run 'r1' waits on member run 'm1', which holds no call waiting for a confirmation: it cannot go on"
    )


def test_a_run_waiting_on_its_members_calls_alone_may_go_on() -> None:
    check_waiting("r1", {None: [], "m1": [HELD]})


def test_an_entry_without_a_member_run_id_naming_a_call_of_the_leaders_decides_the_leaders_even_if_a_member_holds_one_of_that_id() -> (
    None
):
    sent = [
        {"tool_execution": {**HELD, "confirmed": False}},
        {"member_run_id": "m1", "tool_execution": {**HELD, "confirmed": True}},
    ]

    decided = read_requirements(sent, {None: [HELD], "m1": [HELD]})

    assert decided[None]["c1"].confirmed is False and decided["m1"]["c1"].confirmed is True


def test_an_id_naming_the_issued_requirement_of_another_call_does_not_tell_two_member_runs_apart() -> None:
    issued = [
        {"id": "q1", "member_run_id": "m1", "tool_execution": {"tool_call_id": "other"}},
        {"id": "q2", "member_run_id": "m2", "tool_execution": HELD},
    ]
    sent = [{"id": "q1", "member_run_id": None, "tool_execution": {**HELD, "confirmed": True}}]

    with pytest.raises(BadRequest) as refused:
        read_requirements(sent, {None: [], "m1": [HELD], "m2": [HELD]}, issued=issued)
    told_apart = read_requirements(
        [{**sent[0], "id": "q2"}, {"member_run_id": "m1", "tool_execution": {**HELD, "confirmed": False}}],
        {None: [], "m1": [HELD], "m2": [HELD]},
        issued=issued,
    )

    assert "which member runs 'm1' and 'm2' each wait on" in str(refused.value.detail)
    assert told_apart["m2"]["c1"].confirmed is True and told_apart["m1"]["c1"].confirmed is False


def test_an_entry_without_a_member_run_id_decides_a_members_waiting_call_whose_id_a_call_of_the_leaders_that_ran_has() -> (
    None
):
    delegation = {"tool_call_id": "c1", "tool_name": "delegate_task_to_member", "tool_args": {}}
    sent = [{"tool_execution": {**HELD, "confirmed": True}}]

    decided = read_requirements(sent, {None: [delegation], "m1": [HELD]})

    assert decided[None] == {} and decided["m1"]["c1"].confirmed is True


def test_entries_without_a_member_run_id_for_the_leaders_and_a_members_waiting_calls_of_one_id_go_by_their_ids() -> (
    None
):
    issued = [
        {"id": "q1", "tool_execution": HELD},
        {"id": "q2", "member_run_id": "m1", "tool_execution": HELD},
    ]
    sent = [
        {"id": "q2", "member_run_id": None, "tool_execution": {**HELD, "confirmed": True}},
        {"id": "q1", "tool_execution": {**HELD, "confirmed": False}},
    ]

    decided = read_requirements(sent, {None: [HELD], "m1": [HELD]}, issued=issued)

    assert decided[None]["c1"].confirmed is False and decided["m1"]["c1"].confirmed is True

"""Reliability: the tool calls a run shows, checked against the ones expected."""

from __future__ import annotations

from typing import Any

from agentos_runtime.evals.reliability import ToolEvidence, check_tool_calls, tool_evidence


def call(name: str, *, error: bool | None = None, **arguments: Any) -> dict[str, Any]:
    return {"tool_name": name, "tool_args": arguments, "tool_call_error": error}


def evidence(*calls: dict[str, Any], requested: tuple[str, ...] = ()) -> ToolEvidence:
    return ToolEvidence(calls=calls, requested=frozenset(requested))


def test_the_expected_calls_made_cleanly_pass() -> None:
    found = check_tool_calls(evidence(call("add", a=2, b=3), call("add", a=1, b=1)), expected=["add"])

    assert found == {
        "eval_status": "PASSED",
        "failed_tool_calls": [],
        "passed_tool_calls": ["add", "add"],
        "additional_tool_calls": [],
        "missing_tool_calls": [],
        "failed_argument_checks": [],
        "passed_argument_checks": [],
    }


def test_an_unexpected_call_fails_unless_additional_calls_are_allowed() -> None:
    shown = evidence(call("add"), call("search"))

    strict = check_tool_calls(shown, expected=["add"])
    lenient = check_tool_calls(shown, expected=["add"], allow_additional=True)

    assert (strict["eval_status"], strict["failed_tool_calls"]) == ("FAILED", ["search"])
    assert (lenient["eval_status"], lenient["additional_tool_calls"]) == ("PASSED", ["search"])


def test_an_expected_tool_whose_every_call_failed_is_missing_and_says_it_was_tried() -> None:
    found = check_tool_calls(evidence(call("add", error=True), call("sub")), expected=["add", "sub", "mul"])

    assert found["eval_status"] == "FAILED"
    assert found["passed_tool_calls"] == ["sub"] and found["failed_tool_calls"] == []
    assert found["missing_tool_calls"] == ["add (requested, but no call of it ran cleanly)", "mul"]


def test_a_failed_call_followed_by_a_clean_retry_passes() -> None:
    found = check_tool_calls(evidence(call("add", error=True), call("add")), expected=["add"])

    assert (found["eval_status"], found["passed_tool_calls"]) == ("PASSED", ["add"])


def test_a_tool_asked_for_but_never_run_counts_as_a_call() -> None:
    refused = evidence(call("add"), requested=("add", "delete_everything"))

    assert check_tool_calls(refused, expected=["add"])["failed_tool_calls"] == ["delete_everything"]
    assert check_tool_calls(refused, expected=["add"], allow_additional=True)["eval_status"] == "PASSED"
    only_asked = check_tool_calls(evidence(requested=("add",)), expected=["add"])
    assert only_asked["missing_tool_calls"] == ["add (requested, but no call of it ran cleanly)"]


def test_each_expected_argument_set_needs_one_clean_call_having_those_values() -> None:
    shown = evidence(call("add", a=2, b=3, c=0), call("add", a=5, b=5), call("mul", error=True, a=1))

    found = check_tool_calls(
        shown,
        expected=["add", "mul"],
        expected_arguments={"add": [{"a": 2, "b": 3}, {"a": 5}], "mul": {"a": 1}, "div": {"a": 1}},
    )
    wrong = check_tool_calls(shown, expected=["add"], expected_arguments={"add": {"a": 2, "b": 5}})

    # mul is missing already (its one call failed): it is not checked twice.
    assert (found["passed_argument_checks"], found["failed_argument_checks"]) == (["add"], ["div"])
    assert (wrong["eval_status"], wrong["failed_argument_checks"]) == ("FAILED", ["add"])


def test_a_paused_call_never_ran() -> None:
    paused = {**call("transfer"), "requires_confirmation": True}

    assert check_tool_calls(evidence(paused), expected=["transfer"])["eval_status"] == "FAILED"


def test_a_teams_evidence_holds_its_members_calls_at_every_depth_and_not_its_history() -> None:
    history = {"role": "assistant", "from_history": True, "tool_calls": [{"function": {"name": "old_tool"}}]}
    asked = {"role": "assistant", "tool_calls": [{"function": {"name": "delegate_task_to_member"}}]}
    inner = {"tools": [call("add")], "messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "add"}}]}]}
    member_team = {"tools": [call("delegate_task_to_member")], "member_responses": [inner]}
    output = {
        "tools": [call("delegate_task_to_member")],
        "messages": [history, asked, "not a message"],
        "member_responses": [member_team, {"tools": None}],
    }

    found = tool_evidence(output)

    assert [c["tool_name"] for c in found.calls] == ["delegate_task_to_member", "delegate_task_to_member", "add"]
    assert found.requested == {"delegate_task_to_member", "add"}

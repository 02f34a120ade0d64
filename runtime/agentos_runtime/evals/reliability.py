"""Reliability evals: did one run of the target call the tools expected, with the arguments expected?

An expected tool passes only by a clean call (one that did not fail and was not left waiting
for a confirmation or an input); a team's run counts its members' calls at every depth. A
call of a tool not expected fails the eval, or is listed as ``additional`` when
``allow_additional_tool_calls``. A tool the model asked for but whose call never ran (refused)
counts as called for these two rules, and as missing when it was expected. Each entry of
``expected_tool_call_arguments`` must be matched by one clean call of that tool having at
least those argument values. The result is Agno's ``ReliabilityResult``.

``tool_evidence`` and ``check_tool_calls`` decide; ``evaluate_reliability`` runs the target.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentos_runtime.evals.specs import EvalSpec, Evaluated, ExpectedArguments, finished
from agentos_runtime.runs.requests import RunRequest

JSON = dict[str, Any]


@dataclass(frozen=True)
class ToolEvidence:
    calls: tuple[JSON, ...]
    """The tool executions of the run and of its members' runs, in order."""
    requested: frozenset[str]
    """The tool names the model asked for in this run (history excluded)."""


def tool_evidence(output: Mapping[str, Any]) -> ToolEvidence:
    """The tool calls a run's ``RunOutput`` (an agent's or a team's) shows."""
    calls: list[JSON] = []
    requested: set[str] = set()
    _collect(output, calls, requested, depth=0)
    return ToolEvidence(calls=tuple(calls), requested=frozenset(requested))


# Teams nest teams a handful deep; a stored output claiming more is not followed further.
_MAX_DEPTH = 32


def _collect(output: Mapping[str, Any], calls: list[JSON], requested: set[str], *, depth: int) -> None:
    calls.extend(call for call in _dicts(output.get("tools")) if isinstance(call.get("tool_name"), str))
    for message in _dicts(output.get("messages")):
        if message.get("from_history"):
            continue
        for call in _dicts(message.get("tool_calls")):
            function = call.get("function")
            name = function.get("name") if isinstance(function, dict) else None
            if isinstance(name, str) and name:
                requested.add(name)
    if depth < _MAX_DEPTH:
        for member in _dicts(output.get("member_responses")):
            _collect(member, calls, requested, depth=depth + 1)


def _dicts(value: Any) -> Iterable[JSON]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _clean(call: JSON) -> bool:
    """A call that ran to its end: not failed, not paused for a confirmation or an input (an
    eval's run is never continued, so a paused call never ran)."""
    paused = call.get("requires_confirmation") or call.get("requires_user_input")
    return not call.get("tool_call_error") and not (paused or call.get("external_execution_required"))


def check_tool_calls(
    evidence: ToolEvidence,
    *,
    expected: Sequence[str],
    allow_additional: bool = False,
    expected_arguments: ExpectedArguments | None = None,
) -> JSON:
    """Agno's ``ReliabilityResult`` fields (without ``run_id``) for the calls ``evidence`` shows."""
    wanted = set(expected)
    failed: list[str] = []
    passed: list[str] = []
    additional: list[str] = []
    unexpected = additional if allow_additional else failed
    for call in evidence.calls:
        name = call["tool_name"]
        if name not in wanted:
            unexpected.append(name)
        elif _clean(call):
            passed.append(name)
    called = {call["tool_name"] for call in evidence.calls}
    unexpected.extend(sorted(name for name in evidence.requested - called if name not in wanted))

    clean_calls = [call for call in evidence.calls if _clean(call)]
    cleanly_called = {call["tool_name"] for call in clean_calls}
    tried = called | evidence.requested
    missing: list[str] = []
    for name in expected:
        if name not in cleanly_called:
            missing.append(f"{name} (requested, but no call of it ran cleanly)" if name in tried else name)

    failed_arguments: list[str] = []
    passed_arguments: list[str] = []
    for name, wanted_arguments in (expected_arguments or {}).items():
        if name in wanted and name not in cleanly_called:
            continue  # already missing
        given = [_arguments(call) for call in clean_calls if call["tool_name"] == name]
        specs = [wanted_arguments] if isinstance(wanted_arguments, Mapping) else list(wanted_arguments)
        matched = bool(given) and all(any(_has(arguments, spec) for arguments in given) for spec in specs)
        (passed_arguments if matched else failed_arguments).append(name)

    ok = not failed and not missing and not failed_arguments
    return {
        "eval_status": "PASSED" if ok else "FAILED",
        "failed_tool_calls": failed,
        "passed_tool_calls": passed,
        "additional_tool_calls": additional,
        "missing_tool_calls": missing,
        "failed_argument_checks": failed_arguments,
        "passed_argument_checks": passed_arguments,
    }


def _arguments(call: JSON) -> Mapping[str, Any]:
    arguments = call.get("tool_args")
    return arguments if isinstance(arguments, dict) else {}


def _has(arguments: Mapping[str, Any], spec: Mapping[str, Any]) -> bool:
    return all(key in arguments and arguments[key] == value for key, value in spec.items())


async def evaluate_reliability(
    spec: EvalSpec, target: Evaluated, *, run_id: str, user_id: str | None = None
) -> tuple[JSON, JSON]:
    """The result (``eval_data``) and what was asked (``eval_input``).

    Raises ``EvalFailed`` when the target's run neither completes nor pauses (a run that pauses
    for a confirmation or an input is judged: its paused calls never ran, ``_clean``).
    """
    expected = spec.expected_tool_calls or ()
    request = RunRequest(message=spec.input, session_id=f"eval_{run_id}_1", user_id=user_id)
    output = finished(await target.complete(request), also=("PAUSED",))
    checked = check_tool_calls(
        tool_evidence(output),
        expected=expected,
        allow_additional=spec.allow_additional_tool_calls,
        expected_arguments=spec.expected_tool_call_arguments,
    )
    asked: JSON = {
        "expected_tool_calls": list(expected),
        "allow_additional_tool_calls": spec.allow_additional_tool_calls,
        "expected_tool_call_arguments": spec.expected_tool_call_arguments,
    }
    return {"run_id": run_id, **checked}, asked

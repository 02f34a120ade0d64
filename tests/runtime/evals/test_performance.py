"""Performance evals measured on a target that answers when the test lets it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from agentos_runtime.errors import Conflict
from agentos_runtime.evals.performance import evaluate_performance
from agentos_runtime.evals.specs import EvalSpec
from agentos_runtime.llm.ports import ChatModel
from agentos_runtime.runs.requests import RunRequest


class Target:
    """An agent that answers at once, or once ``release`` is set (``started`` tells it was asked)."""

    id = "target"
    name = "Target"
    model: ChatModel

    def __init__(self, release: asyncio.Event | None = None) -> None:
        self.release = release
        self.started = asyncio.Event()
        self.calls = 0

    async def complete(self, request: RunRequest) -> dict[str, Any]:
        self.calls += 1
        self.started.set()
        if self.release is not None:
            await self.release.wait()
        return {"status": "COMPLETED", "content": "done"}


SPEC = EvalSpec(eval_type="performance", input="hi", num_iterations=2)


async def test_a_second_performance_eval_is_refused_before_it_runs_its_target() -> None:
    release = asyncio.Event()
    first = Target(release)
    running = asyncio.create_task(evaluate_performance(SPEC, first))
    await first.started.wait()

    second = Target()
    with pytest.raises(Conflict, match="another performance eval is running"):
        await evaluate_performance(SPEC, second)

    assert second.calls == 0
    release.set()
    data, _ = await running
    assert len(data["runs"]) == 2 and first.calls == 4


async def test_a_performance_eval_can_run_once_the_previous_one_ended() -> None:
    await evaluate_performance(SPEC, Target())

    data, asked = await evaluate_performance(SPEC, Target())

    assert len(data["runs"]) == 2 and asked == {"num_iterations": 2, "warmup_runs": 0}


async def test_a_failed_performance_eval_frees_the_slot() -> None:
    class Failing(Target):
        async def complete(self, request: RunRequest) -> dict[str, Any]:
            return {"status": "ERROR", "content": "boom"}

    with pytest.raises(Exception, match="ended ERROR"):
        await evaluate_performance(SPEC, Failing())

    data, _ = await evaluate_performance(SPEC, Target())
    assert len(data["runs"]) == 2

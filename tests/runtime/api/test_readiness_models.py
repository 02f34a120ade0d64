"""``/ready`` says not ready until the model clients built after start-up are there.

Until then a run would build them itself, importing the OpenAI SDK on the event loop and
stalling every request in flight, so a Service must not send traffic yet.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from pathlib import Path

import pytest
from agentos_runtime.api.routes import health
from agentos_runtime.llm import factory
from agentos_runtime.llm.ports import ChatModel

from tests.runtime.api.harness import BASIC_CONFIG, serve

WAIT_SECONDS = 10.0


class HeldWarmUp:
    """A model warm-up that holds until the test lets it finish."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.prepared: list[str] = []

    def __call__(self, models: Mapping[str, ChatModel]) -> None:
        self.started.set()
        self.release.wait(WAIT_SECONDS)
        self.prepared.extend(models)


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> HeldWarmUp:
    warm_up = HeldWarmUp()
    monkeypatch.setattr(factory, "prepare_models", warm_up)
    # ``/ready`` waits a moment for the warm-up before saying it is not ready; shortened here.
    monkeypatch.setattr(health, "MODELS_WAIT_SECONDS", 0.05)
    return warm_up


async def test_ready_is_503_while_the_models_are_being_built_and_200_once_they_are(
    held: HeldWarmUp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serve(BASIC_CONFIG, data_dir=tmp_path) as running:
        try:
            assert await asyncio.to_thread(held.started.wait, WAIT_SECONDS)
            starting = await running.client.get("/ready")
            assert starting.status_code == 503
            assert starting.json() == {
                "status": "unavailable",
                "databases": {"agentos-db": "ok"},
                "models": "starting",
            }
            assert (await running.client.get("/health")).status_code == 200
        finally:
            held.release.set()
        # The probe waits for a warm-up about to finish instead of failing it (for longer than the
        # 0.05 s above: the warm-up's thread may need that long to be scheduled on a loaded machine).
        monkeypatch.setattr(health, "MODELS_WAIT_SECONDS", WAIT_SECONDS)
        ready = await running.client.get("/ready")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ok", "databases": {"agentos-db": "ok"}}
        assert held.prepared == ["fake"]


async def test_a_failed_warm_up_does_not_keep_the_server_unready(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def broken(models: Mapping[str, ChatModel]) -> None:
        raise RuntimeError("cannot load certificates")

    monkeypatch.setattr(factory, "prepare_models", broken)
    async with serve(BASIC_CONFIG, data_dir=tmp_path) as running:
        ready = await running.client.get("/ready")
        assert ready.status_code == 200


async def test_what_follows_the_warm_up_runs_once_the_models_are_built(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from agentos_runtime.api.assembly import warm_up_models

    steps: list[str] = []
    monkeypatch.setattr(factory, "prepare_models", lambda models: steps.append(f"built {sorted(models)}"))

    await warm_up_models(SimpleNamespace(models={"fake": None}), then=lambda: steps.append("then"))  # type: ignore[arg-type]

    assert steps == ["built ['fake']", "then"]


async def test_what_follows_the_warm_up_runs_after_a_failed_one_too(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from agentos_runtime.api.assembly import warm_up_models

    def broken(models: Mapping[str, ChatModel]) -> None:
        raise RuntimeError("cannot load certificates")

    steps: list[str] = []
    monkeypatch.setattr(factory, "prepare_models", broken)

    await warm_up_models(SimpleNamespace(models={}), then=lambda: steps.append("then"))  # type: ignore[arg-type]

    assert steps == ["then"]

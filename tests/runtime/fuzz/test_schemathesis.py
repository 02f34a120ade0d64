"""Schemathesis over the whole OpenAPI document, once per backend (SQLite, PostgreSQL, Redis).

Every operation gets generated requests, valid and invalid (``generation.mode: all``), from
its examples, its boundary values (the coverage phase) and hypothesis' fuzzing, bounded in
examples and derandomized with a fixed seed so a run repeats exactly. A 5xx, a status code
the document does not list, or a body, content type or header it does not describe fails
the test. The runtime is served by uvicorn in a thread of its own, with an agent, a team
and a workflow on a fake OpenAI-compatible model of the module's own; the ``/knowledge``
operations are fuzzed against a runtime that also has a knowledge base, once per knowledge
backend (SQLite with sqlite-vec, PostgreSQL with pgvector).
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.case import Case

from tests.runtime.api.harness import Served, agent_config, build_app, serve_on
from tests.runtime.knowledge.serving import KNOWLEDGE_BACKENDS, serve_knowledge
from tests.support.databases import SERVER_BACKENDS
from tests.support.fake_openai import FakeOpenAI, FakeOpenAIServer, Reply, serve_fake_openai

START_DEADLINE = 60.0
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)
# Path ids are the served agent, team, workflow and session most of the time, so runs reach the
# model and stored data is read; the rest of the time they are generated, for the 404 paths.
KNOWN_IDS = {
    "agent_id": "assistant",
    "team_id": "crew",
    "workflow_id": "flow",
    "session_id": "fuzz-session",
    "knowledge_id": "docs",
}
CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": 20261203,
        "generation": {"mode": "all", "max-examples": 20, "deterministic": True, "database": "none"},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        "phases": {"stateful": {"enabled": False}},
        "request-timeout": 30,
        "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large", "large_base_example"],
        "dictionaries": {name: {"values": [value]} for name, value in KNOWN_IDS.items()},
        "parameters": {f"path.{name}": {"dictionary": name, "probability": 0.7} for name in KNOWN_IDS},
    }
)


def runtime_config(model_url: str) -> str:
    """An agent, a team of it and a workflow of it, all on the fake model."""
    document = yaml.safe_load(agent_config(model_url))
    document["teams"] = [{"id": "crew", "name": "Crew", "members": ["assistant"]}]
    document["workflows"] = [{"id": "flow", "name": "Flow", "steps": [{"name": "answer", "agent": "assistant"}]}]
    return yaml.safe_dump(document)


def knowledge_runtime_config(model_url: str) -> str:
    """``runtime_config`` with a knowledge base embedding on the same fake server."""
    document = yaml.safe_load(runtime_config(model_url))
    embedder = {"base_url": model_url, "api_key_env": None, "dimensions": 64, "max_retries": 0}
    document["knowledge_bases"] = [{"id": "docs", "embedder": embedder, "max_content_bytes": 100_000}]
    return yaml.safe_dump(document)


Serving = Callable[..., AbstractAsyncContextManager[Served]]


@contextmanager
def runtime_in_a_thread(kind: str, config: str, data_dir: Path, *, serving: Serving = serve_on) -> Iterator[str]:
    """The runtime on backend ``kind`` under uvicorn (``serving`` sets up the backend), in a
    thread with its own event loop."""
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def serve_until_stopped() -> None:
        stopping = asyncio.Event()
        state["stop"] = (asyncio.get_running_loop(), stopping)
        async with serving(kind, config, data_dir, over_sockets=True) as served:
            state["url"] = str(served.client.base_url)
            ready.set()
            await stopping.wait()

    def run() -> None:
        try:
            asyncio.run(serve_until_stopped())
        except BaseException as error:  # handed to the test thread
            state["error"] = error
        finally:
            ready.set()

    thread = threading.Thread(target=run, name=f"runtime-{kind}", daemon=True)
    thread.start()
    assert ready.wait(START_DEADLINE), "the runtime did not start"
    if "error" in state:
        raise state["error"]
    try:
        yield state["url"]
    finally:
        loop, stopping = state["stop"]
        loop.call_soon_threadsafe(stopping.set)
        thread.join(START_DEADLINE)
        if "error" in state:
            raise state["error"]


def openapi_document() -> dict[str, Any]:
    """The document the runtime serves at ``/openapi.json`` (the same for every backend)."""
    with tempfile.TemporaryDirectory() as data_dir:
        app = build_app(runtime_config("http://127.0.0.1:9/v1"), data_dir=Path(data_dir))
        document: dict[str, Any] = app.openapi()
        return document


@pytest.fixture(scope="module")
def model_server() -> Iterator[FakeOpenAIServer]:
    """A fake model of this module's own, answering every request the same way."""
    with serve_fake_openai(FakeOpenAI(default=Reply.say("Fuzzed, and fine."), record=False)) as server:
        yield server


@pytest.fixture(scope="module", params=SERVER_BACKENDS)
def runtime_url(
    request: pytest.FixtureRequest, model_server: FakeOpenAIServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    kind: str = request.param
    data_dir = tmp_path_factory.mktemp(f"schemathesis-{kind}")
    with runtime_in_a_thread(kind, runtime_config(model_server.base_url), data_dir) as url:
        yield url


@pytest.fixture(scope="module", params=KNOWLEDGE_BACKENDS)
def knowledge_runtime_url(
    request: pytest.FixtureRequest, model_server: FakeOpenAIServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The runtime with a knowledge base, on SQLite (sqlite-vec) or on the pgvector server (the
    shared PostgreSQL has no pgvector, and Redis holds no knowledge)."""
    kind: str = request.param
    data_dir = tmp_path_factory.mktemp(f"schemathesis-knowledge-{kind}")
    config = knowledge_runtime_config(model_server.base_url)
    with runtime_in_a_thread(kind, config, data_dir, serving=serve_knowledge) as url:
        yield url


schema = schemathesis.openapi.from_dict(openapi_document(), config=CONFIG)
KNOWLEDGE_PATHS = "^/knowledge"


@schema.exclude(path_regex=KNOWLEDGE_PATHS).parametrize()
def test_every_operation_answers_any_input_without_5xx_and_as_documented(case: Case[Any], runtime_url: str) -> None:
    case.call_and_validate(base_url=runtime_url)


@schema.include(path_regex=KNOWLEDGE_PATHS).parametrize()
def test_every_knowledge_operation_answers_any_input_without_5xx_and_as_documented(
    case: Case[Any], knowledge_runtime_url: str
) -> None:
    case.call_and_validate(base_url=knowledge_runtime_url)

"""Every public method of Agno's ``AgentOSClient`` is either exercised against the runtime by a
conformance test or listed as not served, with its reason, here and in the README.

A method is exercised when a test file that drives Agno's client (``test_agentos_client*.py``
anywhere under ``tests/runtime``, or any file of ``tests/runtime/conformance``) uses it. The
methods not served are called through the client too: each must still get a 404, so serving
one later makes this test ask for it to be moved to the tested side.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from agno.client import AgentOSClient

from tests.runtime.api.agno_client import client_for
from tests.runtime.api.harness import Served
from tests.runtime.conformance.conftest import SECURITY_KEY

AUTH = {"Authorization": f"Bearer {SECURITY_KEY}"}
RUNTIME_TESTS = Path(__file__).resolve().parents[1]
README = RUNTIME_TESTS.parents[1] / "README.md"

TRACES = (
    "No trace store: runs are observed through Prometheus metrics and one log line per run, not OpenTelemetry traces."
)
MIGRATE = "The runtime creates and upgrades its own tables when it opens a database; there is no migration on request."
OPTIMIZE = "Not implemented: memories are extracted after runs and edited through /memories."

# Reason -> the client methods it covers; the README lists each row the same way.
NOT_SERVED: dict[str, tuple[str, ...]] = {
    TRACES: ("get_traces", "get_trace", "get_trace_session_stats", "search_traces"),
    MIGRATE: ("migrate_database",),
    OPTIMIZE: ("optimize_memories",),
}

Call = Callable[[AgentOSClient], Awaitable[Any]]


async def drain(stream: AsyncIterator[Any]) -> None:
    async for _ in stream:
        pass


# How each method not served is called (the least each one takes).
CALLS: dict[str, Call] = {
    "get_traces": lambda c: c.get_traces(headers=AUTH),
    "get_trace": lambda c: c.get_trace("t-1", headers=AUTH),
    "get_trace_session_stats": lambda c: c.get_trace_session_stats(headers=AUTH),
    "search_traces": lambda c: c.search_traces(headers=AUTH),
    "migrate_database": lambda c: c.migrate_database("main-db", headers=AUTH),
    "optimize_memories": lambda c: c.optimize_memories("ana", headers=AUTH),
}


def client_methods() -> set[str]:
    return {name for name, _ in inspect.getmembers(AgentOSClient, inspect.isfunction) if not name.startswith("_")}


def not_served() -> set[str]:
    return {method for methods in NOT_SERVED.values() for method in methods}


def client_test_files() -> list[Path]:
    files = set(RUNTIME_TESTS.rglob("test_agentos_client*.py")) | set((RUNTIME_TESTS / "conformance").glob("test_*.py"))
    return sorted(path for path in files if path.resolve() != Path(__file__).resolve())


def names_used(path: Path, wanted: set[str]) -> set[str]:
    """The ``wanted`` attribute names a test file reads (``client.get_team(...)``, ``client.get_team``)."""
    tree = ast.parse(path.read_text())
    return {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr in wanted}


def readme_section() -> str:
    text = README.read_text()
    start = text.index("## Agno client and UI compatibility")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_every_client_method_is_tested_or_listed_as_not_served() -> None:
    methods = client_methods()
    tested: set[str] = set()
    for path in client_test_files():
        tested |= names_used(path, methods)
    assert not_served() <= methods, f"not client methods: {sorted(not_served() - methods)}"
    assert sorted(methods - tested - not_served()) == [], "test these methods or list them in NOT_SERVED"
    assert sorted(tested & not_served()) == [], "tested methods are served: take them out of NOT_SERVED"
    assert set(CALLS) == not_served()


def test_the_readme_lists_every_method_not_served_with_its_reason() -> None:
    rows = [line for line in readme_section().splitlines() if line.startswith("| `")]
    for reason, methods in NOT_SERVED.items():
        matching = [row for row in rows if reason in row]
        assert len(matching) == 1, f"one README row must give the reason {reason!r}"
        assert re.findall(r"`([a-z_]+)`", matching[0].split(" | ")[0]) == list(methods)


async def test_every_method_not_served_gets_a_404(components_runtime: Served) -> None:
    client = client_for(components_runtime)
    answers: dict[str, int | None] = {}
    for method, call in CALLS.items():
        try:
            await call(client)
            answers[method] = None
        except httpx.HTTPStatusError as refused:
            answers[method] = refused.response.status_code
    assert answers == dict.fromkeys(CALLS, 404)

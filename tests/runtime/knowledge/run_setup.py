"""The set-up the agent and team knowledge-run tests share: build a runtime file over some
knowledge bases, run one of its agents or teams once, and read what that run left.

The knowledge is one base (opened under its own id, as ``HandbookBase()`` is ``handbook``), the
opened bases by id, or ``None`` (none opened). ``run_once`` answers with the events (streamed)
and the run's output as the client gets it at the end; ``stored_session`` with the session stored
after a run; ``build_problem`` with the message of the ``ConfigError`` that refuses a runtime
file. The ``knowledge_warnings`` fixture lists the warnings the knowledge search of runs logged.
The fixtures of the local OpenAI-compatible server and ``impostor_plugin`` are here too, for the
test modules to import.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from agentos_runtime.config import ConfigError
from agentos_runtime.knowledge.ports import KnowledgeSearch
from agentos_runtime.runs import Agent, RunRequest
from agentos_runtime.runs.teams import Team
from agentos_runtime.runs.workflows import Workflow
from agentos_runtime.storage.ports import SessionRow

from tests.runtime.knowledge.search_fakes import Built, built, impostor_plugin
from tests.support.fake_openai import fake_openai, fake_openai_server

__all__ = ["fake_openai", "fake_openai_server", "impostor_plugin"]

JSON = dict[str, Any]
Knowledge = KnowledgeSearch | Mapping[str, KnowledgeSearch] | None
Warnings = Callable[[], list[logging.LogRecord]]
KNOWLEDGE_LOGGER = "agentos_runtime.runs.knowledge"


def opened(knowledge: Knowledge) -> Mapping[str, KnowledgeSearch] | None:
    """The opened bases by id: one base alone is opened under its own id."""
    if knowledge is None or isinstance(knowledge, Mapping):
        return knowledge
    return {knowledge.id: knowledge}


def runner(runtime: Built, runner_id: str) -> Agent | Team | Workflow:
    """The agent, the team or the workflow of ``runtime`` with this id."""
    return runtime.agents.get(runner_id) or runtime.teams.get(runner_id) or runtime.workflows[runner_id]


async def run_once(
    document: JSON, knowledge: Knowledge, runner_id: str, request: RunRequest, *, stream: bool = False
) -> tuple[list[JSON], JSON]:
    """Build ``document`` over ``knowledge`` and run ``runner_id`` once: the events (streamed) or
    none, and the run's output as the client gets it at the end (stored, when streamed)."""
    async with built(document, opened(knowledge)) as runtime:
        ran = runner(runtime, runner_id)
        if not stream:
            return [], await ran.complete(request)
        events = [event.to_dict() async for event in ran.run(request)]
        assert ran.sessions is not None
        row = await ran.sessions.get_session(request.session_id)
        assert row is not None and row.runs
        return events, row.runs[-1]


async def stored_session(document: JSON, knowledge: Knowledge, runner_id: str, message: str) -> SessionRow | None:
    """Build ``document`` over ``knowledge``, run ``runner_id`` once on ``message`` in a new
    session, and read that session as stored."""
    request = RunRequest(message=message)
    async with built(document, opened(knowledge)) as runtime:
        await runner(runtime, runner_id).complete(request)
        return await runtime.database.sessions.get_session(request.session_id)


async def build_problem(document: JSON, knowledge: Knowledge) -> str:
    """The message of the ``ConfigError`` that building ``document`` over ``knowledge`` raises."""
    with pytest.raises(ConfigError) as raised:
        async with built(document, opened(knowledge)):
            pass
    return str(raised.value)


@pytest.fixture
def knowledge_warnings(caplog: pytest.LogCaptureFixture) -> Iterator[Warnings]:
    """The warnings the knowledge search of runs logged so far in the test."""
    with caplog.at_level(logging.WARNING, logger=KNOWLEDGE_LOGGER):
        yield lambda: [record for record in caplog.records if record.name == KNOWLEDGE_LOGGER]
